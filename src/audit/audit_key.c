/* Ed25519 keys of the audit trail (OpenSSL EVP_PKEY_ED25519): generation, parsing of key
 * files (PEM or hex), PEM output, key ids, checkpoint signing and verification. */
#include "audit/audit_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

int sg_audit_key_generate(uint8_t seed[SG_AUDIT_KEY_LEN])
{
    return sg_random_bytes(seed, SG_AUDIT_KEY_LEN);
}

static void trim(const char **p, size_t *n)
{
    while (*n && ((*p)[0] == ' ' || (*p)[0] == '\t' || (*p)[0] == '\r' || (*p)[0] == '\n')) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r' ||
                  (*p)[*n - 1] == '\n'))
        (*n)--;
}

/* Reads a PEM key (private or public) from memory; NULL when it is not one. */
static EVP_PKEY *pem_read(const char *p, size_t n, bool is_private)
{
    if (n > 8192)
        return NULL;
    /* PEM_read_bio wants the END line terminated; the secret loader drops the newline. */
    char buf[8200];
    memcpy(buf, p, n);
    buf[n++] = '\n';
    BIO *bio = BIO_new_mem_buf(buf, (int)n);
    if (!bio)
        return NULL;
    EVP_PKEY *k = is_private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                             : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    sg_secure_zero(buf, sizeof(buf));
    if (k && EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

static int parse_key(const char *data, size_t len, bool is_private, uint8_t out[SG_AUDIT_KEY_LEN],
                     struct sg_error *err)
{
    const char *what = is_private ? "signing key" : "public key";
    trim(&data, &len);
    if (len == 2 * SG_AUDIT_KEY_LEN) {
        if (sg_hex_decode(data, len, out, SG_AUDIT_KEY_LEN) == 0)
            return 0;
        return sg_error_set(err, SG_EINVAL, "audit %s: 64 characters but not hex digits", what);
    }
    if (len > 10 && memcmp(data, "-----BEGIN", 10) == 0) {
        EVP_PKEY *k = pem_read(data, len, is_private);
        if (!k)
            return sg_error_set(err, SG_EINVAL, "audit %s: not a PEM Ed25519 %s key", what,
                                is_private ? "private" : "public");
        size_t n = SG_AUDIT_KEY_LEN;
        int ok = is_private ? EVP_PKEY_get_raw_private_key(k, out, &n)
                            : EVP_PKEY_get_raw_public_key(k, out, &n);
        EVP_PKEY_free(k);
        if (ok != 1 || n != SG_AUDIT_KEY_LEN)
            return sg_error_set(err, SG_EINVAL, "audit %s: unreadable Ed25519 key", what);
        return 0;
    }
    return sg_error_set(err, SG_EINVAL,
                        "audit %s: expected a PEM Ed25519 key or 64 hex digits (%zu bytes given)",
                        what, len);
}

int sg_audit_key_parse(const char *data, size_t len, uint8_t seed[SG_AUDIT_KEY_LEN],
                       struct sg_error *err)
{
    return parse_key(data, len, true, seed, err);
}

int sg_audit_pubkey_parse(const char *data, size_t len, uint8_t pub[SG_AUDIT_KEY_LEN],
                          struct sg_error *err)
{
    return parse_key(data, len, false, pub, err);
}

EVP_PKEY *sg_audit_pkey_private(const uint8_t seed[SG_AUDIT_KEY_LEN])
{
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, SG_AUDIT_KEY_LEN);
}

int sg_audit_key_public(const uint8_t seed[SG_AUDIT_KEY_LEN], uint8_t pub[SG_AUDIT_KEY_LEN])
{
    EVP_PKEY *k = sg_audit_pkey_private(seed);
    size_t n = SG_AUDIT_KEY_LEN;
    int ok = k && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == SG_AUDIT_KEY_LEN;
    EVP_PKEY_free(k);
    return ok ? 0 : SG_ECRYPTO;
}

int sg_audit_key_pem(const uint8_t key[SG_AUDIT_KEY_LEN], bool is_private, char *out, size_t cap)
{
    EVP_PKEY *k = is_private
                      ? sg_audit_pkey_private(key)
                      : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, SG_AUDIT_KEY_LEN);
    BIO *bio = BIO_new(BIO_s_secmem());
    int rc = SG_ECRYPTO;
    if (k && bio &&
        (is_private ? PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)
                    : PEM_write_bio_PUBKEY(bio, k)) == 1) {
        char *p = NULL;
        long n = BIO_get_mem_data(bio, &p);
        if (n <= 0 || !p) {
            rc = SG_ECRYPTO;
        } else if ((size_t)n + 1 > cap) {
            rc = SG_ETOOBIG;
        } else {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
            rc = (int)n;
        }
    }
    BIO_free(bio); /* a secure-memory BIO is cleared when freed */
    EVP_PKEY_free(k);
    return rc;
}

void sg_audit_key_id(const uint8_t pub[SG_AUDIT_KEY_LEN], char out[SG_AUDIT_KEY_ID_STR])
{
    uint8_t h[SG_SHA256_LEN];
    sg_sha256(pub, SG_AUDIT_KEY_LEN, h);
    sg_hex_encode(h, 8, out);
}

size_t sg_audit_cp_message(uint64_t seq, const uint8_t hash[SG_SHA256_LEN], const char *ts,
                           char out[SG_AUDIT_MSG_MAX])
{
    char hex[2 * SG_SHA256_LEN + 1];
    sg_hex_encode(hash, SG_SHA256_LEN, hex);
    int n = snprintf(out, SG_AUDIT_MSG_MAX, "sovgate-audit-checkpoint:1:%llu:%s:%.40s",
                     (unsigned long long)seq, hex, ts);
    return n < 0 ? 0 : (size_t)n >= SG_AUDIT_MSG_MAX ? SG_AUDIT_MSG_MAX - 1 : (size_t)n;
}

int sg_audit_sign(EVP_PKEY *k, const char *msg, size_t len, uint8_t sig[SG_AUDIT_SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = SG_AUDIT_SIG_LEN;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestSign(ctx, sig, &n, (const unsigned char *)msg, len) == 1 &&
             n == SG_AUDIT_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : SG_ECRYPTO;
}

bool sg_audit_sig_ok(const uint8_t pub[SG_AUDIT_KEY_LEN], const char *msg, size_t len,
                     const uint8_t *sig, size_t siglen)
{
    if (siglen != SG_AUDIT_SIG_LEN)
        return false;
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, SG_AUDIT_KEY_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = k && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}
