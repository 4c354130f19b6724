/* Chunked AES-256-GCM for model weights (see enc.h). */
#include "model/enc.h"
#include "core/bytes.h"
#include "core/crypto.h"
#include "core/secret.h"

#include <string.h>

#include <openssl/evp.h>

static const char magic[8] = {'S', 'G', 'M', 'E', 'N', 'C', '0', '1'};

bool sg_menc_is_encrypted(const uint8_t *p, size_t n)
{
    return n >= sizeof(magic) && memcmp(p, magic, sizeof(magic)) == 0;
}

int sg_menc_key_load(const char *ref, const char *base_dir, uint8_t key[SG_MENC_KEY_LEN],
                     struct sg_error *err)
{
    if (!ref || !sg_secret_is_ref(ref))
        return sg_error_set(err, SG_EINVAL,
                            "the encryption key must be a reference file:PATH or env:NAME");
    struct sg_secret s = {0};
    int rc = sg_secret_load(ref, base_dir, &s, err);
    if (rc)
        return rc;
    const char *p = s.data ? s.data : "";
    size_t n = s.len;
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
        n--;
    while (n && (*p == ' ' || *p == '\n')) {
        p++;
        n--;
    }
    if (n == 2 * SG_MENC_KEY_LEN && sg_hex_decode(p, n, key, SG_MENC_KEY_LEN) == 0)
        rc = 0;
    else if (s.len == SG_MENC_KEY_LEN && strncmp(ref, "file:", 5) == 0)
        memcpy(key, s.data, SG_MENC_KEY_LEN), rc = 0;
    else
        rc = sg_error_set(err, SG_EINVAL,
                          "the encryption key %s is not 64 hex digits (a 256-bit key)",
                          strncmp(ref, "env:", 4) == 0 ? ref : "file");
    sg_secret_free(&s);
    return rc;
}

uint64_t sg_menc_encrypted_size(uint64_t size, uint32_t chunk)
{
    uint64_t n = size == 0 ? 1 : (size + chunk - 1) / chunk;
    return SG_MENC_HEADER + size + n * SG_MENC_TAG;
}

static int derive(struct sg_menc *m, const uint8_t master[SG_MENC_KEY_LEN], struct sg_error *err)
{
    int ok = sg_hkdf_sha256(master, SG_MENC_KEY_LEN, m->header + 24, 16,
                            "sovgate-model-encryption/1", m->key, SG_MENC_KEY_LEN) == 0;
    if (!ok)
        return sg_error_set(err, SG_ECRYPTO, "cannot derive the file key (HKDF)");
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    m->evp = c;
    if (!c || EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, -1) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1)
        return sg_error_set(err, SG_ECRYPTO, "cannot set up AES-256-GCM");
    return 0;
}

int sg_menc_seal_init(struct sg_menc *m, const uint8_t master[SG_MENC_KEY_LEN], uint64_t size,
                      uint32_t chunk, struct sg_error *err)
{
    memset(m, 0, sizeof(*m));
    if (chunk < SG_MENC_MIN_CHUNK || chunk > SG_MENC_MAX_CHUNK)
        return sg_error_set(err, SG_EINVAL, "chunk size %u out of range", chunk);
    m->chunk = chunk;
    m->size = size;
    m->nchunks = size == 0 ? 1 : (size + chunk - 1) / chunk;
    if (m->nchunks > UINT32_MAX)
        return sg_error_set(err, SG_ETOOBIG, "the model is too large for this chunk size");
    memcpy(m->header, magic, 8);
    sg_put_le32(m->header + 8, 1);
    sg_put_le32(m->header + 12, chunk);
    sg_put_le64(m->header + 16, size);
    if (sg_random_bytes(m->header + 24, 24) != 0)
        return sg_error_set(err, SG_ECRYPTO, "no random bytes");
    return derive(m, master, err);
}

static void nonce_of(const struct sg_menc *m, uint64_t idx, uint8_t iv[12])
{
    memcpy(iv, m->header + 40, 8);
    iv[8] = (uint8_t)(idx >> 24);
    iv[9] = (uint8_t)(idx >> 16);
    iv[10] = (uint8_t)(idx >> 8);
    iv[11] = (uint8_t)idx;
}

size_t sg_menc_chunk_len(const struct sg_menc *m, uint64_t idx)
{
    if (idx + 1 < m->nchunks)
        return m->chunk;
    return (size_t)(m->size - (m->nchunks - 1) * (uint64_t)m->chunk);
}

/* Runs one chunk through GCM; `enc` 1 encrypts (writing the tag after the output), 0
 * decrypts (checking the tag that follows the input). */
static int gcm(struct sg_menc *m, uint64_t idx, const uint8_t *in, size_t n, uint8_t *out, int enc,
               uint8_t *tag)
{
    EVP_CIPHER_CTX *c = m->evp;
    uint8_t iv[12], aad[SG_MENC_HEADER + 1];
    nonce_of(m, idx, iv);
    memcpy(aad, m->header, SG_MENC_HEADER);
    aad[SG_MENC_HEADER] = idx + 1 == m->nchunks;
    int len = 0;
    if (!c || EVP_CipherInit_ex(c, NULL, NULL, m->key, iv, enc) != 1 ||
        EVP_CipherUpdate(c, NULL, &len, aad, sizeof(aad)) != 1)
        return SG_ECRYPTO;
    size_t done = 0;
    while (done < n) { /* EVP lengths are int */
        int k = n - done > (1u << 30) ? 1 << 30 : (int)(n - done);
        if (EVP_CipherUpdate(c, out + done, &len, in + done, k) != 1)
            return SG_ECRYPTO;
        done += (size_t)k;
    }
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SG_MENC_TAG, tag) != 1)
        return SG_ECRYPTO;
    if (EVP_CipherFinal_ex(c, out + n, &len) != 1)
        return SG_ECRYPTO;
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SG_MENC_TAG, tag) != 1)
        return SG_ECRYPTO;
    return 0;
}

int sg_menc_seal_chunk(struct sg_menc *m, uint64_t idx, const uint8_t *in, size_t n, uint8_t *out,
                       struct sg_error *err)
{
    if (idx >= m->nchunks || n != sg_menc_chunk_len(m, idx))
        return sg_error_set(err, SG_EINVAL, "chunk %llu: wrong length", (unsigned long long)idx);
    uint8_t tag[SG_MENC_TAG];
    if (gcm(m, idx, in, n, out, 1, tag) != 0)
        return sg_error_set(err, SG_ECRYPTO, "AES-256-GCM failed on chunk %llu",
                            (unsigned long long)idx);
    memcpy(out + n, tag, SG_MENC_TAG);
    return 0;
}

int sg_menc_open_init(struct sg_menc *m, const uint8_t master[SG_MENC_KEY_LEN],
                      const uint8_t header[SG_MENC_HEADER], uint64_t file_size,
                      struct sg_error *err)
{
    memset(m, 0, sizeof(*m));
    if (memcmp(header, magic, 8) != 0)
        return sg_error_set(err, SG_EINVAL, "not an encrypted model (no SGMENC01 header)");
    if (sg_get_le32(header + 8) != 1)
        return sg_error_set(err, SG_EINVAL, "unsupported encrypted model version %u",
                            sg_get_le32(header + 8));
    static const uint8_t zero[16] = {0};
    if (memcmp(header + 48, zero, 16) != 0)
        return sg_error_set(err, SG_EINVAL, "damaged encryption header (reserved bytes)");
    m->chunk = sg_get_le32(header + 12);
    m->size = sg_get_le64(header + 16);
    if (m->chunk < SG_MENC_MIN_CHUNK || m->chunk > SG_MENC_MAX_CHUNK)
        return sg_error_set(err, SG_EINVAL, "damaged encryption header (chunk size %u)", m->chunk);
    if (m->size > (1ull << 50))
        return sg_error_set(err, SG_EINVAL, "damaged encryption header (size)");
    m->nchunks = m->size == 0 ? 1 : (m->size + m->chunk - 1) / m->chunk;
    if (m->nchunks > UINT32_MAX)
        return sg_error_set(err, SG_EINVAL, "damaged encryption header (too many chunks)");
    memcpy(m->header, header, SG_MENC_HEADER);
    if (file_size != UINT64_MAX) {
        uint64_t want = sg_menc_encrypted_size(m->size, m->chunk);
        if (file_size < want) {
            uint64_t have = file_size > SG_MENC_HEADER ? file_size - SG_MENC_HEADER : 0;
            uint64_t first = have / ((uint64_t)m->chunk + SG_MENC_TAG);
            return sg_error_set(err, SG_EINVAL,
                                "the encrypted model is truncated: %llu of %llu bytes; chunk "
                                "%llu of %llu is the first incomplete one",
                                (unsigned long long)file_size, (unsigned long long)want,
                                (unsigned long long)first, (unsigned long long)m->nchunks);
        }
        if (file_size > want)
            return sg_error_set(err, SG_EINVAL,
                                "the encrypted model has %llu trailing bytes after its last "
                                "chunk",
                                (unsigned long long)(file_size - want));
    }
    return derive(m, master, err);
}

int sg_menc_open_chunk(struct sg_menc *m, uint64_t idx, const uint8_t *in, size_t n, uint8_t *out,
                       struct sg_error *err)
{
    if (idx >= m->nchunks || n < SG_MENC_TAG || n - SG_MENC_TAG != sg_menc_chunk_len(m, idx))
        return sg_error_set(err, SG_EINVAL, "chunk %llu: wrong length", (unsigned long long)idx);
    size_t pn = n - SG_MENC_TAG;
    uint8_t tag[SG_MENC_TAG];
    memcpy(tag, in + pn, SG_MENC_TAG);
    if (gcm(m, idx, in, pn, out, 0, tag) != 0) {
        uint64_t start = SG_MENC_HEADER + idx * ((uint64_t)m->chunk + SG_MENC_TAG);
        return sg_error_set(err, SG_ECRYPTO,
                            "chunk %llu of %llu (bytes %llu-%llu of the file) failed "
                            "authentication: the weights are damaged or the key is wrong",
                            (unsigned long long)idx, (unsigned long long)m->nchunks,
                            (unsigned long long)start, (unsigned long long)(start + n - 1));
    }
    return 0;
}

void sg_menc_clear(struct sg_menc *m)
{
    EVP_CIPHER_CTX_free(m->evp);
    m->evp = NULL;
    sg_secure_zero(m->key, sizeof(m->key));
}
