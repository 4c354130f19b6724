/* The audit trail's SQLite file: opening (WAL, synchronous=FULL), the schema and its
 * format check, meta values and the prune anchor; the chain primitives; record times
 * (format and parse). */
#include "audit/audit_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records ("
    " seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, content TEXT NOT NULL, hash BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints ("
    " seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, ts TEXT NOT NULL, signature BLOB,"
    " key_id TEXT);";

int sg_audit_db_open(const char *path, bool readonly, sqlite3 **db, struct sg_error *err)
{
    *db = NULL;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sg_error_set(err, SG_EIO, "cannot open audit trail %s: %s", path,
                     *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
        sqlite3_close(*db);
        *db = NULL;
        return SG_EIO;
    }
    sqlite3_busy_timeout(*db, 10000);
    sqlite3_extended_result_codes(*db, 1);
    if (readonly)
        return 0;
    /* WAL: readers (verify, export, the PostgreSQL replicator) never block the writer.
     * synchronous=FULL: every commit is fsynced before it returns. */
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(*db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
    bool wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        int code = sqlite3_extended_errcode(*db);
        int e = code == SQLITE_NOTADB ? SG_EINVAL : SG_EIO;
        sg_error_set(err, e, "audit trail %s: %s", path,
                     code == SQLITE_NOTADB ? "not a SQLite database (not an audit trail)"
                                           : "cannot switch to WAL mode");
        sqlite3_close(*db);
        *db = NULL;
        return e;
    }
    if (sqlite3_exec(*db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
        sg_error_set(err, SG_EIO, "audit trail %s: %s", path, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return SG_EIO;
    }
    return 0;
}

int sg_audit_meta_get(sqlite3 *db, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
        return SG_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = SG_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (!v || n + 1 > cap || memchr(v, '\0', n)) {
            ret = SG_ETOOBIG;
        } else {
            memcpy(out, v, n + 1);
            ret = 0;
        }
    } else if (rc != SQLITE_DONE) {
        ret = SG_EIO;
    }
    sqlite3_finalize(st);
    return ret;
}

static int table_exists(sqlite3 *db, const char *name, bool *yes)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return SG_EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : SG_EIO;
    *yes = rc == 0 && sqlite3_column_int64(st, 0) > 0;
    sqlite3_finalize(st);
    return rc;
}

static int db_error(sqlite3 *db, const char *path, struct sg_error *err)
{
    int code = sqlite3_extended_errcode(db);
    if ((code & 0xff) == SQLITE_NOTADB || (code & 0xff) == SQLITE_CORRUPT)
        return sg_error_set(err, SG_EINVAL, "audit trail %s: %s", path,
                            "not an audit trail (the file is not a valid SQLite database)");
    return sg_error_set(err, SG_EIO, "audit trail %s: %s", path, sqlite3_errmsg(db));
}

int sg_audit_db_check(sqlite3 *db, const char *path, char instance[SG_AUDIT_KEY_ID_STR],
                      struct sg_error *err)
{
    bool yes = false;
    if (table_exists(db, "meta", &yes))
        return db_error(db, path, err);
    char fmt[16];
    if (!yes || sg_audit_meta_get(db, "format", fmt, sizeof(fmt)) != 0)
        return sg_error_set(err, SG_EINVAL, "%s is not an audit trail (no format in meta)", path);
    if (strcmp(fmt, SG_AUDIT_FORMAT) != 0)
        return sg_error_set(err, SG_EINVAL, "audit trail %s has format %s; this build reads %s",
                            path, fmt, SG_AUDIT_FORMAT);
    bool r = false, c = false;
    if (table_exists(db, "records", &r) || table_exists(db, "checkpoints", &c))
        return db_error(db, path, err);
    if (!r || !c)
        return sg_error_set(err, SG_EINVAL, "audit trail %s lacks its %s table", path,
                            !r ? "records" : "checkpoints");
    if (sg_audit_meta_get(db, "instance", instance, SG_AUDIT_KEY_ID_STR) != 0 ||
        strlen(instance) != SG_AUDIT_KEY_ID_STR - 1)
        return sg_error_set(err, SG_EINVAL, "audit trail %s has no valid instance id", path);
    return 0;
}

int sg_audit_db_init(sqlite3 *db, const char *path, char instance[SG_AUDIT_KEY_ID_STR],
                     struct sg_error *err)
{
    bool has_meta = false;
    sqlite3_stmt *st = NULL;
    if (table_exists(db, "meta", &has_meta))
        return db_error(db, path, err);
    if (has_meta)
        return sg_audit_db_check(db, path, instance, err);
    /* A SQLite file with other tables is someone else's database: never write into it. */
    int64_t ntables = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ntables = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (ntables < 0)
        return db_error(db, path, err);
    if (ntables > 0)
        return sg_error_set(err, SG_EINVAL, "%s is a SQLite database but not an audit trail", path);
    uint8_t id[8];
    if (sg_random_bytes(id, sizeof(id)))
        return sg_error_set(err, SG_ECRYPTO, "no randomness for the instance id");
    sg_hex_encode(id, sizeof(id), instance);
    char created[SG_AUDIT_TS_LEN + 1];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    sg_audit_format_time((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, created);
    char *msg = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, schema_sql, NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO meta (key, value) VALUES ('format', ?1), "
                           "('instance', ?2), ('created', ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, SG_AUDIT_FORMAT, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, created, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    sg_error_set(err, SG_EIO, "cannot create the audit trail %s: %s", path,
                 msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return SG_EIO;
}

int sg_audit_anchor_get(sqlite3 *db, struct sg_audit_vcp *out, struct sg_error *err)
{
    memset(out, 0, sizeof(*out));
    char v[160];
    int rc = sg_audit_meta_get(db, "anchor_seq", v, sizeof(v));
    if (rc == SG_ENOTFOUND)
        return 0;
    if (rc)
        return sg_error_set(err, rc == SG_EIO ? SG_EIO : SG_EINVAL, "cannot read the anchor");
    char *end = NULL;
    errno = 0;
    unsigned long long seq = strtoull(v, &end, 10);
    if (errno || !end || *end || end == v || seq == 0 || seq > INT64_MAX || v[0] == '-')
        return sg_error_set(err, SG_EINVAL, "the prune anchor's seq is damaged");
    out->seq = seq;
    if (sg_audit_meta_get(db, "anchor_hash", v, sizeof(v)) != 0 ||
        sg_hex_decode(v, strlen(v), out->hash, SG_SHA256_LEN) != 0)
        return sg_error_set(err, SG_EINVAL, "the prune anchor's hash is damaged");
    out->hash_len = SG_SHA256_LEN;
    if (sg_audit_meta_get(db, "anchor_ts", out->ts, sizeof(out->ts)) != 0)
        return sg_error_set(err, SG_EINVAL, "the prune anchor's time is damaged");
    if (sg_audit_meta_get(db, "anchor_signature", v, sizeof(v)) == 0 && v[0]) {
        if (sg_hex_decode(v, strlen(v), out->sig, SG_AUDIT_SIG_LEN) != 0)
            return sg_error_set(err, SG_EINVAL, "the prune anchor's signature is damaged");
        out->sig_len = SG_AUDIT_SIG_LEN;
    }
    if (sg_audit_meta_get(db, "anchor_key_id", v, sizeof(v)) == 0 &&
        strlen(v) < SG_AUDIT_KEY_ID_STR)
        memcpy(out->key_id, v, strlen(v) + 1);
    return 0;
}

size_t sg_audit_state_message(const char *instance, bool closed, uint64_t seq,
                              const uint8_t hash[SG_SHA256_LEN], uint32_t every, const char *ts,
                              char out[SG_AUDIT_STATE_MAX])
{
    char hex[2 * SG_SHA256_LEN + 1];
    sg_hex_encode(hash, SG_SHA256_LEN, hex);
    int n = snprintf(out, SG_AUDIT_STATE_MAX,
                     "sovgate-audit-state:1:%.16s:%s:%" PRIu64 ":%s:%" PRIu32 ":%.24s", instance,
                     closed ? "closed" : "open", seq, hex, every, ts);
    return n < 0 ? 0 : (size_t)n >= SG_AUDIT_STATE_MAX ? SG_AUDIT_STATE_MAX - 1 : (size_t)n;
}

/* Parses the state's text into `s` and `inst`; only the exact text the writer writes is
 * taken (it is written again from the parsed fields and compared). */
static int parse_state(const char *text, struct sg_audit_state *s, char inst[SG_AUDIT_KEY_ID_STR])
{
    static const char magic[] = "sovgate-audit-state:1:";
    if (strncmp(text, magic, sizeof(magic) - 1) != 0)
        return SG_EINVAL;
    char mode[8], hex[2 * SG_SHA256_LEN + 1];
    unsigned long long seq = 0, every = 0;
    int n = 0;
    const char *p = text + sizeof(magic) - 1;
    if (sscanf(p, "%16[0-9a-f]:%7[a-z]:%llu:%64[0-9a-f]:%llu:%n", inst, mode, &seq, hex, &every,
               &n) != 5 ||
        n == 0 || strlen(p + n) != SG_AUDIT_TS_LEN)
        return SG_EINVAL;
    s->closed = strcmp(mode, "closed") == 0;
    if ((!s->closed && strcmp(mode, "open") != 0) || seq > INT64_MAX || every == 0 ||
        every > UINT32_MAX || sg_hex_decode(hex, strlen(hex), s->hash, SG_SHA256_LEN) != 0)
        return SG_EINVAL;
    s->seq = seq;
    s->every = (uint32_t)every;
    memcpy(s->ts, p + n, SG_AUDIT_TS_LEN + 1);
    char again[SG_AUDIT_STATE_MAX];
    sg_audit_state_message(inst, s->closed, s->seq, s->hash, s->every, s->ts, again);
    return strcmp(again, text) == 0 ? 0 : SG_EINVAL;
}

int sg_audit_state_get(sqlite3 *db, const char *instance, struct sg_audit_state *out,
                       struct sg_error *err)
{
    memset(out, 0, sizeof(*out));
    int rc = sg_audit_meta_get(db, "writer_state", out->text, sizeof(out->text));
    if (rc == SG_ENOTFOUND)
        return 0;
    if (rc == SG_EIO)
        return sg_error_set(err, SG_EIO, "cannot read the writer state");
    char inst[SG_AUDIT_KEY_ID_STR] = "", v[2 * SG_AUDIT_SIG_LEN + 1] = "";
    if (rc || parse_state(out->text, out, inst) != 0)
        return sg_error_set(err, SG_EINVAL, "the writer state in meta is damaged");
    if (strcmp(inst, instance) != 0)
        return sg_error_set(err, SG_EINVAL,
                            "the writer state belongs to instance %s, not to this trail "
                            "(instance %s): copied from another trail",
                            inst, instance);
    rc = sg_audit_meta_get(db, "writer_state_signature", v, sizeof(v));
    if (rc == SG_EIO)
        return sg_error_set(err, SG_EIO, "cannot read the writer state");
    if (rc == 0 && v[0]) {
        if (sg_hex_decode(v, strlen(v), out->sig, SG_AUDIT_SIG_LEN) != 0)
            return sg_error_set(err, SG_EINVAL, "the writer state's signature is damaged");
        out->sig_len = SG_AUDIT_SIG_LEN;
    } else if (rc != 0 && rc != SG_ENOTFOUND) {
        return sg_error_set(err, SG_EINVAL, "the writer state's signature is damaged");
    }
    if (sg_audit_meta_get(db, "writer_state_key_id", v, sizeof(v)) == 0 &&
        strlen(v) < SG_AUDIT_KEY_ID_STR)
        memcpy(out->key_id, v, strlen(v) + 1);
    out->present = true;
    return 0;
}

void sg_audit_chain_hash(const uint8_t prev[SG_SHA256_LEN], const char *content, size_t len,
                         uint8_t out[SG_SHA256_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, prev, SG_SHA256_LEN) != 1 ||
        EVP_DigestUpdate(ctx, content, len) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1) {
        /* Never leave a plausible hash behind: an all-zero one fails every check. */
        memset(out, 0, SG_SHA256_LEN);
    }
    EVP_MD_CTX_free(ctx);
}

size_t sg_audit_prefix(uint64_t seq, const char *ts, char out[SG_AUDIT_PREFIX_MAX])
{
    int n = snprintf(out, SG_AUDIT_PREFIX_MAX, "{\"seq\":%" PRIu64 ",\"ts\":\"%.24s\"", seq, ts);
    return n < 0 ? 0 : (size_t)n >= SG_AUDIT_PREFIX_MAX ? SG_AUDIT_PREFIX_MAX - 1 : (size_t)n;
}

void sg_audit_format_time(int64_t ms, char out[SG_AUDIT_TS_LEN + 1])
{
    if (ms < 0)
        ms = 0;
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&sec, &tm) || tm.tm_year + 1900 > 9999) {
        memcpy(out, "9999-12-31T23:59:59.999Z", SG_AUDIT_TS_LEN + 1);
        return;
    }
    snprintf(out, SG_AUDIT_TS_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Reads exactly `n` digits at *p into *out. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int sg_audit_parse_time(const char *s, int64_t now_ms, int64_t *out_ms)
{
    if (!s || !*s || strlen(s) > 40)
        return SG_EINVAL;
    size_t n = strlen(s);
    if (s[0] == '@' || strchr("dhms", s[n - 1])) {
        /* "@<unix seconds>" or an age "<n>d|h|m|s" */
        bool age = s[0] != '@';
        const char *p = age ? s : s + 1;
        size_t nd = n - 1;
        if (nd == 0 || nd > 12)
            return SG_EINVAL;
        int64_t v = 0;
        for (size_t i = 0; i < nd; i++) {
            if (!isdigit((unsigned char)p[i]))
                return SG_EINVAL;
            v = v * 10 + (p[i] - '0');
        }
        if (!age) {
            *out_ms = v * 1000;
            return 0;
        }
        int64_t unit = s[n - 1] == 'd'   ? 86400000
                       : s[n - 1] == 'h' ? 3600000
                       : s[n - 1] == 'm' ? 60000
                                         : 1000;
        if (v > INT64_MAX / unit)
            return SG_EINVAL;
        *out_ms = now_ms - v * unit;
        return 0;
    }
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return SG_EINVAL;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return SG_EINVAL;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return SG_EINVAL;
            if (*p == '.') {
                p++;
                int nf = 0;
                while (isdigit((unsigned char)*p)) {
                    if (nf < 3)
                        ms = ms * 10 + (*p - '0');
                    nf++;
                    p++;
                }
                if (nf == 0 || nf > 9)
                    return SG_EINVAL;
                for (; nf < 3; nf++)
                    ms *= 10;
            }
        }
        if (*p == 'Z')
            p++;
    }
    if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return SG_EINVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* 2026-02-31 normalizes to March: refused */
        return SG_EINVAL;
    *out_ms = (int64_t)t * 1000 + ms;
    return 0;
}
