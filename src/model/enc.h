/* Encryption of model weights at rest: AES-256-GCM in independently authenticated chunks,
 * so that a file is decrypted as a stream and a damaged chunk is named in the error.
 *
 * Format (little-endian), docs/models.md:
 *   header, 64 bytes: "SGMENC01" | u32 version (1) | u32 chunk size | u64 plaintext size |
 *                     16-byte salt | 8-byte nonce prefix | 16 zero bytes
 *   then chunk i = 0..n-1: ciphertext (chunk size bytes, the last one shorter) | 16-byte tag
 *   n = max(1, ceil(size / chunk size)); the file is exactly 64 + size + 16 n bytes.
 * The file key is HKDF-SHA256(master key, salt, "sovgate-model-encryption/1") (a fresh salt
 * per file, so nonces never repeat under one key); chunk i's nonce is the prefix followed by
 * i as a big-endian u32; its additional data is the whole header followed by one byte, 1
 * for the last chunk and 0 otherwise. So a changed header fails every chunk, a dropped,
 * reordered or duplicated chunk fails, and a file cut at a chunk border fails its new last
 * chunk.
 *
 * The master key is 32 bytes named by `file:` or `env:` holding 64 hex digits (or the 32
 * raw bytes in a file). Keys are zeroed when no longer needed. */
#ifndef SG_MODEL_ENC_H
#define SG_MODEL_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define SG_MENC_HEADER 64
#define SG_MENC_TAG 16
#define SG_MENC_KEY_LEN 32
#define SG_MENC_DEFAULT_CHUNK (4u << 20)
#define SG_MENC_MIN_CHUNK 4096u
#define SG_MENC_MAX_CHUNK (64u << 20)

/* Parsed header and the derived file key (the caller's; clear with sg_menc_clear). */
struct sg_menc {
    uint8_t header[SG_MENC_HEADER];
    uint32_t chunk;
    uint64_t size; /* plaintext bytes */
    uint64_t nchunks;
    uint8_t key[SG_MENC_KEY_LEN];
    void *evp; /* EVP_CIPHER_CTX */
};

/* Loads a master key from `ref` (file:PATH or env:NAME; relative paths against
 * `base_dir`). Returns 0 or SG_EINVAL / SG_ENOTFOUND / SG_EIO with `err`. */
int sg_menc_key_load(const char *ref, const char *base_dir, uint8_t key[SG_MENC_KEY_LEN],
                     struct sg_error *err);

/* The encrypted size of `size` plaintext bytes in chunks of `chunk`. */
uint64_t sg_menc_encrypted_size(uint64_t size, uint32_t chunk);

/* Starts encrypting `size` bytes: makes a fresh salt and nonce prefix and fills m->header
 * (to be written first). Returns 0, SG_EINVAL (chunk size out of range) or SG_ECRYPTO. */
int sg_menc_seal_init(struct sg_menc *m, const uint8_t master[SG_MENC_KEY_LEN], uint64_t size,
                      uint32_t chunk, struct sg_error *err);
/* Encrypts chunk `idx` (`n` bytes: the chunk size, or what is left for the last one) into
 * `out` (n + SG_MENC_TAG bytes). `in` and `out` may be the same buffer. */
int sg_menc_seal_chunk(struct sg_menc *m, uint64_t idx, const uint8_t *in, size_t n, uint8_t *out,
                       struct sg_error *err);

/* Starts decrypting: checks the header (magic, version, chunk size) and, when
 * `file_size` is not UINT64_MAX, that the file is exactly as long as the header says
 * (else SG_EINVAL "truncated" / "trailing bytes" naming the first missing chunk). */
int sg_menc_open_init(struct sg_menc *m, const uint8_t master[SG_MENC_KEY_LEN],
                      const uint8_t header[SG_MENC_HEADER], uint64_t file_size,
                      struct sg_error *err);
/* The plaintext length of chunk `idx`. */
size_t sg_menc_chunk_len(const struct sg_menc *m, uint64_t idx);
/* Decrypts and authenticates chunk `idx` (`n` = its plaintext length + SG_MENC_TAG bytes)
 * into `out` (n - SG_MENC_TAG bytes). On a failed tag returns SG_ECRYPTO with `err`
 * naming the chunk and its byte range in the file ("chunk 3 of 9 (bytes ...) failed
 * authentication: damaged, or a wrong key"). */
int sg_menc_open_chunk(struct sg_menc *m, uint64_t idx, const uint8_t *in, size_t n, uint8_t *out,
                       struct sg_error *err);
/* Frees the cipher context and zeroes the key. Safe on a zeroed struct. */
void sg_menc_clear(struct sg_menc *m);

/* Whether the first bytes of a file are an encrypted-model header's magic. */
bool sg_menc_is_encrypted(const uint8_t *p, size_t n);

#endif
