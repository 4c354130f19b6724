/* SHA-256 (FIPS 180-4) compression, for short messages on hot paths.
 *
 * OpenSSL 3.0's one-shot SHA256() fetches the algorithm from its provider store on every
 * call (name lookup, locks shared by all threads): about 0.6 µs for a 44-byte API key, ten
 * times the hashing. These functions compress blocks directly: with the CPU's SHA
 * extensions where it has them (x86-64 SHA-NI, picked once at run time), with the plain
 * rounds otherwise; both give the standard digest. Long streams (model weights, archives)
 * keep using OpenSSL's EVP interface. The state is eight words, owned by the caller;
 * nothing here allocates. */
#ifndef SG_CORE_SHA256_H
#define SG_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* The initial state (H0..H7). */
extern const uint32_t sg_sha256_iv[8];

/* Compresses `nblocks` 64-byte blocks at `p` into `st`. */
void sg_sha256_blocks(uint32_t st[8], const uint8_t *p, size_t nblocks);

/* Hashes `msg` (`len` bytes) on from `st`, a state after `done` bytes (a multiple of 64,
 * e.g. 64 for an HMAC pad block), pads, and writes the digest. `st` is consumed. */
void sg_sha256_finish(uint32_t st[8], size_t done, const uint8_t *msg, size_t len, uint8_t out[32]);

/* Whether the SHA extensions are used (for tests and benchmarks). */
int sg_sha256_accelerated(void);

#endif
