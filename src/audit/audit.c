/* The audit trail's writer: record validation and the bounded queue (any thread), the one
 * writer thread with group commit, hash chaining and checkpoints, fail-closed handling of
 * a failed store with retry and recovery, and opening/closing. */
#include "audit/audit_int.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct item {
    struct item *next;
    sg_audit_done_fn done;
    void *arg;
    size_t len;
    bool members; /* the object has members (not "{}" or "{ }") */
    char json[];
};

struct sg_audit {
    char *path;
    char instance[SG_AUDIT_KEY_ID_STR];
    uint32_t cp_every, cp_interval_ms, queue_max, retry_ms;
    size_t queue_max_bytes;
    EVP_PKEY *key; /* NULL: unsigned checkpoints */
    uint8_t pub[SG_AUDIT_KEY_LEN];
    char key_id[SG_AUDIT_KEY_ID_STR];

    /* The store and the chain: the writer thread's alone once it runs. */
    sqlite3 *db;
    sqlite3_stmt *st_begin, *st_commit, *st_rec, *st_cp, *st_meta;
    dev_t dev;
    ino_t ino;
    uint64_t seq;                /* last durable record */
    uint8_t prev[SG_SHA256_LEN]; /* its hash */
    int64_t last_ms;             /* its time */
    uint64_t cp_seq;             /* last checkpoint (or anchor) */
    uint64_t pending_since_us;   /* when the first record after cp_seq was committed */
    struct sg_buf content;
    char ts[SG_AUDIT_TS_LEN + 1]; /* the formatted time of ts_ms */
    int64_t ts_ms;

    /* The queue and the state shared with appenders, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct item *head, *tail;
    size_t qn, qbytes;
    bool stop, failed;
    uint64_t refused_while_failed;
    char failed_at[SG_AUDIT_TS_LEN + 1];
    char fail_msg[160];
    char recover_msg[SG_ERROR_MSG_MAX]; /* why the last recovery was refused (logged once) */
    pthread_t thr;
    bool thr_started;
    struct sg_audit_pg *pg;

    atomic_bool healthy;
    atomic_uint_fast64_t n_records, n_refused, n_queued, n_commits, n_last_us, n_sum_us, n_failures,
        n_cps, n_seq;
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- validation ---- */

/* Checks a record; `*members` tells whether the object has any (white space alone between
 * its braces is none). */
static int validate(const char *json, size_t len, bool *members)
{
    if (!json || len < 2)
        return SG_EINVAL;
    if (len > SG_AUDIT_RECORD_MAX)
        return SG_ETOOBIG;
    if (json[0] != '{' || json[len - 1] != '}')
        return SG_EINVAL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)json[i] < 0x20)
            return SG_EINVAL;
    struct sg_json_error je;
    json_t *v = sg_json_parse(json, len, SG_JSON_REJECT_DUPLICATES, &je);
    if (!v)
        return je.kind == SG_JSON_ENOMEM ? SG_ENOMEM : SG_EINVAL;
    int rc = json_is_object(v) && !json_object_get(v, "seq") && !json_object_get(v, "ts")
                 ? 0
                 : SG_EINVAL;
    *members = rc == 0 && json_object_size(v) > 0;
    json_decref(v);
    return rc;
}

/* ---- the store ---- */

static void finalize_stmts(struct sg_audit *a)
{
    sqlite3_finalize(a->st_begin);
    sqlite3_finalize(a->st_commit);
    sqlite3_finalize(a->st_rec);
    sqlite3_finalize(a->st_cp);
    sqlite3_finalize(a->st_meta);
    a->st_begin = a->st_commit = a->st_rec = a->st_cp = a->st_meta = NULL;
}

static void close_db(struct sg_audit *a)
{
    finalize_stmts(a);
    if (a->db)
        sqlite3_close(a->db);
    a->db = NULL;
}

/* The chain's tip as read from the store at open (applied once everything checked out). */
struct tip {
    uint64_t seq, cp_seq;
    uint8_t prev[SG_SHA256_LEN];
    int64_t last_ms;
};

/* The writer's own public key when it signs and made `key_id`, else NULL. */
static const uint8_t *own_key(const struct sg_audit *a, const char *key_id)
{
    return a->key && strcmp(key_id, a->key_id) == 0 ? a->pub : NULL;
}

/* Reads the chain's tail and checks it before anything is signed over it: every record
 * after the newest checkpoint (and that checkpoint's own record) recomputes, the
 * checkpoint's signature when this key made it, no checkpoint points past the last record,
 * and the unsigned records are what the writer state allows (signed by this key when
 * there are any). */
static int load_state(struct sg_audit *a, struct tip *tip, struct sg_error *err)
{
    struct sg_audit_tail t;
    struct sg_audit_state st;
    struct sg_error e = {0};
    uint64_t bad = 0;
    int rc = sg_audit_tail_verify(a->db, a->key ? a->pub : NULL, a->key_id, &t, &e);
    if (!rc)
        rc = sg_audit_state_get(a->db, a->instance, &st, &e);
    if (!rc) {
        /* Unsigned records are signed next: the state that allows them must be this key's. */
        bool tail = t.end > t.last_cp;
        const uint8_t *pub = tail && a->key ? a->pub : own_key(a, st.key_id);
        rc = sg_audit_state_check(a->db, &st, pub, &t.anchor, t.end, t.last_cp, &bad, &e);
    }
    if (rc == SG_EINVAL)
        return sg_error_set(err, rc,
                            "audit trail %s: %s; refusing to open it (nothing was signed): run "
                            "`sovgate audit verify`",
                            a->path, e.msg);
    if (rc)
        return sg_error_set(err, rc, "audit trail %s: %s", a->path, e.msg);
    int64_t ms = 0;
    tip->seq = t.end;
    tip->cp_seq = t.last_cp;
    memcpy(tip->prev, t.hash, SG_SHA256_LEN);
    tip->last_ms = t.ts[0] && sg_audit_parse_time(t.ts, 0, &ms) == 0 ? ms : 0;
    return 0;
}

static void apply_tip(struct sg_audit *a, const struct tip *tip)
{
    a->seq = tip->seq;
    a->cp_seq = tip->cp_seq;
    memcpy(a->prev, tip->prev, SG_SHA256_LEN);
    a->last_ms = tip->last_ms;
    a->pending_since_us = tip->seq > tip->cp_seq ? mono_us() : 0;
    atomic_store(&a->n_seq, tip->seq);
}

static int prepare_stmts(struct sg_audit *a, struct sg_error *err)
{
    if (sqlite3_prepare_v2(a->db, "BEGIN IMMEDIATE", -1, &a->st_begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, "COMMIT", -1, &a->st_commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(a->db,
                           "INSERT INTO records (seq, ts, content, hash) VALUES (?1, ?2, ?3, ?4)",
                           -1, SQLITE_PREPARE_PERSISTENT, &a->st_rec, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db,
                           "INSERT INTO checkpoints (seq, hash, ts, signature, key_id) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &a->st_cp, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1,
                           &a->st_meta, NULL) != SQLITE_OK)
        return sg_error_set(err, SG_EIO, "audit trail %s: %s", a->path, sqlite3_errmsg(a->db));
    return 0;
}

/* Opens the file (which must exist), checks its format and tail (into `tip`), prepares
 * statements and remembers the file's identity. */
static int open_store(struct sg_audit *a, bool create, struct tip *tip, struct sg_error *err)
{
    if (!create) {
        /* The file itself must be a SQLite database: a WAL left by the file that was there
         * before would otherwise make any file in its place look like the trail. */
        char magic[16] = {0};
        int fd = open(a->path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, magic, sizeof(magic)) : -1;
        if (fd >= 0)
            close(fd);
        if (fd < 0)
            return sg_error_set(err, SG_EIO, "audit trail %s: %s", a->path, strerror(errno));
        if (n != (ssize_t)sizeof(magic) || memcmp(magic, "SQLite format 3", 16) != 0)
            return sg_error_set(err, SG_EINVAL, "%s is not an audit trail (not a SQLite file)",
                                a->path);
    }
    int rc = sg_audit_db_open(a->path, false, &a->db, err);
    if (rc)
        return rc;
    char inst[SG_AUDIT_KEY_ID_STR];
    rc = create ? sg_audit_db_init(a->db, a->path, inst, err)
                : sg_audit_db_check(a->db, a->path, inst, err);
    if (!rc && a->instance[0] && strcmp(inst, a->instance) != 0)
        rc = sg_error_set(err, SG_EINVAL, "audit trail %s was replaced by another trail", a->path);
    if (!rc)
        memcpy(a->instance, inst, sizeof(inst));
    if (!rc)
        rc = load_state(a, tip, err);
    if (!rc)
        rc = prepare_stmts(a, err);
    struct stat st;
    if (!rc && stat(a->path, &st) != 0)
        rc = sg_error_set(err, SG_EIO, "audit trail %s: %s", a->path, strerror(errno));
    if (rc) {
        close_db(a);
        return rc;
    }
    a->dev = st.st_dev;
    a->ino = st.st_ino;
    return 0;
}

static void now_ts(struct sg_audit *a)
{
    int64_t ms = wall_ms();
    if (ms < a->ts_ms)
        ms = a->ts_ms;
    if (ms < a->last_ms)
        ms = a->last_ms; /* times never go backwards in the chain */
    if (ms != a->ts_ms || !a->ts[0]) {
        sg_audit_format_time(ms, a->ts);
        a->ts_ms = ms;
    }
}

struct chain {
    uint64_t seq, cp_seq, pending_since_us, cps;
    uint8_t prev[SG_SHA256_LEN];
    int64_t last_ms;
};

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : SG_EIO;
}

static int insert_cp(struct sg_audit *a, struct chain *c)
{
    uint8_t sig[SG_AUDIT_SIG_LEN];
    if (a->key) {
        char msg[SG_AUDIT_MSG_MAX];
        size_t n = sg_audit_cp_message(c->seq, c->prev, a->ts, msg);
        if (sg_audit_sign(a->key, msg, n, sig) != 0)
            return SG_ECRYPTO;
    }
    sqlite3_bind_int64(a->st_cp, 1, (sqlite3_int64)c->seq);
    sqlite3_bind_blob(a->st_cp, 2, c->prev, SG_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_text(a->st_cp, 3, a->ts, SG_AUDIT_TS_LEN, SQLITE_STATIC);
    if (a->key) {
        sqlite3_bind_blob(a->st_cp, 4, sig, SG_AUDIT_SIG_LEN, SQLITE_STATIC);
        sqlite3_bind_text(a->st_cp, 5, a->key_id, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(a->st_cp, 4);
        sqlite3_bind_null(a->st_cp, 5);
    }
    int rc = step_done(a->st_cp);
    if (rc)
        return rc;
    c->cp_seq = c->seq;
    c->pending_since_us = 0;
    c->cps++;
    return 0;
}

static int insert_record(struct sg_audit *a, struct chain *c, const char *json, size_t len,
                         bool members)
{
    now_ts(a);
    uint64_t seq = c->seq + 1;
    char pre[SG_AUDIT_PREFIX_MAX];
    size_t pn = sg_audit_prefix(seq, a->ts, pre);
    sg_buf_reset(&a->content);
    int rc = sg_buf_append(&a->content, pre, pn);
    if (!rc && members)
        rc = sg_buf_append(&a->content, ",", 1);
    if (!rc)
        rc = sg_buf_append(&a->content, json + 1, len - 1);
    if (rc)
        return rc;
    uint8_t h[SG_SHA256_LEN];
    sg_audit_chain_hash(c->prev, a->content.data, a->content.len, h);
    sqlite3_bind_int64(a->st_rec, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(a->st_rec, 2, a->ts, SG_AUDIT_TS_LEN, SQLITE_STATIC);
    sqlite3_bind_text(a->st_rec, 3, a->content.data, (int)a->content.len, SQLITE_STATIC);
    sqlite3_bind_blob(a->st_rec, 4, h, SG_SHA256_LEN, SQLITE_STATIC);
    if ((rc = step_done(a->st_rec)))
        return rc;
    c->seq = seq;
    memcpy(c->prev, h, SG_SHA256_LEN);
    c->last_ms = a->ts_ms;
    if (c->seq - c->cp_seq == 1)
        c->pending_since_us = mono_us();
    if (c->seq - c->cp_seq >= a->cp_every)
        return insert_cp(a, c);
    return 0;
}

static int meta_set(struct sg_audit *a, const char *key, const char *value)
{
    sqlite3_bind_text(a->st_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(a->st_meta, 2, value, -1, SQLITE_STATIC);
    return step_done(a->st_meta);
}

/* Writes the writer state (audit_int.h) at the chain's tip `c`, signed with the key. */
static int put_state(struct sg_audit *a, const struct chain *c, bool closed)
{
    now_ts(a);
    char text[SG_AUDIT_STATE_MAX], sighex[2 * SG_AUDIT_SIG_LEN + 1] = "";
    size_t n =
        sg_audit_state_message(a->instance, closed, c->seq, c->prev, a->cp_every, a->ts, text);
    if (a->key) {
        uint8_t sig[SG_AUDIT_SIG_LEN];
        if (sg_audit_sign(a->key, text, n, sig) != 0)
            return SG_ECRYPTO;
        sg_hex_encode(sig, SG_AUDIT_SIG_LEN, sighex);
    }
    int rc = meta_set(a, "writer_state", text);
    if (!rc)
        rc = meta_set(a, "writer_state_signature", sighex);
    if (!rc)
        rc = meta_set(a, "writer_state_key_id", a->key ? a->key_id : "");
    return rc;
}

enum {
    TX_SIGN = 1,   /* a checkpoint over unsigned records, due or not */
    TX_OPENED = 2, /* then the "open" writer state */
    TX_CLOSED = 4, /* then the "closed" writer state */
};

/* One transaction: the optional `sys` record first, then the queued `items`, checkpoints
 * by count, one by time when due (or with TX_SIGN when records are unsigned), then the
 * writer state with TX_OPENED or TX_CLOSED. Applies the new chain state only when the
 * commit succeeded. */
static int transaction(struct sg_audit *a, const char *sys, size_t syslen, const struct item *items,
                       unsigned flags, uint64_t *nrec)
{
    struct stat st;
    if (stat(a->path, &st) != 0 || st.st_dev != a->dev || st.st_ino != a->ino) {
        snprintf(a->fail_msg, sizeof(a->fail_msg), "the audit file was removed or replaced");
        atomic_fetch_add(&a->n_failures, 1);
        return SG_EIO;
    }
    struct chain c = {.seq = a->seq,
                      .cp_seq = a->cp_seq,
                      .pending_since_us = a->pending_since_us,
                      .last_ms = a->last_ms};
    memcpy(c.prev, a->prev, SG_SHA256_LEN);
    uint64_t t0 = mono_us();
    int rc = step_done(a->st_begin);
    if (!rc && sys)
        rc = insert_record(a, &c, sys, syslen, true);
    for (const struct item *it = items; !rc && it; it = it->next)
        rc = insert_record(a, &c, it->json, it->len, it->members);
    if (!rc && c.seq > c.cp_seq &&
        ((flags & TX_SIGN) ||
         mono_us() - c.pending_since_us >= (uint64_t)a->cp_interval_ms * 1000u)) {
        now_ts(a);
        rc = insert_cp(a, &c);
    }
    if (!rc && (flags & (TX_OPENED | TX_CLOSED)))
        rc = put_state(a, &c, flags & TX_CLOSED);
    if (!rc)
        rc = step_done(a->st_commit);
    if (rc) {
        int code = sqlite3_extended_errcode(a->db);
        snprintf(a->fail_msg, sizeof(a->fail_msg), "%s",
                 rc == SG_ECRYPTO ? "signing failed" : sqlite3_errstr(code));
        if (!sqlite3_get_autocommit(a->db))
            sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        atomic_fetch_add(&a->n_failures, 1);
        return SG_EIO;
    }
    uint64_t dt = mono_us() - t0;
    *nrec = c.seq - a->seq;
    a->seq = c.seq;
    memcpy(a->prev, c.prev, SG_SHA256_LEN);
    a->last_ms = c.last_ms;
    a->cp_seq = c.cp_seq;
    a->pending_since_us = c.pending_since_us;
    atomic_fetch_add(&a->n_commits, 1);
    atomic_store(&a->n_last_us, dt);
    atomic_fetch_add(&a->n_sum_us, dt);
    atomic_fetch_add(&a->n_cps, c.cps);
    atomic_fetch_add(&a->n_records, *nrec);
    atomic_store(&a->n_seq, a->seq);
    if (a->pg)
        sg_audit_pg_notify(a->pg, a->seq);
    return 0;
}

static void finish_items(struct item *it, int result)
{
    while (it) {
        struct item *next = it->next;
        if (it->done)
            it->done(it->arg, result);
        free(it);
        it = next;
    }
}

/* Marks the trail failed and fails everything still queued. Called without mu. */
static void enter_failed(struct sg_audit *a, struct item *batch)
{
    pthread_mutex_lock(&a->mu);
    struct item *rest = a->head;
    a->head = a->tail = NULL;
    a->qn = a->qbytes = 0;
    atomic_store(&a->n_queued, 0);
    if (!a->failed) {
        a->failed = true;
        a->refused_while_failed = 0;
        sg_audit_format_time(wall_ms(), a->failed_at);
        sg_log(SG_LOG_ERROR, "audit_failed",
               "audit store failed (%s); records are refused until it recovers", a->fail_msg);
    }
    atomic_store(&a->healthy, false);
    pthread_mutex_unlock(&a->mu);
    uint64_t n = 0;
    for (const struct item *it = batch; it; it = it->next)
        n++;
    for (const struct item *it = rest; it; it = it->next)
        n++;
    atomic_fetch_add(&a->n_refused, n);
    finish_items(batch, SG_EIO);
    finish_items(rest, SG_EIO);
}

/* Whether the reopened store (its tip `tip`) still holds the last durable record as it
 * was written: an older copy of the trail, or a fork of it, would drop acknowledged records
 * and hand their seqs out again. */
static int holds_durable(struct sg_audit *a, const struct tip *tip, struct sg_error *err)
{
    if (a->seq == 0)
        return 0;
    struct sg_audit_vcp anchor;
    uint8_t h[SG_SHA256_LEN];
    int rc = SG_ENOTFOUND;
    if (tip->seq >= a->seq && (rc = sg_audit_anchor_get(a->db, &anchor, err)) == 0) {
        rc = sg_audit_hash_at(a->db, &anchor, a->seq, h);
        if (rc == SG_ENOTFOUND && a->seq < anchor.seq)
            return 0; /* pruned meanwhile, past the record */
    }
    if (!rc && sg_ct_equal(h, a->prev, SG_SHA256_LEN))
        return 0;
    return sg_error_set(err, SG_EINVAL,
                        "audit trail %s no longer holds record %" PRIu64
                        " as it was written (its last record is %" PRIu64
                        "): an older copy of the trail or a fork of it; not recovering from "
                        "it (put the right file back, or restart to start from this one)",
                        a->path, a->seq, tip->seq);
}

/* A refused recovery: logged when its reason changes (the writer retries every retry_ms). */
static void recover_refused(struct sg_audit *a, const char *why)
{
    snprintf(a->fail_msg, sizeof(a->fail_msg), "%s", why);
    if (strcmp(a->recover_msg, why) == 0)
        return;
    snprintf(a->recover_msg, sizeof(a->recover_msg), "%s", why);
    sg_log(SG_LOG_ERROR, "audit_not_recovered", "audit store still failed: %s", why);
}

/* After a failure: reopen the file (it may have been replaced, or a failed commit may have
 * reached the disk after all), check that it still holds every durable record, and write
 * the recovery record. */
static bool try_recover(struct sg_audit *a)
{
    struct sg_error err = {0};
    struct tip tip;
    close_db(a);
    int rc = open_store(a, false, &tip, &err);
    if (!rc && (rc = holds_durable(a, &tip, &err)))
        close_db(a);
    if (rc) {
        recover_refused(a, err.msg);
        return false;
    }
    apply_tip(a, &tip);
    pthread_mutex_lock(&a->mu);
    uint64_t refused = a->refused_while_failed;
    char failed_at[SG_AUDIT_TS_LEN + 1];
    memcpy(failed_at, a->failed_at, sizeof(failed_at));
    pthread_mutex_unlock(&a->mu);
    struct sg_buf b;
    sg_buf_init(&b, 1024);
    sg_buf_puts(&b, "{\"event\":\"audit.recovered\",\"failed_at\":\"");
    sg_buf_puts(&b, failed_at);
    sg_buf_puts(&b, "\",\"refused\":");
    sg_buf_put_u64(&b, refused);
    sg_buf_puts(&b, ",\"error\":\"");
    sg_buf_json_escape(&b, a->fail_msg, strlen(a->fail_msg));
    int brc = sg_buf_puts(&b, "\"}");
    uint64_t n = 0;
    bool ok = brc == 0 && transaction(a, b.data, b.len, NULL, 0, &n) == 0;
    sg_buf_free(&b);
    if (!ok)
        return false;
    pthread_mutex_lock(&a->mu);
    a->failed = false;
    a->recover_msg[0] = '\0';
    atomic_store(&a->healthy, true);
    pthread_mutex_unlock(&a->mu);
    sg_log(SG_LOG_WARN, "audit_recovered",
           "audit store writes again (%" PRIu64 " records refused meanwhile)", refused);
    return true;
}

static void deadline_after(struct timespec *ts, uint64_t us)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(us / 1000000u);
    ts->tv_nsec += (long)(us % 1000000u) * 1000;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *writer_main(void *p)
{
    struct sg_audit *a = p;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        if (a->failed) {
            if (a->stop)
                break;
            struct timespec dl;
            deadline_after(&dl, (uint64_t)a->retry_ms * 1000u);
            while (!a->stop && pthread_cond_timedwait(&a->cv, &a->mu, &dl) != ETIMEDOUT)
                ;
            if (a->stop)
                break;
            pthread_mutex_unlock(&a->mu);
            try_recover(a);
            pthread_mutex_lock(&a->mu);
            continue;
        }
        if (!a->head) {
            if (a->stop)
                break;
            if (a->seq > a->cp_seq) {
                uint64_t due = a->pending_since_us + (uint64_t)a->cp_interval_ms * 1000u;
                uint64_t now = mono_us();
                if (now >= due) {
                    pthread_mutex_unlock(&a->mu);
                    uint64_t n = 0;
                    if (transaction(a, NULL, 0, NULL, TX_SIGN, &n) != 0)
                        enter_failed(a, NULL);
                    pthread_mutex_lock(&a->mu);
                    continue;
                }
                struct timespec dl;
                deadline_after(&dl, due - now);
                pthread_cond_timedwait(&a->cv, &a->mu, &dl);
            } else {
                pthread_cond_wait(&a->cv, &a->mu);
            }
            continue;
        }
        struct item *batch = a->head;
        a->head = a->tail = NULL;
        a->qn = a->qbytes = 0;
        atomic_store(&a->n_queued, 0);
        pthread_mutex_unlock(&a->mu);
        uint64_t n = 0;
        if (transaction(a, NULL, 0, batch, 0, &n) == 0)
            finish_items(batch, 0);
        else
            enter_failed(a, batch);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    /* Closing: everything queued was written (or failed); sign what is left and say that
     * nothing is unsigned. */
    if (!a->failed) {
        uint64_t n = 0;
        if (transaction(a, NULL, 0, NULL, TX_SIGN | TX_CLOSED, &n) != 0)
            atomic_store(&a->healthy, false);
    }
    return NULL;
}

/* ---- the contract ---- */

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return SG_ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return SG_EIO;
    int rc = fsync(fd) == 0 ? 0 : SG_EIO;
    close(fd);
    return rc;
}

int sg_audit_open(const struct sg_audit_opts *o, struct sg_audit **out, struct sg_error *err)
{
    *out = NULL;
    if (!o || !o->path || !o->path[0])
        return sg_error_set(err, SG_EINVAL, "audit trail: no path");
    struct sg_audit *a = calloc(1, sizeof(*a));
    if (!a || !(a->path = strdup(o->path))) {
        free(a);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    a->cp_every = o->checkpoint_every ? o->checkpoint_every : 1000;
    a->cp_interval_ms = o->checkpoint_interval_ms ? o->checkpoint_interval_ms : 10000;
    a->queue_max = o->queue_max ? o->queue_max : 65536;
    a->queue_max_bytes = o->queue_max_bytes ? o->queue_max_bytes : (size_t)64 << 20;
    a->retry_ms = o->retry_ms ? o->retry_ms : 250;
    sg_buf_init(&a->content, SG_AUDIT_RECORD_MAX + 2 * SG_AUDIT_PREFIX_MAX);
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_store(&a->healthy, true);
    int rc = 0;
    if (o->signing_key) {
        if (!(a->key = sg_audit_pkey_private(o->signing_key)) ||
            sg_audit_key_public(o->signing_key, a->pub) != 0) {
            rc = sg_error_set(err, SG_ECRYPTO, "audit signing key unusable");
            goto fail;
        }
        sg_audit_key_id(a->pub, a->key_id);
    }
    /* Create the file ourselves so that it is private from the start. */
    bool created = false;
    int fd = open(a->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        created = true;
        close(fd);
        if (fsync_dir_of(a->path) != 0) {
            rc = sg_error_set(err, SG_EIO, "audit trail %s: cannot sync its directory", a->path);
            goto fail;
        }
    } else if (errno != EEXIST) {
        rc =
            sg_error_set(err, SG_EIO, "cannot create audit trail %s: %s", a->path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (stat(a->path, &st) == 0 && st.st_size == 0)
        created = true; /* an empty file (e.g. made by an operator with the right mode) */
    struct tip tip;
    if ((rc = open_store(a, created, &tip, err)))
        goto fail;
    apply_tip(a, &tip);
    if (created)
        fsync_dir_of(a->path); /* the WAL file's directory entry */
    /* Sign what a crash left after the last checkpoint (checked by load_state) and say
     * where this writer starts. */
    uint64_t n = 0;
    if (transaction(a, NULL, 0, NULL, TX_SIGN | TX_OPENED, &n) != 0) {
        rc = sg_error_set(err, SG_EIO, "audit trail %s: cannot write: %s", a->path, a->fail_msg);
        goto fail;
    }
    if (o->postgres && o->postgres[0] &&
        (rc = sg_audit_pg_start(o->postgres, a->path, a->instance, &a->pg, err)))
        goto fail;
    if (a->pg)
        sg_audit_pg_notify(a->pg, a->seq);
    if (pthread_create(&a->thr, NULL, writer_main, a) != 0) {
        rc = sg_error_set(err, SG_ENOMEM, "cannot start the audit writer");
        goto fail;
    }
    a->thr_started = true;
    *out = a;
    return 0;
fail:
    sg_audit_close(a);
    return rc;
}

void sg_audit_close(struct sg_audit *a)
{
    if (!a)
        return;
    if (a->thr_started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thr, NULL);
    }
    /* Anything still queued (the store had failed) is answered. */
    struct item *rest = a->head;
    a->head = a->tail = NULL;
    finish_items(rest, SG_EIO);
    if (a->pg)
        sg_audit_pg_stop(a->pg, 5000);
    close_db(a);
    EVP_PKEY_free(a->key);
    sg_buf_free(&a->content);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
}

int sg_audit_append(struct sg_audit *a, const char *json, size_t len, sg_audit_done_fn done,
                    void *arg)
{
    bool members = false;
    int rc = a ? validate(json, len, &members) : SG_EINVAL;
    struct item *it = NULL;
    if (!rc && !(it = malloc(sizeof(*it) + len)))
        rc = SG_ENOMEM;
    if (!rc) {
        it->next = NULL;
        it->done = done;
        it->arg = arg;
        it->len = len;
        it->members = members;
        memcpy(it->json, json, len);
        pthread_mutex_lock(&a->mu);
        if (a->stop)
            rc = SG_EUNAVAIL;
        else if (a->failed)
            rc = SG_EIO;
        else if (a->qn >= a->queue_max || a->qbytes + len > a->queue_max_bytes)
            rc = SG_ETOOBIG;
        if (!rc) {
            if (a->tail)
                a->tail->next = it;
            else
                a->head = it;
            a->tail = it;
            a->qn++;
            a->qbytes += len;
            atomic_store(&a->n_queued, a->qn);
            if (a->qn == 1)
                pthread_cond_signal(&a->cv);
        } else if (rc == SG_EIO) {
            a->refused_while_failed++;
        }
        pthread_mutex_unlock(&a->mu);
    }
    if (rc) {
        free(it);
        if (a)
            atomic_fetch_add(&a->n_refused, 1);
        if (done)
            done(arg, rc);
    }
    return rc;
}

bool sg_audit_healthy(const struct sg_audit *a)
{
    return a && atomic_load(&a->healthy);
}

const char *sg_audit_instance(const struct sg_audit *a)
{
    return a->instance;
}

void sg_audit_stats(const struct sg_audit *a, struct sg_audit_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->records = atomic_load(&a->n_records);
    out->refused = atomic_load(&a->n_refused);
    out->queued = atomic_load(&a->n_queued);
    out->commits = atomic_load(&a->n_commits);
    out->last_commit_us = atomic_load(&a->n_last_us);
    out->commit_us_sum = atomic_load(&a->n_sum_us);
    out->failures = atomic_load(&a->n_failures);
    out->checkpoints = atomic_load(&a->n_cps);
    out->seq = atomic_load(&a->n_seq);
    if (a->pg)
        sg_audit_pg_stats(a->pg, &out->pg_seq, &out->pg_healthy);
}
