/* Server TLS contexts and development certificate generation. */
#include "http/tls.h"

#include <fcntl.h>
#include <stdbool.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static const char *ossl_err(void)
{
    static _Thread_local char buf[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return "unknown TLS error";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* h2-only clients: we speak HTTP/1.1 */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *sg_tls_server_ctx(const char *cert_file, const char *key_file, int min_version,
                           const char *client_ca, bool require_client, enum sg_tls_file *bad,
                           struct sg_error *err)
{
    enum sg_tls_file none;
    if (!bad)
        bad = &none;
    *bad = SG_TLS_FILE_NONE;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        sg_error_set(err, SG_ECRYPTO, "cannot create TLS context: %s", ossl_err());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, min_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (min_version == 12)
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    /* Idle keep-alive connections give their read/write buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        *bad = SG_TLS_FILE_CERT;
        sg_error_set(err, SG_ECRYPTO, "cannot load certificate %s: %s", cert_file, ossl_err());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        *bad = SG_TLS_FILE_KEY;
        sg_error_set(err, SG_ECRYPTO, "cannot load private key %s: %s", key_file, ossl_err());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        *bad = SG_TLS_FILE_KEY;
        sg_error_set(err, SG_ECRYPTO, "private key %s does not match certificate %s", key_file,
                     cert_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
            *bad = SG_TLS_FILE_CLIENT_CA;
            sg_error_set(err, SG_ECRYPTO, "cannot load client CA %s: %s", client_ca, ossl_err());
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(
            ctx, SSL_VERIFY_PEER | (require_client ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
        SSL_CTX_set_verify_depth(ctx, 4);
        /* TLS 1.2 session resumption across contexts: give each config its own id */
        static const unsigned char sid[] = "sovgate";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    }
    return ctx;
}

/* ---- development certificates ---- */

static int write_pem(const char *path, int mode, int (*fn)(FILE *, void *), void *obj)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok = fn(f, obj);
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int pem_key(FILE *f, void *k)
{
    return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int pem_cert(FILE *f, void *c)
{
    return PEM_write_X509(f, c);
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1;
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *sign_key, X509 *issuer, const char *cn, long days,
                       bool ca)
{
    X509 *c = X509_new();
    if (!c)
        return NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    bool ok = RAND_bytes(serial, sizeof(serial)) == 1;
    serial[0] &= 0x7f;
    ok = ok && (bn = BN_bin2bn(serial, sizeof(serial), NULL)) &&
         (ai = BN_to_ASN1_INTEGER(bn, NULL)) && X509_set_serialNumber(c, ai) == 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    ok = ok && X509_set_version(c, 2) == 1 && X509_gmtime_adj(X509_getm_notBefore(c), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(c), days * 86400L) && X509_set_pubkey(c, key) == 1;
    X509_NAME *name = X509_get_subject_name(c);
    ok = ok &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    (const unsigned char *)"Sovgate development", -1, -1, 0) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) == 1;
    X509 *iss = issuer ? issuer : c;
    ok = ok && X509_set_issuer_name(c, X509_get_subject_name(iss)) == 1;
    if (ca) {
        ok = ok && add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(c, iss, NID_subject_key_identifier, "hash");
    } else {
        ok = ok && add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(c, iss, NID_key_usage, "critical,digitalSignature") &&
             add_ext(c, iss, NID_ext_key_usage, "serverAuth") &&
             add_ext(c, iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") &&
             add_ext(c, iss, NID_authority_key_identifier, "keyid:always");
    }
    ok = ok && X509_sign(c, sign_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

/* True when the certificate file exists and stays valid for at least a day. */
static bool cert_fresh(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!c)
        return false;
    bool fresh = X509_cmp_time(X509_get0_notAfter(c), NULL) > 0;
    if (fresh) {
        time_t tomorrow = time(NULL) + 86400;
        fresh = X509_cmp_time(X509_get0_notAfter(c), &tomorrow) > 0;
    }
    X509_free(c);
    return fresh;
}

/* mkdir -p with mode 0700 for the last component. */
static int mkdirs(const char *dir)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof(tmp))
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) == 0 || access(tmp, W_OK) == 0 ? 0 : -1;
}

int sg_tls_make_dev_certs(const char *dir, struct sg_error *err)
{
    char ca_pem[4096], ca_key[4096], cert_pem[4096], key_pem[4096];
    snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", dir);
    snprintf(cert_pem, sizeof(cert_pem), "%s/cert.pem", dir);
    snprintf(key_pem, sizeof(key_pem), "%s/key.pem", dir);
    if (mkdirs(dir) != 0)
        return sg_error_set(err, SG_EIO, "cannot create %s", dir);
    if (cert_fresh(ca_pem) && cert_fresh(cert_pem) && access(key_pem, R_OK) == 0)
        return 0;
    int rc = SG_ECRYPTO;
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *k = EVP_EC_gen("P-256");
    X509 *ca = NULL, *cert = NULL;
    if (!cak || !k)
        goto out;
    ca = make_cert(cak, cak, NULL, "Sovgate development CA", 3650, true);
    cert = ca ? make_cert(k, cak, ca, "localhost", 365, false) : NULL;
    if (!cert)
        goto out;
    if (write_pem(ca_key, 0600, pem_key, cak) || write_pem(ca_pem, 0644, pem_cert, ca) ||
        write_pem(key_pem, 0600, pem_key, k) || write_pem(cert_pem, 0644, pem_cert, cert)) {
        rc = SG_EIO;
        goto out;
    }
    rc = 0;
out:
    if (rc)
        sg_error_set(err, rc, "cannot create development certificates in %s: %s", dir,
                     rc == SG_EIO ? "write failed" : ossl_err());
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(k);
    return rc;
}
