/* Small wrappers over OpenSSL used across modules: digests, randomness, encodings,
 * constant-time comparison and zeroing of secrets. */
#ifndef SG_CORE_CRYPTO_H
#define SG_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SG_SHA256_LEN 32

/* SHA-256 of `n` bytes into `out`. */
void sg_sha256(const void *p, size_t n, uint8_t out[SG_SHA256_LEN]);
/* Fills `out` with `n` cryptographically secure random bytes. Returns 0 or SG_ECRYPTO. */
int sg_random_bytes(void *out, size_t n);
/* Lower-case hex of `n` bytes into `out`, which must hold 2n+1 bytes (NUL-terminated). */
void sg_hex_encode(const uint8_t *p, size_t n, char *out);
/* Decodes exactly `n` bytes from 2n hex digits. Returns 0 or SG_EINVAL. */
int sg_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n);
/* Unpadded base64url of `n` bytes into `out` (NUL-terminated). `cap` must be at least
 * 4*ceil(n/3)+1. Returns the encoded length, or 0 when `cap` is too small. */
size_t sg_b64url_encode(const uint8_t *p, size_t n, char *out, size_t cap);
/* Compares two equal-length byte strings in time independent of their content. */
bool sg_ct_equal(const void *a, const void *b, size_t n);
/* HKDF-SHA256 (RFC 5869) of `key` with `salt` and the text `info` into `out[0..n)`.
 * Returns 0 or SG_ECRYPTO. */
int sg_hkdf_sha256(const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len,
                   const char *info, uint8_t *out, size_t n);
/* Overwrites `n` bytes in a way the compiler cannot optimize away. */
void sg_secure_zero(void *p, size_t n);

#endif
