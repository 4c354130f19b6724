/* The optional PostgreSQL sink: several gateways share one trail there, each under its
 * instance id with the same chain as its local SQLite file. A replicator thread per trail
 * reads committed records (and checkpoints) from the local file through its own read-only
 * connection and copies them in order, one PostgreSQL transaction per batch (COPY), from
 * the last seq PostgreSQL has for the instance. The local file stays the durable record
 * (a request waits only for the local fsync); PostgreSQL lags by at most one batch while
 * it is reachable and catches up after an outage. Also: verification of the shared trail,
 * instance by instance, through the same streaming verifier. */
#include "audit/audit_int.h"
#include "core/buf.h"
#include "core/dynlib.h"
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

/* libpq, opened when a replica is configured or verified (core/dynlib.h): a gateway
 * without PostgreSQL never maps it. */
static struct {
    __typeof__(PQclear) *PQclear;
    __typeof__(PQconnectdbParams) *PQconnectdbParams;
    __typeof__(PQerrorMessage) *PQerrorMessage;
    __typeof__(PQexec) *PQexec;
    __typeof__(PQexecParams) *PQexecParams;
    __typeof__(PQfinish) *PQfinish;
    __typeof__(PQgetResult) *PQgetResult;
    __typeof__(PQgetisnull) *PQgetisnull;
    __typeof__(PQgetlength) *PQgetlength;
    __typeof__(PQgetvalue) *PQgetvalue;
    __typeof__(PQntuples) *PQntuples;
    __typeof__(PQputCopyData) *PQputCopyData;
    __typeof__(PQputCopyEnd) *PQputCopyEnd;
    __typeof__(PQresultErrorMessage) *PQresultErrorMessage;
    __typeof__(PQresultStatus) *PQresultStatus;
    __typeof__(PQsetNoticeProcessor) *PQsetNoticeProcessor;
    __typeof__(PQstatus) *PQstatus;
    __typeof__(PQtransactionStatus) *PQtransactionStatus;
} pq;
#define PQ_SYM(f) SG_DYNSYM(pq, f)
static const struct sg_dynsym pq_syms[] = {
    PQ_SYM(PQclear),        PQ_SYM(PQconnectdbParams),
    PQ_SYM(PQerrorMessage), PQ_SYM(PQexec),
    PQ_SYM(PQexecParams),   PQ_SYM(PQfinish),
    PQ_SYM(PQgetResult),    PQ_SYM(PQgetisnull),
    PQ_SYM(PQgetlength),    PQ_SYM(PQgetvalue),
    PQ_SYM(PQntuples),      PQ_SYM(PQputCopyData),
    PQ_SYM(PQputCopyEnd),   PQ_SYM(PQresultErrorMessage),
    PQ_SYM(PQresultStatus), PQ_SYM(PQsetNoticeProcessor),
    PQ_SYM(PQstatus),       PQ_SYM(PQtransactionStatus),
};
static struct sg_dynlib pq_lib = SG_DYNLIB("libpq.so.5", "libpq5", pq_syms);

#define PG_BATCH 2000
/* A batch also ends once its COPY text passes this size: 2,000 records of up to 64 KiB,
 * backslashes doubled, would pass the copy buffer's cap, and the same batch would then
 * fail on every retry. */
#define PG_BATCH_BYTES ((size_t)16 << 20)
#define PG_BACKOFF_MAX_MS 30000

static const char pg_schema[] =
    "CREATE TABLE IF NOT EXISTS sovgate_audit_instances ("
    " instance TEXT PRIMARY KEY, anchor_seq BIGINT NOT NULL DEFAULT 0, anchor_hash BYTEA,"
    " anchor_ts TEXT, anchor_signature BYTEA, anchor_key_id TEXT,"
    " first_seen TIMESTAMPTZ NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS sovgate_audit_records ("
    " instance TEXT NOT NULL, seq BIGINT NOT NULL, ts TEXT NOT NULL, content TEXT NOT NULL,"
    " hash BYTEA NOT NULL, PRIMARY KEY (instance, seq));"
    "CREATE TABLE IF NOT EXISTS sovgate_audit_checkpoints ("
    " instance TEXT NOT NULL, seq BIGINT NOT NULL, hash BYTEA NOT NULL, ts TEXT NOT NULL,"
    " signature BYTEA, key_id TEXT, PRIMARY KEY (instance, seq));";

struct sg_audit_pg {
    char *conninfo, *path;
    char instance[SG_AUDIT_KEY_ID_STR];
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t target;    /* committed locally (under mu) */
    bool dirty;         /* something was committed since the last look (under mu) */
    bool stop;          /* under mu */
    uint64_t deadline;  /* monotonic us: give up flushing after this, once stopping */
    bool fatal;         /* a conflict that retrying cannot fix */
    PGconn *conn;       /* replicator thread only */
    sqlite3 *db;        /* replicator thread only */
    bool synced;        /* pg_seq/pg_cp read from the server on this connection */
    uint64_t pg_cp;     /* last checkpoint seq the server has */
    struct sg_buf copy; /* COPY data */
    char errmsg[SG_ERROR_MSG_MAX];
    atomic_uint_fast64_t pg_seq;
    atomic_bool healthy;
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* server notices ("relation already exists") are not worth a log line */
}

static PGconn *pg_connect(const char *conninfo)
{
    /* connect_timeout first: the operator's connection string overrides it. */
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {"5", conninfo, NULL};
    PGconn *c = pq.PQconnectdbParams(keys, vals, 1);
    if (c)
        pq.PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

/* Copies the server's message (first line only, bounded) for logs and errors. */
static void pg_msg(char *out, size_t cap, PGconn *c, const PGresult *r)
{
    const char *m = r ? pq.PQresultErrorMessage(r) : NULL;
    if (!m || !*m)
        m = c ? pq.PQerrorMessage(c) : "no connection";
    size_t n = strcspn(m, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), m);
}

static bool exec_ok(PGconn *c, const char *sql, char *err, size_t cap)
{
    PGresult *r = pq.PQexec(c, sql);
    bool ok = pq.PQresultStatus(r) == PGRES_COMMAND_OK || pq.PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok && err && cap)
        pg_msg(err, cap, c, r);
    pq.PQclear(r);
    return ok;
}

static bool ensure_schema(PGconn *c, char *err, size_t cap)
{
    /* Several gateways may start at once: one creates the tables at a time. */
    if (!exec_ok(c, "BEGIN", err, cap))
        return false;
    if (!exec_ok(c, "SELECT pg_advisory_xact_lock(7243661120)", err, cap) ||
        !exec_ok(c, pg_schema, err, cap) || !exec_ok(c, "COMMIT", err, cap)) {
        exec_ok(c, "ROLLBACK", NULL, 0);
        return false;
    }
    return true;
}

static uint64_t be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (uint8_t)p[i];
    return v;
}

/* ---- replication ---- */

static void pg_drop(struct sg_audit_pg *p)
{
    if (p->conn)
        pq.PQfinish(p->conn);
    p->conn = NULL;
    p->synced = false;
}

static int fail(struct sg_audit_pg *p, const PGresult *r, const char *what)
{
    char m[SG_ERROR_MSG_MAX - 64];
    pg_msg(m, sizeof(m), p->conn, r);
    snprintf(p->errmsg, sizeof(p->errmsg), "%s: %s", what, m);
    if (p->conn && pq.PQtransactionStatus(p->conn) == PQTRANS_INERROR)
        exec_ok(p->conn, "ROLLBACK", NULL, 0);
    pg_drop(p);
    atomic_store(&p->healthy, false);
    return SG_EUNAVAIL;
}

/* Reads what the server has for this instance and checks it against the local chain. */
static int sync_state(struct sg_audit_pg *p)
{
    const char *params[1] = {p->instance};
    PGresult *r = pq.PQexecParams(p->conn,
                                  "SELECT seq, hash FROM sovgate_audit_records WHERE instance = $1 "
                                  "ORDER BY seq DESC LIMIT 1",
                                  1, NULL, params, NULL, NULL, 1);
    if (pq.PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = fail(p, r, "reading the shared trail");
        pq.PQclear(r);
        return rc;
    }
    uint64_t seq = 0;
    uint8_t hash[SG_SHA256_LEN] = {0};
    bool have = pq.PQntuples(r) == 1 && pq.PQgetlength(r, 0, 0) == 8;
    if (have) {
        seq = be64(pq.PQgetvalue(r, 0, 0));
        if (pq.PQgetlength(r, 0, 1) == SG_SHA256_LEN)
            memcpy(hash, pq.PQgetvalue(r, 0, 1), SG_SHA256_LEN);
    }
    pq.PQclear(r);
    r = pq.PQexecParams(p->conn,
                        "SELECT coalesce(max(seq), 0)::bigint FROM sovgate_audit_checkpoints "
                        "WHERE instance = $1",
                        1, NULL, params, NULL, NULL, 1);
    if (pq.PQresultStatus(r) != PGRES_TUPLES_OK || pq.PQgetlength(r, 0, 0) != 8) {
        int rc = fail(p, r, "reading the shared trail");
        pq.PQclear(r);
        return rc;
    }
    p->pg_cp = be64(pq.PQgetvalue(r, 0, 0));
    pq.PQclear(r);

    struct sg_audit_vcp anchor;
    struct sg_error err = {0};
    if (sg_audit_anchor_get(p->db, &anchor, &err) != 0) {
        snprintf(p->errmsg, sizeof(p->errmsg), "local trail: %s", err.msg);
        return SG_EIO;
    }
    if (have) {
        /* The server's last record must be ours (a copied file would share the id). */
        sqlite3_stmt *st = NULL;
        bool differ = false;
        if (sqlite3_prepare_v2(p->db, "SELECT hash FROM records WHERE seq = ?1", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
            if (sqlite3_step(st) == SQLITE_ROW)
                differ = sqlite3_column_bytes(st, 0) != SG_SHA256_LEN ||
                         memcmp(sqlite3_column_blob(st, 0), hash, SG_SHA256_LEN) != 0;
            else if (seq > anchor.seq)
                differ = true; /* the server has records the local trail never wrote */
        }
        sqlite3_finalize(st);
        if (differ) {
            snprintf(p->errmsg, sizeof(p->errmsg),
                     "the shared trail's instance %s holds records that differ from the local "
                     "trail (a copied audit file?); not replicating",
                     p->instance);
            p->fatal = true;
            return SG_EINVAL;
        }
    } else {
        /* First contact: register the instance with its anchor (after pruning). */
        char aseq[24], hex[2 * SG_SHA256_LEN + 3], sig[2 * SG_AUDIT_SIG_LEN + 3];
        snprintf(aseq, sizeof(aseq), "%" PRIu64, anchor.seq);
        memcpy(hex, "\\x", 2);
        sg_hex_encode(anchor.hash, SG_SHA256_LEN, hex + 2);
        memcpy(sig, "\\x", 2);
        sg_hex_encode(anchor.sig, anchor.sig_len ? SG_AUDIT_SIG_LEN : 0, sig + 2);
        const char *v[6] = {p->instance,
                            aseq,
                            anchor.seq ? hex : NULL,
                            anchor.seq ? anchor.ts : NULL,
                            anchor.seq && anchor.sig_len ? sig : NULL,
                            anchor.seq && anchor.key_id[0] ? anchor.key_id : NULL};
        r = pq.PQexecParams(
            p->conn,
            "INSERT INTO sovgate_audit_instances (instance, anchor_seq, anchor_hash,"
            " anchor_ts, anchor_signature, anchor_key_id) VALUES ($1, $2, $3, $4, "
            "$5, $6) ON CONFLICT (instance) DO NOTHING",
            6, NULL, v, NULL, NULL, 0);
        if (pq.PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc = fail(p, r, "registering the instance");
            pq.PQclear(r);
            return rc;
        }
        pq.PQclear(r);
        seq = anchor.seq;
    }
    if (seq < anchor.seq) {
        snprintf(p->errmsg, sizeof(p->errmsg),
                 "the local trail was pruned past what the shared trail has (%" PRIu64 " < %" PRIu64
                 "); not replicating",
                 seq, anchor.seq);
        p->fatal = true;
        return SG_EINVAL;
    }
    atomic_store(&p->pg_seq, seq);
    p->synced = true;
    return 0;
}

/* COPY text format: backslash, tab, newline and carriage return escaped. */
static int copy_text(struct sg_buf *b, const char *s, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char c = s[i];
        rc = c == '\\'   ? sg_buf_append(b, "\\\\", 2)
             : c == '\t' ? sg_buf_append(b, "\\t", 2)
             : c == '\n' ? sg_buf_append(b, "\\n", 2)
             : c == '\r' ? sg_buf_append(b, "\\r", 2)
                         : sg_buf_append(b, &c, 1);
    }
    return rc;
}

static int copy_bytea(struct sg_buf *b, const void *p, size_t n)
{
    char hex[2 * SG_AUDIT_SIG_LEN + 1];
    if (n > SG_AUDIT_SIG_LEN)
        n = SG_AUDIT_SIG_LEN;
    sg_hex_encode(p, n, hex);
    int rc = sg_buf_append(b, "\\\\x", 3);
    return rc ? rc : sg_buf_append(b, hex, 2 * n);
}

static bool copy_send(struct sg_audit_pg *p, const char *sql, const char *data, size_t len)
{
    PGresult *r = pq.PQexec(p->conn, sql);
    bool ok = pq.PQresultStatus(r) == PGRES_COPY_IN;
    pq.PQclear(r);
    if (!ok)
        return false;
    if ((len && pq.PQputCopyData(p->conn, data, (int)len) != 1) ||
        pq.PQputCopyEnd(p->conn, NULL) != 1)
        return false;
    r = pq.PQgetResult(p->conn);
    ok = pq.PQresultStatus(r) == PGRES_COMMAND_OK;
    pq.PQclear(r);
    while ((r = pq.PQgetResult(p->conn)))
        pq.PQclear(r);
    return ok;
}

/* Copies the next batch of records and the checkpoints up to it. Returns 1 when something
 * was copied, 0 when there was nothing to copy, or an SG_E* code. */
static int push(struct sg_audit_pg *p)
{
    uint64_t from = atomic_load(&p->pg_seq);
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(p->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(p->db,
                           "SELECT seq, ts, content, hash FROM records WHERE seq > ?1 ORDER BY "
                           "seq LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(p->errmsg, sizeof(p->errmsg), "local trail: %s", sqlite3_errmsg(p->db));
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
        return SG_EIO;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 2, PG_BATCH);
    sg_buf_reset(&p->copy);
    uint64_t upto = from, nrec = 0;
    int rc = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        if (seq != upto + 1) {
            /* A gap in the local trail: replicate nothing past it. One right after what the
             * server has (the file pruned, or replaced, past records not yet copied) is
             * for ever: said, and the sink stops, instead of finding "nothing to do" while
             * behind and trying again at once, a core busy for nothing. */
            if (!nrec) {
                sqlite3_finalize(st);
                sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
                snprintf(p->errmsg, sizeof(p->errmsg),
                         "the local trail has no record %" PRIu64 " (pruned or replaced before "
                         "it was copied); not replicating",
                         from + 1);
                p->fatal = true;
                return SG_EINVAL;
            }
            break;
        }
        char num[24];
        int n = snprintf(num, sizeof(num), "%" PRIu64 "\t", seq);
        rc = sg_buf_append(&p->copy, p->instance, strlen(p->instance));
        rc = rc ? rc : sg_buf_append(&p->copy, "\t", 1);
        rc = rc ? rc : sg_buf_append(&p->copy, num, (size_t)n);
        rc = rc ? rc
                : copy_text(&p->copy, (const char *)sqlite3_column_text(st, 1),
                            (size_t)sqlite3_column_bytes(st, 1));
        rc = rc ? rc : sg_buf_append(&p->copy, "\t", 1);
        rc = rc ? rc
                : copy_text(&p->copy, sqlite3_column_blob(st, 2),
                            (size_t)sqlite3_column_bytes(st, 2));
        rc = rc ? rc : sg_buf_append(&p->copy, "\t", 1);
        rc = rc ? rc
                : copy_bytea(&p->copy, sqlite3_column_blob(st, 3),
                             (size_t)sqlite3_column_bytes(st, 3));
        rc = rc ? rc : sg_buf_append(&p->copy, "\n", 1);
        upto = seq;
        nrec++;
        if (p->copy.len >= PG_BATCH_BYTES)
            break;
    }
    sqlite3_finalize(st);
    st = NULL;
    size_t reclen = p->copy.len;
    uint64_t ncp = 0, cp_upto = p->pg_cp;
    if (!rc && sqlite3_prepare_v2(p->db,
                                  "SELECT seq, hash, ts, signature, key_id FROM checkpoints "
                                  "WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
                                  -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)p->pg_cp);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)upto);
        while (!rc && sqlite3_step(st) == SQLITE_ROW) {
            uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
            char num[24];
            int n = snprintf(num, sizeof(num), "%" PRIu64 "\t", seq);
            rc = sg_buf_append(&p->copy, p->instance, strlen(p->instance));
            rc = rc ? rc : sg_buf_append(&p->copy, "\t", 1);
            rc = rc ? rc : sg_buf_append(&p->copy, num, (size_t)n);
            rc = rc ? rc
                    : copy_bytea(&p->copy, sqlite3_column_blob(st, 1),
                                 (size_t)sqlite3_column_bytes(st, 1));
            rc = rc ? rc : sg_buf_append(&p->copy, "\t", 1);
            rc = rc ? rc
                    : copy_text(&p->copy, (const char *)sqlite3_column_text(st, 2),
                                (size_t)sqlite3_column_bytes(st, 2));
            rc = rc ? rc : sg_buf_append(&p->copy, "\t", 1);
            if (!rc && sqlite3_column_type(st, 3) == SQLITE_NULL)
                rc = sg_buf_append(&p->copy, "\\N", 2);
            else if (!rc)
                rc = copy_bytea(&p->copy, sqlite3_column_blob(st, 3),
                                (size_t)sqlite3_column_bytes(st, 3));
            rc = rc ? rc : sg_buf_append(&p->copy, "\t", 1);
            if (!rc && sqlite3_column_type(st, 4) == SQLITE_NULL)
                rc = sg_buf_append(&p->copy, "\\N", 2);
            else if (!rc)
                rc = copy_text(&p->copy, (const char *)sqlite3_column_text(st, 4),
                               (size_t)sqlite3_column_bytes(st, 4));
            rc = rc ? rc : sg_buf_append(&p->copy, "\n", 1);
            cp_upto = seq;
            ncp++;
        }
    }
    sqlite3_finalize(st);
    sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
    if (rc) {
        snprintf(p->errmsg, sizeof(p->errmsg), "batch too large or out of memory");
        return SG_ENOMEM;
    }
    if (!nrec && !ncp)
        return 0;
    /* Records and checkpoints of the batch in one transaction. */
    if (!exec_ok(p->conn, "BEGIN", p->errmsg, sizeof(p->errmsg)))
        return fail(p, NULL, "starting a transaction");
    if (nrec && !copy_send(p,
                           "COPY sovgate_audit_records (instance, seq, ts, content, hash) "
                           "FROM STDIN",
                           p->copy.data, reclen))
        return fail(p, NULL, "copying records");
    /* The checkpoint rows follow the record rows in the buffer. */
    if (ncp && !copy_send(p,
                          "COPY sovgate_audit_checkpoints (instance, seq, hash, ts, signature, "
                          "key_id) FROM STDIN",
                          p->copy.data + reclen, p->copy.len - reclen))
        return fail(p, NULL, "copying checkpoints");
    if (!exec_ok(p->conn, "COMMIT", p->errmsg, sizeof(p->errmsg)))
        return fail(p, NULL, "committing");
    atomic_store(&p->pg_seq, upto);
    p->pg_cp = cp_upto;
    return 1;
}

/* One round: connect and sync when needed, then copy one batch. Returns 1 (copied), 0
 * (nothing to do) or an SG_E* code. */
static int round_once(struct sg_audit_pg *p)
{
    if (!p->db) {
        struct sg_error err = {0};
        if (sg_audit_db_open(p->path, true, &p->db, &err) != 0) {
            snprintf(p->errmsg, sizeof(p->errmsg), "%s", err.msg);
            return SG_EIO;
        }
    }
    if (!p->conn) {
        p->conn = pg_connect(p->conninfo);
        if (!p->conn || pq.PQstatus(p->conn) != CONNECTION_OK)
            return fail(p, NULL, "connecting");
        if (!ensure_schema(p->conn, p->errmsg, sizeof(p->errmsg))) {
            pg_drop(p);
            return SG_EUNAVAIL;
        }
    }
    if (!p->synced) {
        int rc = sync_state(p);
        if (rc)
            return rc;
    }
    int rc = push(p);
    if (rc >= 0)
        atomic_store(&p->healthy, true);
    return rc;
}

static void *pg_main(void *arg)
{
    struct sg_audit_pg *p = arg;
    unsigned backoff_ms = 0;
    bool was_healthy = true;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        bool behind = p->dirty || atomic_load(&p->pg_seq) < p->target;
        if (p->stop && (!behind || p->fatal || mono_us() >= p->deadline))
            break;
        if (p->fatal || (!behind && p->conn)) {
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            dl.tv_sec += 1;
            pthread_cond_timedwait(&p->cv, &p->mu, &dl);
            continue;
        }
        p->dirty = false;
        pthread_mutex_unlock(&p->mu);
        int rc = round_once(p);
        pthread_mutex_lock(&p->mu);
        if (rc < 0) {
            p->dirty = true;
            if (was_healthy || p->fatal)
                sg_log(SG_LOG_ERROR, "audit_pg_failed", "audit PostgreSQL sink: %s", p->errmsg);
            was_healthy = false;
            atomic_store(&p->healthy, false);
            backoff_ms = backoff_ms ? backoff_ms * 2 : 200;
            if (backoff_ms > PG_BACKOFF_MAX_MS)
                backoff_ms = PG_BACKOFF_MAX_MS;
            uint64_t wake = mono_us() + (uint64_t)backoff_ms * 1000u;
            if (p->stop && wake > p->deadline)
                wake = p->deadline;
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            uint64_t now = mono_us(), d = wake > now ? wake - now : 0;
            dl.tv_sec += (time_t)(d / 1000000u);
            dl.tv_nsec += (long)(d % 1000000u) * 1000;
            if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &dl);
        } else {
            if (!was_healthy)
                sg_log(SG_LOG_INFO, "audit_pg_recovered", "audit PostgreSQL sink replicates");
            was_healthy = true;
            backoff_ms = 0;
            if (rc == 1)
                p->dirty = true; /* maybe more */
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int sg_audit_pg_start(const char *conninfo, const char *path, const char *instance,
                      struct sg_audit_pg **out, struct sg_error *err)
{
    *out = NULL;
    int rc = sg_dynlib_open(&pq_lib, err);
    if (rc)
        return rc;
    struct sg_audit_pg *p = calloc(1, sizeof(*p));
    if (!p || !(p->conninfo = strdup(conninfo)) || !(p->path = strdup(path))) {
        if (p)
            free(p->conninfo);
        free(p);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    snprintf(p->instance, sizeof(p->instance), "%s", instance);
    sg_buf_init(&p->copy, (size_t)256 << 20);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->dirty = true;
    if (pthread_create(&p->thr, NULL, pg_main, p) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p->conninfo);
        free(p->path);
        free(p);
        return sg_error_set(err, SG_ENOMEM, "cannot start the PostgreSQL replicator");
    }
    *out = p;
    return 0;
}

void sg_audit_pg_notify(struct sg_audit_pg *p, uint64_t seq)
{
    pthread_mutex_lock(&p->mu);
    if (seq > p->target)
        p->target = seq;
    p->dirty = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void sg_audit_pg_stop(struct sg_audit_pg *p, unsigned flush_ms)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    p->deadline = mono_us() + (uint64_t)flush_ms * 1000u;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thr, NULL);
    pg_drop(p);
    if (p->db)
        sqlite3_close(p->db);
    sg_buf_free(&p->copy);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->conninfo);
    free(p->path);
    free(p);
}

void sg_audit_pg_stats(const struct sg_audit_pg *p, uint64_t *seq, bool *healthy)
{
    *seq = atomic_load(&p->pg_seq);
    *healthy = atomic_load(&p->healthy);
}

/* ---- verification of the shared trail ---- */

static int verify_instance(PGconn *c, const char *instance, const uint8_t *keys, size_t nkeys,
                           struct sg_audit_verify_report *rep, struct sg_error *err)
{
    memset(rep, 0, sizeof(*rep));
    snprintf(rep->instance, sizeof(rep->instance), "%s", instance);
    char where[64];
    snprintf(where, sizeof(where), "instance %.20s: ", instance);
    const char *params[1] = {instance};
    struct sg_audit_vcp anchor = {0}, *cps = NULL;
    size_t ncps = 0;
    int rc = 0;
    PGresult *r = pq.PQexecParams(c,
                                  "SELECT anchor_seq, anchor_hash, anchor_ts, anchor_signature, "
                                  "anchor_key_id FROM sovgate_audit_instances WHERE instance = $1",
                                  1, NULL, params, NULL, NULL, 1);
    if (pq.PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[160];
        pg_msg(m, sizeof(m), c, r);
        pq.PQclear(r);
        return sg_error_set(err, SG_EIO, "PostgreSQL: %s", m);
    }
    if (pq.PQntuples(r) == 1 && pq.PQgetlength(r, 0, 0) == 8 && be64(pq.PQgetvalue(r, 0, 0)) > 0) {
        anchor.seq = be64(pq.PQgetvalue(r, 0, 0));
        if (pq.PQgetlength(r, 0, 1) == SG_SHA256_LEN) {
            memcpy(anchor.hash, pq.PQgetvalue(r, 0, 1), SG_SHA256_LEN);
            anchor.hash_len = SG_SHA256_LEN;
        }
        snprintf(anchor.ts, sizeof(anchor.ts), "%.*s",
                 pq.PQgetlength(r, 0, 2) < 40 ? pq.PQgetlength(r, 0, 2) : 0,
                 pq.PQgetvalue(r, 0, 2));
        if (pq.PQgetlength(r, 0, 3) > 0) {
            size_t n = (size_t)pq.PQgetlength(r, 0, 3);
            memcpy(anchor.sig, pq.PQgetvalue(r, 0, 3), n < SG_AUDIT_SIG_LEN ? n : SG_AUDIT_SIG_LEN);
            anchor.sig_len = n;
        }
        snprintf(anchor.key_id, sizeof(anchor.key_id), "%.*s",
                 pq.PQgetlength(r, 0, 4) < SG_AUDIT_KEY_ID_STR ? pq.PQgetlength(r, 0, 4) : 0,
                 pq.PQgetvalue(r, 0, 4));
    }
    pq.PQclear(r);
    r = pq.PQexecParams(c,
                        "SELECT seq, hash, ts, signature, key_id FROM sovgate_audit_checkpoints "
                        "WHERE instance = $1 ORDER BY seq",
                        1, NULL, params, NULL, NULL, 1);
    if (pq.PQresultStatus(r) != PGRES_TUPLES_OK) {
        pq.PQclear(r);
        return sg_error_set(err, SG_EIO, "PostgreSQL: cannot read checkpoints");
    }
    ncps = (size_t)pq.PQntuples(r);
    cps = calloc(ncps ? ncps : 1, sizeof(*cps));
    if (!cps) {
        pq.PQclear(r);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ncps; i++) {
        struct sg_audit_vcp *cp = &cps[i];
        int row = (int)i;
        cp->seq = pq.PQgetlength(r, row, 0) == 8 ? be64(pq.PQgetvalue(r, row, 0)) : 0;
        if (pq.PQgetlength(r, row, 1) == SG_SHA256_LEN) {
            memcpy(cp->hash, pq.PQgetvalue(r, row, 1), SG_SHA256_LEN);
            cp->hash_len = SG_SHA256_LEN;
        }
        snprintf(cp->ts, sizeof(cp->ts), "%.*s",
                 pq.PQgetlength(r, row, 2) < 40 ? pq.PQgetlength(r, row, 2) : 0,
                 pq.PQgetvalue(r, row, 2));
        if (!pq.PQgetisnull(r, row, 3) && pq.PQgetlength(r, row, 3) > 0) {
            size_t n = (size_t)pq.PQgetlength(r, row, 3);
            memcpy(cp->sig, pq.PQgetvalue(r, row, 3), n < SG_AUDIT_SIG_LEN ? n : SG_AUDIT_SIG_LEN);
            cp->sig_len = n;
        }
        snprintf(cp->key_id, sizeof(cp->key_id), "%.*s",
                 pq.PQgetlength(r, row, 4) < SG_AUDIT_KEY_ID_STR ? pq.PQgetlength(r, row, 4) : 0,
                 pq.PQgetvalue(r, row, 4));
    }
    pq.PQclear(r);
    struct sg_audit_verifier v;
    if ((rc = sg_audit_verifier_begin(&v, keys, nkeys, &anchor, cps, ncps, rep, where, err)))
        goto out;
    r = pq.PQexecParams(c,
                        "DECLARE sg_audit_rows NO SCROLL CURSOR FOR SELECT seq, ts, content, hash "
                        "FROM sovgate_audit_records WHERE instance = $1 ORDER BY seq",
                        1, NULL, params, NULL, NULL, 1);
    if (pq.PQresultStatus(r) != PGRES_COMMAND_OK) {
        pq.PQclear(r);
        rc = sg_error_set(err, SG_EIO, "PostgreSQL: cannot read records");
        goto out;
    }
    pq.PQclear(r);
    for (;;) {
        r = pq.PQexecParams(c, "FETCH 5000 FROM sg_audit_rows", 0, NULL, NULL, NULL, NULL, 1);
        if (pq.PQresultStatus(r) != PGRES_TUPLES_OK) {
            pq.PQclear(r);
            rc = sg_error_set(err, SG_EIO, "PostgreSQL: cannot read records");
            break;
        }
        int n = pq.PQntuples(r);
        for (int i = 0; i < n && !rc; i++) {
            char ts[SG_AUDIT_TS_LEN + 8];
            snprintf(ts, sizeof(ts), "%.*s",
                     pq.PQgetlength(r, i, 1) < (int)sizeof(ts) ? pq.PQgetlength(r, i, 1) : 0,
                     pq.PQgetvalue(r, i, 1));
            struct sg_audit_row row = {
                .seq = pq.PQgetlength(r, i, 0) == 8 ? be64(pq.PQgetvalue(r, i, 0)) : 0,
                .ts = ts,
                .content = pq.PQgetvalue(r, i, 2),
                .len = (size_t)pq.PQgetlength(r, i, 2),
                .hash = (const uint8_t *)pq.PQgetvalue(r, i, 3),
                .hash_len = (size_t)pq.PQgetlength(r, i, 3),
            };
            rc = sg_audit_verifier_record(&v, &row, err);
        }
        pq.PQclear(r);
        if (rc || n == 0)
            break;
    }
    r = pq.PQexec(c, "CLOSE sg_audit_rows");
    pq.PQclear(r);
    if (!rc)
        rc = sg_audit_verifier_end(&v, err);
out:
    free(cps);
    return rc;
}

int sg_audit_verify_pg(const char *conninfo, const char *instance, const uint8_t *keys,
                       size_t nkeys, struct sg_audit_verify_report *rep, uint64_t *instances,
                       struct sg_error *err)
{
    struct sg_audit_verify_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    if (instances)
        *instances = 0;
    int rc = sg_dynlib_open(&pq_lib, err);
    if (rc)
        return rc;
    PGconn *c = pg_connect(conninfo);
    if (!c || pq.PQstatus(c) != CONNECTION_OK) {
        char m[160];
        pg_msg(m, sizeof(m), c, NULL);
        pq.PQfinish(c);
        return sg_error_set(err, SG_EUNAVAIL, "cannot connect to PostgreSQL: %s", m);
    }
    char m[160];
    rc = 0;
    /* One snapshot for the whole check while gateways go on writing. */
    if (!exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", m, sizeof(m))) {
        pq.PQfinish(c);
        return sg_error_set(err, SG_EIO, "PostgreSQL: %s", m);
    }
    const char *params[1] = {instance};
    PGresult *r =
        instance
            ? pq.PQexecParams(c,
                              "SELECT instance FROM sovgate_audit_instances WHERE instance = $1 "
                              "UNION SELECT DISTINCT instance FROM sovgate_audit_records WHERE "
                              "instance = $1",
                              1, NULL, params, NULL, NULL, 0)
            : pq.PQexec(c, "SELECT instance FROM sovgate_audit_instances UNION SELECT DISTINCT "
                           "instance FROM sovgate_audit_records ORDER BY 1");
    if (pq.PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_msg(m, sizeof(m), c, r);
        rc = sg_error_set(err, SG_EIO, "PostgreSQL: %s", m);
    } else if (instance && pq.PQntuples(r) == 0) {
        rc = sg_error_set(err, SG_ENOTFOUND, "PostgreSQL has no instance %.20s", instance);
    }
    for (int i = 0; !rc && i < pq.PQntuples(r); i++) {
        rc = verify_instance(c, pq.PQgetvalue(r, i, 0), keys, nkeys, rep, err);
        if (!rc && instances)
            (*instances)++;
    }
    pq.PQclear(r);
    exec_ok(c, "COMMIT", m, sizeof(m));
    pq.PQfinish(c);
    return rc;
}
