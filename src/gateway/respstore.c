/* The encrypted, expiring store of Responses conversation state (see respstore.h).
 *
 * Table responses(id TEXT PRIMARY KEY, client BLOB, expires INTEGER, nonce BLOB,
 * data BLOB): `client` is a keyed digest of the client name (names are not stored),
 * `data` the AES-256-GCM ciphertext followed by its 16-byte tag. The encryption key and
 * the digest key are derived from the configured key material with SHA-256 under
 * distinct labels. */
#include "gateway/respstore.h"
#include "core/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define PRUNE_EVERY_S 60
#define KEYCHECK "sovgate responses store v1"

struct sg_respstore {
    pthread_mutex_t mu;
    sqlite3 *db;
    uint8_t enc[32], mac[32];
    uint32_t ttl_s;
    size_t max_record;
    uint64_t last_prune;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, client BLOB NOT NULL,"
    " expires INTEGER NOT NULL, nonce BLOB NOT NULL, data BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS responses_expires ON responses (expires);";

static void derive(const uint8_t *key, const char *label, uint8_t out[32])
{
    uint8_t buf[SG_RESPSTORE_KEY_LEN + 64];
    size_t ll = strlen(label);
    memcpy(buf, label, ll);
    memcpy(buf + ll, key, SG_RESPSTORE_KEY_LEN);
    sg_sha256(buf, ll + SG_RESPSTORE_KEY_LEN, out);
    sg_secure_zero(buf, sizeof(buf));
}

static void client_tag(const struct sg_respstore *s, const char *client, uint8_t out[32])
{
    unsigned int n = 32;
    const char *c = client ? client : "";
    HMAC(EVP_sha256(), s->mac, 32, (const unsigned char *)c, strlen(c), out, &n);
}

/* The associated data: id, a zero byte, client. */
static int aad_of(const char *id, const char *client, unsigned char *out, size_t cap, int *len)
{
    size_t a = strlen(id), b = strlen(client ? client : "");
    if (a + b + 1 > cap)
        return SG_ETOOBIG;
    memcpy(out, id, a);
    out[a] = 0;
    memcpy(out + a + 1, client ? client : "", b);
    *len = (int)(a + b + 1);
    return 0;
}

/* AES-256-GCM: encrypts (enc) or decrypts `in` into `out` (same length); the tag is
 * written to / checked against `tag`. Returns 0 or SG_ECRYPTO. */
static int gcm(const uint8_t key[32], bool enc, const uint8_t nonce[NONCE_LEN],
               const unsigned char *aad, int aadlen, const unsigned char *in, size_t n,
               unsigned char *out, uint8_t tag[TAG_LEN])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c != NULL && n <= 0x7fffffff;
    int l = 0;
    ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0);
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL);
    ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc ? 1 : 0);
    ok = ok && EVP_CipherUpdate(c, NULL, &l, aad, aadlen);
    ok = ok && (n == 0 || EVP_CipherUpdate(c, out, &l, in, (int)n));
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag);
    ok = ok && EVP_CipherFinal_ex(c, out + (n ? (size_t)l : 0), &l);
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag);
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : SG_ECRYPTO;
}

/* The key check: a known text sealed under the key at creation. */
static int key_check(struct sg_respstore *s, const char *where, struct sg_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    static const unsigned char aad[] = "keycheck";
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'keycheck'", -1, &st, NULL) !=
        SQLITE_OK)
        return sg_error_set(err, SG_EIO, "responses store %s: %s", where, sqlite3_errmsg(s->db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        unsigned char plain[64];
        uint8_t tag[TAG_LEN];
        if (n != NONCE_LEN + (int)sizeof(KEYCHECK) - 1 + TAG_LEN) {
            rc = SG_EDENIED;
        } else {
            memcpy(tag, v + n - TAG_LEN, TAG_LEN);
            rc = gcm(s->enc, false, v, aad, sizeof(aad) - 1, v + NONCE_LEN, sizeof(KEYCHECK) - 1,
                     plain, tag);
            if (!rc && memcmp(plain, KEYCHECK, sizeof(KEYCHECK) - 1) != 0)
                rc = SG_EDENIED;
        }
        if (rc)
            rc = sg_error_set(err, SG_EDENIED,
                              "responses.key does not open the responses store %s: it was "
                              "written with another key (restore that key, or move the store "
                              "away to start empty)",
                              where);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    unsigned char v[NONCE_LEN + sizeof(KEYCHECK) - 1 + TAG_LEN];
    if (sg_random_bytes(v, NONCE_LEN) != 0 ||
        gcm(s->enc, true, v, aad, sizeof(aad) - 1, (const unsigned char *)KEYCHECK,
            sizeof(KEYCHECK) - 1, v + NONCE_LEN, v + NONCE_LEN + sizeof(KEYCHECK) - 1) != 0)
        return sg_error_set(err, SG_ECRYPTO, "responses store %s: cannot encrypt", where);
    if (sqlite3_prepare_v2(s->db, "INSERT INTO meta (key, value) VALUES ('keycheck', ?1)", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_blob(st, 1, v, (int)sizeof(v), SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = sg_error_set(err, SG_EIO, "responses store %s: %s", where, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc;
}

int sg_respstore_open(const struct sg_respstore_opts *o, struct sg_respstore **out,
                      struct sg_error *err)
{
    *out = NULL;
    struct sg_respstore *s = calloc(1, sizeof(*s));
    if (!s)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    s->ttl_s = o->ttl_s ? o->ttl_s : 3600;
    s->max_record = o->max_record ? o->max_record : (64u << 20);
    derive(o->key, "sovgate-responses-enc:", s->enc);
    derive(o->key, "sovgate-responses-mac:", s->mac);
    const char *where = o->path ? o->path : "(memory)";
    int rc =
        sqlite3_open_v2(o->path ? o->path : ":memory:", &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sg_error_set(err, SG_EIO, "cannot open the responses store %s: %s", where,
                          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto bad;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (o->path && sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sg_error_set(err, SG_EIO, "responses store %s: %s", where,
                          sqlite3_extended_errcode(s->db) == SQLITE_NOTADB ? "not a SQLite database"
                                                                           : sqlite3_errmsg(s->db));
        goto bad;
    }
    /* deleted (expired) records are overwritten, not left in free pages; WAL with
     * synchronous=NORMAL: a power loss may drop the last records, never corrupt the store */
    if (sqlite3_exec(s->db, "PRAGMA secure_delete=ON", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        rc = sg_error_set(err, SG_EIO, "responses store %s: %s", where, sqlite3_errmsg(s->db));
        goto bad;
    }
    if ((rc = key_check(s, where, err)) != 0)
        goto bad;
    *out = s;
    return 0;
bad:
    sg_respstore_close(s);
    return rc;
}

void sg_respstore_close(struct sg_respstore *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    sg_secure_zero(s->enc, sizeof(s->enc));
    sg_secure_zero(s->mac, sizeof(s->mac));
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int64_t prune_locked(struct sg_respstore *s, uint64_t now_s)
{
    sqlite3_stmt *st = NULL;
    int64_t n = SG_EIO;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM responses WHERE expires <= ?1", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_bind_int64(st, 1, (sqlite3_int64)now_s) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_DONE)
        n = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    s->last_prune = now_s;
    return n;
}

int64_t sg_respstore_prune(struct sg_respstore *s, uint64_t now_s)
{
    pthread_mutex_lock(&s->mu);
    int64_t n = prune_locked(s, now_s);
    pthread_mutex_unlock(&s->mu);
    return n;
}

int sg_respstore_put(struct sg_respstore *s, const char *id, const char *client, const char *data,
                     size_t len, uint64_t now_s)
{
    if (len > s->max_record)
        return SG_ETOOBIG;
    unsigned char aad[512];
    int aadlen;
    if (aad_of(id, client, aad, sizeof(aad), &aadlen) != 0)
        return SG_ETOOBIG;
    uint8_t nonce[NONCE_LEN], tag[32];
    unsigned char *ct = malloc(len + TAG_LEN);
    if (!ct)
        return SG_ENOMEM;
    int rc = sg_random_bytes(nonce, sizeof(nonce));
    rc = rc ? rc
            : gcm(s->enc, true, nonce, aad, aadlen, (const unsigned char *)data, len, ct, ct + len);
    client_tag(s, client, tag);
    pthread_mutex_lock(&s->mu);
    if (!rc && now_s >= s->last_prune + PRUNE_EVERY_S)
        prune_locked(s, now_s);
    sqlite3_stmt *st = NULL;
    if (!rc && (sqlite3_prepare_v2(s->db,
                                   "INSERT OR REPLACE INTO responses (id, client, expires, nonce, "
                                   "data) VALUES (?1, ?2, ?3, ?4, ?5)",
                                   -1, &st, NULL) != SQLITE_OK ||
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_bind_blob(st, 2, tag, 32, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_bind_int64(st, 3, (sqlite3_int64)(now_s + s->ttl_s)) != SQLITE_OK ||
                sqlite3_bind_blob(st, 4, nonce, NONCE_LEN, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_bind_blob(st, 5, ct, (int)(len + TAG_LEN), SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_step(st) != SQLITE_DONE))
        rc = SG_EIO;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    free(ct);
    return rc;
}

int sg_respstore_get(struct sg_respstore *s, const char *id, const char *client, uint64_t now_s,
                     char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    unsigned char aad[512];
    int aadlen;
    if (aad_of(id, client, aad, sizeof(aad), &aadlen) != 0)
        return SG_ENOTFOUND;
    uint8_t tag[32];
    client_tag(s, client, tag);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = SG_ENOTFOUND;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT nonce, data FROM responses WHERE id = ?1 AND client = ?2 AND "
                           "expires > ?3",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, tag, 32, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)now_s) != SQLITE_OK) {
        rc = SG_EIO;
    } else if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *nonce = sqlite3_column_blob(st, 0);
        int nl = sqlite3_column_bytes(st, 0);
        const unsigned char *ct = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        char *plain = nl == NONCE_LEN && n >= TAG_LEN ? malloc((size_t)n - TAG_LEN + 1) : NULL;
        uint8_t t[TAG_LEN];
        if (plain) {
            memcpy(t, ct + n - TAG_LEN, TAG_LEN);
            if (gcm(s->enc, false, nonce, aad, aadlen, ct, (size_t)n - TAG_LEN,
                    (unsigned char *)plain, t) == 0) {
                plain[n - TAG_LEN] = '\0';
                *data = plain;
                *len = (size_t)n - TAG_LEN;
                rc = 0;
            } else {
                sg_secure_zero(plain, (size_t)n - TAG_LEN);
                free(plain);
            }
        } else if (nl == NONCE_LEN && n >= TAG_LEN) {
            rc = SG_ENOMEM;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sg_respstore_delete(struct sg_respstore *s, const char *id, const char *client, uint64_t now_s)
{
    uint8_t tag[32];
    client_tag(s, client, tag);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = SG_EIO;
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM responses WHERE id = ?1 AND client = ?2 AND expires > ?3",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_blob(st, 2, tag, 32, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int64(st, 3, (sqlite3_int64)now_s) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_DONE)
        rc = sqlite3_changes(s->db) ? 0 : SG_ENOTFOUND;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
