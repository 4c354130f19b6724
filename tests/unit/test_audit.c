/* Unit tests of the audit trail: append, commit and callbacks, group commit, the bounded
 * queue, the chain recomputed independently, checkpoints by count and by time (and their
 * signatures checked with OpenSSL directly), restart, tampering of every kind detected at
 * the right record, fail-closed behaviour of a failed store (file replaced, disk full on a
 * tiny tmpfs) and its recovery, hostile records, pruning, keys and times, and kill -9 of a
 * writing process (every record reported durable is there and the trail verifies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "audit/audit.h"
#include "core/crypto.h"

/* RFC 8032, section 7.1, TEST 1: the Ed25519 seed and its public key. */
static const char rfc_seed_hex[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char rfc_pub_hex[] =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

static uint8_t seed[32], pub[32];

/* ---- helpers ---- */

static char *tmpdir(void)
{
    char *d = strdup("/tmp/sg-audit-test-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmtree(char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    free(d);
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

/* Counts done callbacks and their results. */
struct counter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned ok, bad, total;
    int last_rc;
};

static void counter_init(struct counter *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void counter_done(void *arg, int rc)
{
    struct counter *c = arg;
    pthread_mutex_lock(&c->mu);
    if (rc == 0)
        c->ok++;
    else
        c->bad++;
    c->total++;
    c->last_rc = rc;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static bool counter_wait(struct counter *c, unsigned total, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    pthread_mutex_lock(&c->mu);
    while (c->total < total && now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    bool ok = c->total >= total;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static struct sg_audit *open_trail(const char *path, uint32_t every, uint32_t interval_ms,
                                   bool signed_)
{
    struct sg_audit_opts o = {.path = path,
                              .signing_key = signed_ ? seed : NULL,
                              .checkpoint_every = every,
                              .checkpoint_interval_ms = interval_ms,
                              .retry_ms = 50};
    struct sg_audit *a = NULL;
    struct sg_error err = {0};
    int rc = sg_audit_open(&o, &a, &err);
    if (rc)
        fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return a;
}

static int append_str(struct sg_audit *a, const char *json, struct counter *c)
{
    return sg_audit_append(a, json, strlen(json), c ? counter_done : NULL, c);
}

/* Writes `n` records {"i":k,"msg":"record k"} (k from `first`) and waits for them. */
static void write_records(struct sg_audit *a, unsigned first, unsigned n)
{
    struct counter c;
    counter_init(&c);
    for (unsigned k = first; k < first + n; k++) {
        char rec[128];
        snprintf(rec, sizeof(rec), "{\"i\":%u,\"msg\":\"record %u\"}", k, k);
        assert_int_equal(append_str(a, rec, &c), 0);
    }
    assert_true(counter_wait(&c, n, 10000));
    assert_int_equal(c.ok, n);
}

static int verify(const char *path, const uint8_t *key, struct sg_audit_verify_report *rep)
{
    struct sg_error err = {0};
    int rc = sg_audit_verify(path, key, rep, &err);
    if (rc && getenv("SG_TEST_VERBOSE"))
        fprintf(stderr, "verify: %s\n", err.msg);
    return rc;
}

static sqlite3 *db_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void db_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sql: %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
}

static int64_t db_int(const char *path, const char *sql)
{
    sqlite3 *db = db_open(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in) {
        unlink(dst);
        return;
    }
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* Copies a closed trail (its file; a closed trail has no WAL left). */
static void copy_trail(const char *src, const char *dst)
{
    char s[600], d[600];
    copy_file(src, dst);
    snprintf(s, sizeof(s), "%s-wal", src);
    snprintf(d, sizeof(d), "%s-wal", dst);
    copy_file(s, d);
    snprintf(d, sizeof(d), "%s-shm", dst);
    unlink(d);
}

/* XORs byte `pos` of column `col` (content or hash, of records or checkpoints) of row
 * `seq`, keeping the column's type. */
static void flip(const char *path, const char *table, const char *col, uint64_t seq, size_t pos,
                 uint8_t mask)
{
    sqlite3 *db = db_open(path);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT %s, typeof(%s) FROM %s WHERE seq = %" PRIu64, col, col,
             table, seq);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    uint8_t *v = malloc(n + 1);
    assert_non_null(v);
    memcpy(v, sqlite3_column_blob(st, 0), n);
    bool text = strcmp((const char *)sqlite3_column_text(st, 1), "text") == 0;
    sqlite3_finalize(st);
    assert_true(pos < n);
    v[pos] ^= mask;
    snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ?1 WHERE seq = %" PRIu64, table, col, seq);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (text)
        sqlite3_bind_text(st, 1, (const char *)v, (int)n, SQLITE_TRANSIENT);
    else
        sqlite3_bind_blob(st, 1, v, (int)n, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(v);
}

static size_t content_len(const char *path, uint64_t seq)
{
    char sql[128];
    snprintf(sql, sizeof(sql),
             "SELECT length(CAST(content AS BLOB)) FROM records WHERE seq = %" PRIu64, seq);
    return (size_t)db_int(path, sql);
}

/* ---- fixtures ---- */

/* A closed, signed trail of 50 records with checkpoints at 10, 20, 30, 40 and 50 (the one
 * at 50 written by close). */
struct golden {
    char *dir;
    char path[512], work[512];
};

static int golden_setup(void **state)
{
    struct golden *g = calloc(1, sizeof(*g));
    g->dir = tmpdir();
    path_in(g->path, sizeof(g->path), g->dir, "golden.db");
    path_in(g->work, sizeof(g->work), g->dir, "work.db");
    struct sg_audit *a = open_trail(g->path, 10, 60000, true);
    write_records(a, 1, 50);
    sg_audit_close(a);
    *state = g;
    return 0;
}

static int golden_teardown(void **state)
{
    struct golden *g = *state;
    rmtree(g->dir);
    free(g);
    return 0;
}

static const char *fresh(struct golden *g)
{
    copy_trail(g->path, g->work);
    return g->work;
}

/* ---- append, commit, callbacks ---- */

static void test_append_commit_callbacks(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit *a = open_trail(path, 0, 0, false);
    assert_true(sg_audit_healthy(a));
    assert_int_equal(strlen(sg_audit_instance(a)), 16);
    struct counter c;
    counter_init(&c);
    for (int i = 0; i < 100; i++) {
        char rec[64];
        snprintf(rec, sizeof(rec), "{\"i\":%d}", i);
        assert_int_equal(append_str(a, rec, &c), 0);
    }
    assert_int_equal(append_str(a, "{}", NULL), 0); /* fire and forget */
    assert_true(counter_wait(&c, 100, 10000));
    assert_int_equal(c.ok, 100);
    sg_audit_close(a);
    /* Each callback exactly once: nothing more arrives after close. */
    assert_int_equal(c.total, 100);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, NULL, &rep), 0);
    assert_int_equal(rep.records, 101);
    assert_int_equal(rep.first_seq, 1);
    assert_int_equal(rep.last_seq, 101);
    assert_int_equal(rep.unsigned_tail, 0); /* close signed the tail */
    /* Records keep the order of appends from one thread; the file is private. */
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE content LIKE "
                                  "'{\"seq\":'||seq||',\"ts\":\"%\",\"i\":'||(seq-1)||'}'"),
                     100);
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE seq = 101 AND "
                                  "content = '{\"seq\":101,\"ts\":\"'||ts||'\"}'"),
                     1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    rmtree(d);
}

struct mt_arg {
    struct sg_audit *a;
    struct counter *c;
    int id, n;
};

static void *mt_append(void *p)
{
    struct mt_arg *m = p;
    for (int i = 0; i < m->n; i++) {
        char rec[96];
        snprintf(rec, sizeof(rec), "{\"thread\":%d,\"i\":%d}", m->id, i);
        while (sg_audit_append(m->a, rec, strlen(rec), counter_done, m->c) != 0)
            sleep_ms(1); /* queue full: the caller would refuse; here we retry */
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit *a = open_trail(path, 0, 0, true);
    struct counter c;
    counter_init(&c);
    pthread_t t[4];
    struct mt_arg m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (struct mt_arg){a, &c, i, 2500};
        pthread_create(&t[i], NULL, mt_append, &m[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(counter_wait(&c, 10000, 30000));
    struct sg_audit_stats s;
    sg_audit_stats(a, &s);
    assert_int_equal(s.records, 10000);
    assert_int_equal(s.seq, 10000);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.failures, 0);
    /* Many records per fsynced transaction. */
    assert_true(s.commits < 10000 / 4);
    assert_true(s.commit_us_sum >= s.last_commit_us);
    assert_true(s.checkpoints >= 10);
    sg_audit_close(a);
    assert_int_equal(c.ok, 10000);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.records, 10000);
    assert_int_equal(rep.signed_cps, rep.checkpoints);
    /* Each thread's records are in its append order. */
    for (int i = 0; i < 4; i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM (SELECT json_extract(content, '$.i') AS i, lag("
                 "json_extract(content, '$.i')) OVER (ORDER BY seq) AS p FROM records WHERE "
                 "json_extract(content, '$.thread') = %d) WHERE p IS NOT NULL AND i != p + 1",
                 i);
        assert_int_equal(db_int(path, sql), 0);
    }
    rmtree(d);
}

/* A done callback that blocks the writer thread until released. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
};

static void gate_done(void *arg, int rc)
{
    (void)rc;
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void test_queue_full(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit_opts o = {.path = path, .queue_max = 4, .queue_max_bytes = 200};
    struct sg_audit *a = NULL;
    struct sg_error err = {0};
    assert_int_equal(sg_audit_open(&o, &a, &err), 0);
    struct gate g = {.entered = false, .open = false};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    assert_int_equal(sg_audit_append(a, "{\"g\":1}", 7, gate_done, &g), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    /* The writer is held in the callback: the queue fills up. */
    struct counter c;
    counter_init(&c);
    for (int i = 0; i < 4; i++)
        assert_int_equal(append_str(a, "{\"q\":1}", &c), 0);
    assert_int_equal(append_str(a, "{\"q\":2}", &c), SG_ETOOBIG);
    assert_int_equal(c.total, 1); /* called from within the refused append */
    assert_int_equal(c.last_rc, SG_ETOOBIG);
    struct sg_audit_stats s;
    sg_audit_stats(a, &s);
    assert_int_equal(s.queued, 4);
    assert_int_equal(s.refused, 1);
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    assert_true(counter_wait(&c, 5, 10000));
    assert_int_equal(c.ok, 4);
    /* The byte limit: one record larger than 200 bytes cannot be queued at all. */
    char big[300];
    memset(big, 'x', sizeof(big));
    memcpy(big, "{\"b\":\"", 6);
    memcpy(big + sizeof(big) - 2, "\"}", 2);
    assert_int_equal(sg_audit_append(a, big, sizeof(big), counter_done, &c), SG_ETOOBIG);
    sg_audit_close(a);
    assert_int_equal(verify(path, NULL, NULL), 0);
    assert_int_equal(db_int(path, "SELECT count(*) FROM records"), 5);
    rmtree(d);
}

static void reappend(void *arg, int rc)
{
    struct counter *c = arg;
    if (rc == 0 && c->total == 0) {
        /* Appending from a done callback (the writer thread) is allowed. */
        assert_int_equal(sg_audit_append(*(struct sg_audit **)((char *)arg + sizeof(*c)),
                                         "{\"from\":\"callback\"}", 19, counter_done, c),
                         0);
    }
    counter_done(c, rc);
}

static void test_append_from_callback(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct {
        struct counter c;
        struct sg_audit *a;
    } x;
    counter_init(&x.c);
    x.a = open_trail(path, 0, 0, false);
    assert_int_equal(sg_audit_append(x.a, "{\"first\":1}", 11, reappend, &x), 0);
    assert_true(counter_wait(&x.c, 2, 10000));
    sg_audit_close(x.a);
    assert_int_equal(x.c.ok, 2);
    assert_int_equal(db_int(path, "SELECT count(*) FROM records"), 2);
    rmtree(d);
}

/* ---- the chain, independently ---- */

struct rows {
    uint64_t n;
    uint8_t prev[32];
    bool ok;
};

static int recompute(void *arg, const struct sg_audit_row *r)
{
    struct rows *x = arg;
    x->n++;
    if (r->seq != x->n || r->hash_len != 32)
        x->ok = false;
    /* hash_i = SHA-256(hash_{i-1} || content_i), computed here with OpenSSL's one-shot. */
    uint8_t *buf = malloc(32 + r->len);
    memcpy(buf, x->prev, 32);
    memcpy(buf + 32, r->content, r->len);
    uint8_t h[32];
    sg_sha256(buf, 32 + r->len, h);
    free(buf);
    if (memcmp(h, r->hash, 32) != 0)
        x->ok = false;
    char pre[64];
    int pn = snprintf(pre, sizeof(pre), "{\"seq\":%" PRIu64 ",\"ts\":\"%s\",", r->seq, r->ts);
    if (r->len < (size_t)pn || memcmp(r->content, pre, (size_t)pn) != 0)
        x->ok = false;
    memcpy(x->prev, h, 32);
    return 0;
}

static void test_chain_recompute(void **state)
{
    struct golden *g = *state;
    struct rows x = {.ok = true};
    struct sg_error err = {0};
    assert_int_equal(sg_audit_scan(g->path, NULL, recompute, &x, &err), 0);
    assert_true(x.ok);
    assert_int_equal(x.n, 50);
    /* The last checkpoint holds the last hash. */
    sqlite3 *db = db_open(g->path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT hash FROM checkpoints WHERE seq = 50", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_memory_equal(sqlite3_column_blob(st, 0), x.prev, 32);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Checks every checkpoint's signature with OpenSSL directly, over the documented text. */
static void test_checkpoints_by_count_signed(void **state)
{
    struct golden *g = *state;
    sqlite3 *db = db_open(g->path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT seq, hex(hash), ts, signature, key_id FROM "
                                        "checkpoints ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    char kid[SG_AUDIT_KEY_ID_STR];
    sg_audit_key_id(pub, kid);
    uint64_t expect = 10;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_int_equal(sqlite3_column_int64(st, 0), expect);
        char hex[65];
        snprintf(hex, sizeof(hex), "%s", (const char *)sqlite3_column_text(st, 1));
        for (char *p = hex; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
        char msg[200];
        int n = snprintf(msg, sizeof(msg), "sovgate-audit-checkpoint:1:%" PRIu64 ":%s:%s", expect,
                         hex, (const char *)sqlite3_column_text(st, 2));
        assert_int_equal(sqlite3_column_bytes(st, 3), 64);
        assert_string_equal((const char *)sqlite3_column_text(st, 4), kid);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k), 1);
        assert_int_equal(EVP_DigestVerify(ctx, sqlite3_column_blob(st, 3), 64,
                                          (const unsigned char *)msg, (size_t)n),
                         1);
        EVP_MD_CTX_free(ctx);
        expect += 10;
    }
    assert_int_equal(expect, 60);
    EVP_PKEY_free(k);
    sqlite3_finalize(st);
    sqlite3_close(db);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(g->path, pub, &rep), 0);
    assert_int_equal(rep.checkpoints, 5);
    assert_int_equal(rep.signed_cps, 5);
    assert_int_equal(strlen(rep.instance), 16);
}

static void test_checkpoints_by_time(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit *a = open_trail(path, 1000000, 150, true);
    write_records(a, 1, 5);
    assert_int_equal(db_int(path, "SELECT count(*) FROM checkpoints"), 0);
    /* Within the interval (plus slack for a slow machine) the writer signs the tail by
     * itself, with no further records coming in. */
    uint64_t end = now_ms() + 5000;
    while (db_int(path, "SELECT count(*) FROM checkpoints") == 0 && now_ms() < end)
        sleep_ms(20);
    assert_int_equal(db_int(path, "SELECT max(seq) FROM checkpoints"), 5);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.unsigned_tail, 0);
    struct sg_audit_stats s;
    sg_audit_stats(a, &s);
    assert_int_equal(s.checkpoints, 1);
    /* Idle with nothing unsigned: no more checkpoints. */
    sleep_ms(400);
    assert_int_equal(db_int(path, "SELECT count(*) FROM checkpoints"), 1);
    sg_audit_close(a);
    assert_int_equal(db_int(path, "SELECT count(*) FROM checkpoints"), 1);
    rmtree(d);
}

static void test_restart_continues_chain(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit *a = open_trail(path, 7, 60000, true);
    write_records(a, 1, 10);
    char inst[17];
    snprintf(inst, sizeof(inst), "%s", sg_audit_instance(a));
    sg_audit_close(a);
    a = open_trail(path, 7, 60000, true);
    assert_string_equal(sg_audit_instance(a), inst);
    write_records(a, 11, 10);
    struct sg_audit_stats s;
    sg_audit_stats(a, &s);
    assert_int_equal(s.seq, 20);
    assert_int_equal(s.records, 10);
    sg_audit_close(a);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.records, 20);
    assert_int_equal(rep.last_seq, 20);
    /* Reopening with another key (rotation) goes on; verifying needs each key for its part,
     * so with one key the other's checkpoints are reported. */
    uint8_t other[32];
    assert_int_equal(sg_audit_key_generate(other), 0);
    struct sg_audit_opts o = {.path = path, .signing_key = other, .checkpoint_every = 7};
    struct sg_error err = {0};
    assert_int_equal(sg_audit_open(&o, &a, &err), 0);
    write_records(a, 21, 3);
    sg_audit_close(a);
    assert_int_equal(verify(path, NULL, &rep), 0);
    assert_int_equal(verify(path, pub, &rep), SG_EINVAL);
    assert_int_equal(rep.bad_seq, 23);
    rmtree(d);
}

/* Key rotation (docs/audit.md, Keys): the older checkpoints carry the retired key's id, the
 * newer ones the current key's. With every public key, oldest first, the whole trail
 * verifies; a retired key cannot vouch for what follows its successor, and the writer
 * state must be the current (last) key's. */
static void test_key_rotation_verifies_with_every_key(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit *a = open_trail(path, 7, 60000, true);
    write_records(a, 1, 10); /* checkpoints 7 and 10 (close), by the first key */
    sg_audit_close(a);
    uint8_t other[32], other_pub[32];
    assert_int_equal(sg_audit_key_generate(other), 0);
    assert_int_equal(sg_audit_key_public(other, other_pub), 0);
    struct sg_audit_opts o = {.path = path, .signing_key = other, .checkpoint_every = 7};
    struct sg_error err = {0};
    assert_int_equal(sg_audit_open(&o, &a, &err), 0);
    write_records(a, 11, 10); /* checkpoints 17 and 20, by the second key */
    sg_audit_close(a);

    uint8_t both[2 * SG_AUDIT_KEY_LEN], rev[2 * SG_AUDIT_KEY_LEN];
    memcpy(both, pub, 32);
    memcpy(both + 32, other_pub, 32);
    memcpy(rev, other_pub, 32);
    memcpy(rev + 32, pub, 32);
    struct sg_audit_verify_report rep;
    memset(&rep, 0, sizeof(rep));
    int rc = sg_audit_verify_keys(path, both, 2, &rep, &err);
    if (rc)
        fprintf(stderr, "verify: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(rep.records, 20);
    assert_int_equal(rep.signed_cps, 4);
    /* Each key alone: the other's checkpoints are reported. */
    assert_int_equal(sg_audit_verify_keys(path, both, 1, &rep, &err), SG_EINVAL);
    assert_int_equal(rep.bad_seq, 17);
    assert_int_equal(sg_audit_verify_keys(path, both + 32, 1, &rep, &err), SG_EINVAL);
    assert_int_equal(rep.bad_seq, 7);
    /* In the wrong order: the retired key would vouch for what follows its successor. */
    assert_int_equal(sg_audit_verify_keys(path, rev, 2, &rep, &err), SG_EINVAL);
    assert_int_equal(rep.bad_seq, 17);
    /* A checkpoint after the rotation re-signed with the retired key (its holder forging
     * the newer part): refused, it cannot follow the newer key's checkpoint. */
    char fork[600];
    snprintf(fork, sizeof(fork), "%s/fork.db", d);
    copy_trail(path, fork);
    {
        EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
        sqlite3 *db = db_open(fork);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT lower(hex(hash)), ts FROM checkpoints WHERE "
                                            "seq = 20",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        char msg[200];
        int n = snprintf(msg, sizeof(msg), "sovgate-audit-checkpoint:1:20:%s:%s",
                         (const char *)sqlite3_column_text(st, 0),
                         (const char *)sqlite3_column_text(st, 1));
        sqlite3_finalize(st);
        uint8_t sig[64];
        size_t sl = 64;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)msg, (size_t)n), 1);
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(k);
        char kid[SG_AUDIT_KEY_ID_STR];
        sg_audit_key_id(pub, kid);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "UPDATE checkpoints SET signature = ?1, key_id = ?2 "
                                            "WHERE seq = 20",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_blob(st, 1, sig, 64, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, kid, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(sg_audit_verify_keys(fork, both, 2, &rep, &err), SG_EINVAL);
    assert_int_equal(rep.bad_seq, 20);
    /* The writer state is the current key's: the last one given must have signed it. */
    uint8_t three[3 * SG_AUDIT_KEY_LEN], third[32];
    assert_int_equal(sg_audit_key_generate(third), 0);
    memcpy(three, both, 64);
    assert_int_equal(sg_audit_key_public(third, three + 64), 0);
    assert_int_equal(sg_audit_verify_keys(path, three, 3, &rep, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "writer state"));
    rmtree(d);
}

/* ---- tampering ---- */

static void expect_bad(const char *path, const uint8_t *key, uint64_t bad_seq)
{
    struct sg_audit_verify_report rep;
    struct sg_error err = {0};
    int rc = sg_audit_verify(path, key, &rep, &err);
    if (rc != SG_EINVAL || rep.bad_seq != bad_seq)
        fprintf(stderr, "expected bad seq %" PRIu64 ", got rc %d seq %" PRIu64 ": %s\n", bad_seq,
                rc, rep.bad_seq, err.msg);
    assert_int_equal(rc, SG_EINVAL);
    assert_int_equal(rep.bad_seq, bad_seq);
    assert_true(strlen(err.msg) > 10);
}

static void test_tamper_flip_content_every_record(void **state)
{
    struct golden *g = *state;
    uint32_t rnd = 12345;
    for (uint64_t seq = 1; seq <= 50; seq++) {
        const char *w = fresh(g);
        size_t n = content_len(w, seq);
        rnd = rnd * 1103515245u + 12345u;
        flip(w, "records", "content", seq, (rnd >> 8) % n, 0x01);
        expect_bad(w, NULL, seq);
        expect_bad(w, pub, seq);
    }
}

static void test_tamper_flip_every_byte_of_one_record(void **state)
{
    struct golden *g = *state;
    size_t n = content_len(g->path, 17);
    for (size_t pos = 0; pos < n; pos++) {
        for (int bit = 0; bit < 8; bit += 7) {
            const char *w = fresh(g);
            flip(w, "records", "content", 17, pos, (uint8_t)(1u << bit));
            expect_bad(w, NULL, 17);
        }
    }
}

static void test_tamper_flip_hash_every_record(void **state)
{
    struct golden *g = *state;
    for (uint64_t seq = 1; seq <= 50; seq++) {
        const char *w = fresh(g);
        flip(w, "records", "hash", seq, (size_t)(seq * 7 % 32), 0x80);
        expect_bad(w, NULL, seq);
    }
}

static void test_tamper_delete_each_row(void **state)
{
    struct golden *g = *state;
    for (uint64_t seq = 1; seq <= 50; seq++) {
        const char *w = fresh(g);
        sqlite3 *db = db_open(w);
        char sql[96];
        snprintf(sql, sizeof(sql), "DELETE FROM records WHERE seq = %" PRIu64, seq);
        db_exec(db, sql);
        sqlite3_close(db);
        /* A hole is reported where it is; the last record is covered by the checkpoint at
         * 50, which then points past the end. */
        expect_bad(w, NULL, seq);
    }
}

static void test_tamper_truncate_tail(void **state)
{
    struct golden *g = *state;
    const char *w = fresh(g);
    sqlite3 *db = db_open(w);
    db_exec(db, "DELETE FROM records WHERE seq > 25");
    sqlite3_close(db);
    expect_bad(w, NULL, 30);
    /* Also without the checkpoints after the cut except one: still caught. */
    w = fresh(g);
    db = db_open(w);
    db_exec(db, "DELETE FROM records WHERE seq > 41; DELETE FROM checkpoints WHERE seq = 40");
    sqlite3_close(db);
    expect_bad(w, NULL, 50);
    /* Deleting the whole trail but the checkpoints: caught. */
    w = fresh(g);
    db = db_open(w);
    db_exec(db, "DELETE FROM records");
    sqlite3_close(db);
    expect_bad(w, NULL, 10);
}

static void test_tamper_reorder(void **state)
{
    struct golden *g = *state;
    for (uint64_t seq = 1; seq < 50; seq++) {
        const char *w = fresh(g);
        sqlite3 *db = db_open(w);
        char sql[512];
        /* Swap two neighbours' whole rows but keep the seq column in order. */
        snprintf(
            sql, sizeof(sql),
            "CREATE TEMP TABLE t AS SELECT * FROM records WHERE seq IN (%" PRIu64 ", %" PRIu64 ");"
            "UPDATE records SET ts = (SELECT ts FROM t WHERE t.seq = %" PRIu64
            "), content = (SELECT content FROM t WHERE t.seq = %" PRIu64
            "), hash = (SELECT hash FROM t WHERE t.seq = %" PRIu64 ") WHERE seq = %" PRIu64 ";"
            "UPDATE records SET ts = (SELECT ts FROM t WHERE t.seq = %" PRIu64
            "), content = (SELECT content FROM t WHERE t.seq = %" PRIu64
            "), hash = (SELECT hash FROM t WHERE t.seq = %" PRIu64 ") WHERE seq = %" PRIu64 ";",
            seq, seq + 1, seq + 1, seq + 1, seq + 1, seq, seq, seq, seq, seq + 1);
        db_exec(db, sql);
        sqlite3_close(db);
        expect_bad(w, NULL, seq);
    }
    /* Renumbering instead (the rows' seq swapped): caught too. */
    const char *w = fresh(g);
    sqlite3 *db = db_open(w);
    db_exec(db, "UPDATE records SET seq = -1 WHERE seq = 5; UPDATE records SET seq = 5 WHERE "
                "seq = 6; UPDATE records SET seq = 6 WHERE seq = -1");
    sqlite3_close(db);
    expect_bad(w, NULL, 5);
}

/* Rewrites record `seq` and recomputes every later hash and every checkpoint hash (and
 * with `state`, the writer state's hash): what an attacker with write access but without
 * the key can do. */
static void rewrite_chain(const char *path, uint64_t seq, bool state)
{
    sqlite3 *db = db_open(path);
    sqlite3_stmt *st = NULL, *up = NULL;
    uint8_t prev[32] = {0};
    char sql[256], last_hex[65] = "";
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT lower(hex(hash)) FROM records ORDER BY seq DESC "
                                        "LIMIT 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(last_hex, sizeof(last_hex), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    snprintf(sql, sizeof(sql), "SELECT hash FROM records WHERE seq = %" PRIu64, seq - 1);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        memcpy(prev, sqlite3_column_blob(st, 0), 32);
    sqlite3_finalize(st);
    db_exec(db, "BEGIN");
    snprintf(sql, sizeof(sql),
             "UPDATE records SET content = replace(content, '\"msg\":\"record', "
             "'\"msg\":\"forged') WHERE seq = %" PRIu64,
             seq);
    db_exec(db, sql);
    snprintf(sql, sizeof(sql),
             "SELECT seq, content FROM records WHERE seq >= %" PRIu64 " ORDER BY seq", seq);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "UPDATE records SET hash = ?1 WHERE seq = ?2", -1, &up, NULL),
        SQLITE_OK);
    sqlite3_stmt *cp = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "UPDATE checkpoints SET hash = ?1 WHERE seq = ?2", -1, &cp, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        uint8_t *buf = malloc(32 + n);
        memcpy(buf, prev, 32);
        memcpy(buf + 32, sqlite3_column_blob(st, 1), n);
        sg_sha256(buf, 32 + n, prev);
        free(buf);
        sqlite3_bind_blob(up, 1, prev, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int64(up, 2, sqlite3_column_int64(st, 0));
        assert_int_equal(sqlite3_step(up), SQLITE_DONE);
        sqlite3_reset(up);
        sqlite3_bind_blob(cp, 1, prev, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int64(cp, 2, sqlite3_column_int64(st, 0));
        assert_int_equal(sqlite3_step(cp), SQLITE_DONE);
        sqlite3_reset(cp);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    sqlite3_finalize(cp);
    /* The writer state names the last record's hash: the attacker rewrites that too (its
     * signature then no longer verifies). */
    char new_hex[65];
    sg_hex_encode(prev, 32, new_hex);
    snprintf(sql, sizeof(sql),
             "UPDATE meta SET value = replace(value, '%s', '%s') WHERE key = 'writer_state'",
             last_hex, new_hex);
    if (state)
        db_exec(db, sql);
    db_exec(db, "COMMIT");
    sqlite3_close(db);
}

static void rewrite_chain_from(const char *path, uint64_t seq)
{
    rewrite_chain(path, seq, true);
}

static void test_tamper_forged_chain_and_checkpoints(void **state)
{
    struct golden *g = *state;
    const char *w = fresh(g);
    rewrite_chain_from(w, 15);
    /* The hash chain alone cannot tell (this is what the signatures are for) ... */
    assert_int_equal(verify(w, NULL, NULL), 0);
    /* ... the key can: the first checkpoint after the rewrite has a stale signature. */
    expect_bad(w, pub, 20);

    /* A forged checkpoint with the right hash but a made-up signature. */
    w = fresh(g);
    sqlite3 *db = db_open(w);
    char kid[SG_AUDIT_KEY_ID_STR];
    sg_audit_key_id(pub, kid);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO checkpoints SELECT seq, hash, ts, randomblob(64), '%s' FROM records "
             "WHERE seq = 25",
             kid);
    db_exec(db, sql);
    sqlite3_close(db);
    assert_int_equal(verify(w, NULL, NULL), 0);
    expect_bad(w, pub, 25);

    /* A checkpoint re-signed with another key but labelled with the right key id. */
    w = fresh(g);
    rewrite_chain_from(w, 31);
    uint8_t other[32];
    assert_int_equal(sg_audit_key_generate(other), 0);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, other, 32);
    db = db_open(w);
    sqlite3_stmt *st = NULL, *up = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT seq, hex(hash), ts FROM checkpoints", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE checkpoints SET signature = ?1 WHERE seq = ?2",
                                        -1, &up, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char hex[65], msg[200];
        snprintf(hex, sizeof(hex), "%s", (const char *)sqlite3_column_text(st, 1));
        for (char *p = hex; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
        int n = snprintf(msg, sizeof(msg), "sovgate-audit-checkpoint:1:%lld:%s:%s",
                         (long long)sqlite3_column_int64(st, 0), hex,
                         (const char *)sqlite3_column_text(st, 2));
        uint8_t sig[64];
        size_t sl = 64;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)msg, (size_t)n), 1);
        EVP_MD_CTX_free(ctx);
        sqlite3_bind_blob(up, 1, sig, 64, SQLITE_TRANSIENT);
        sqlite3_bind_int64(up, 2, sqlite3_column_int64(st, 0));
        assert_int_equal(sqlite3_step(up), SQLITE_DONE);
        sqlite3_reset(up);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    sqlite3_close(db);
    EVP_PKEY_free(k);
    expect_bad(w, pub, 10);

    /* Each checkpoint's signature or hash altered. */
    for (uint64_t seq = 10; seq <= 50; seq += 10) {
        w = fresh(g);
        flip(w, "checkpoints", "signature", seq, 5, 0x04);
        assert_int_equal(verify(w, NULL, NULL), 0);
        expect_bad(w, pub, seq);
        w = fresh(g);
        flip(w, "checkpoints", "hash", seq, 31, 0x01);
        expect_bad(w, NULL, seq);
        w = fresh(g);
        flip(w, "checkpoints", "ts", seq, 20, 0x01);
        expect_bad(w, pub, seq);
    }
    /* An unsigned checkpoint where a key is expected. */
    w = fresh(g);
    db = db_open(w);
    db_exec(db, "UPDATE checkpoints SET signature = NULL WHERE seq = 30");
    sqlite3_close(db);
    expect_bad(w, pub, 30);
}

static void test_tamper_wrong_key(void **state)
{
    struct golden *g = *state;
    uint8_t other[32], other_pub[32];
    assert_int_equal(sg_audit_key_generate(other), 0);
    assert_int_equal(sg_audit_key_public(other, other_pub), 0);
    expect_bad(g->path, other_pub, 10);
    /* And an unsigned trail given a key fails at its first checkpoint. */
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit *a = open_trail(path, 3, 60000, false);
    write_records(a, 1, 4);
    sg_audit_close(a);
    assert_int_equal(verify(path, NULL, NULL), 0);
    expect_bad(path, pub, 3);
    rmtree(d);
}

static void test_tamper_file_level(void **state)
{
    struct golden *g = *state;
    struct sg_error err = {0};
    /* A truncated file. */
    const char *w = fresh(g);
    struct stat st;
    assert_int_equal(stat(w, &st), 0);
    assert_int_equal(truncate(w, st.st_size / 2), 0);
    int rc = sg_audit_verify(w, pub, NULL, &err);
    assert_true(rc == SG_EINVAL || rc == SG_EIO);
    assert_int_not_equal(rc, 0);
    /* Garbage. */
    FILE *f = fopen(g->work, "wb");
    for (int i = 0; i < 10000; i++)
        fputc(i * 7 % 251, f);
    fclose(f);
    assert_int_not_equal(sg_audit_verify(g->work, pub, NULL, &err), 0);
    /* Another application's SQLite database. */
    unlink(g->work);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(g->work, &db), SQLITE_OK);
    db_exec(db, "CREATE TABLE records (x); INSERT INTO records VALUES (1)");
    sqlite3_close(db);
    assert_int_equal(sg_audit_verify(g->work, pub, NULL, &err), SG_EINVAL);
    /* A format from the future. */
    w = fresh(g);
    db = db_open(w);
    db_exec(db, "UPDATE meta SET value = '2' WHERE key = 'format'");
    sqlite3_close(db);
    assert_int_equal(sg_audit_verify(w, pub, NULL, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "format"));
    /* A missing file. */
    assert_int_not_equal(sg_audit_verify("/nonexistent/audit.db", NULL, NULL, &err), 0);
}

/* ---- opening damaged files ---- */

static void test_open_refuses_damaged(void **state)
{
    struct golden *g = *state;
    struct sg_audit *a = NULL;
    struct sg_error err = {0};
    struct sg_audit_opts o = {.path = g->work, .signing_key = seed};
    /* The last record altered: the tail does not recompute. */
    const char *w = fresh(g);
    flip(w, "records", "content", 50, 30, 0x02);
    assert_int_equal(sg_audit_open(&o, &a, &err), SG_EINVAL);
    assert_null(a);
    /* Truncated before a checkpoint. */
    w = fresh(g);
    sqlite3 *db = db_open(w);
    db_exec(db, "DELETE FROM records WHERE seq > 45");
    sqlite3_close(db);
    assert_int_equal(sg_audit_open(&o, &a, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "checkpoint"));
    /* Garbage and foreign databases are never written into. */
    FILE *f = fopen(g->work, "wb");
    fputs("this is not a database, but it is long enough to look like a header........"
          "...............................................................................",
          f);
    fclose(f);
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", g->work);
    unlink(wal);
    assert_int_equal(sg_audit_open(&o, &a, &err), SG_EINVAL);
    unlink(g->work);
    db = NULL;
    assert_int_equal(sqlite3_open(g->work, &db), SQLITE_OK);
    db_exec(db, "CREATE TABLE wp_posts (id)");
    sqlite3_close(db);
    assert_int_equal(sg_audit_open(&o, &a, &err), SG_EINVAL);
    assert_int_equal(db_int(g->work, "SELECT count(*) FROM sqlite_master"), 1);
    /* A directory that does not exist. */
    o.path = "/nonexistent-dir/audit.db";
    assert_int_equal(sg_audit_open(&o, &a, &err), SG_EIO);
    o.path = NULL;
    assert_int_equal(sg_audit_open(&o, &a, &err), SG_EINVAL);
    sg_audit_close(NULL);
}

/* ---- failed store: fail closed, recover ---- */

static bool wait_healthy(struct sg_audit *a, bool want, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (sg_audit_healthy(a) != want && now_ms() < end)
        sleep_ms(10);
    return sg_audit_healthy(a) == want;
}

static void test_failed_store_replaced_file(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512], bak[600];
    path_in(path, sizeof(path), d, "t.db");
    snprintf(bak, sizeof(bak), "%s.moved", path);
    struct sg_audit *a = open_trail(path, 10, 60000, true);
    write_records(a, 1, 12);
    /* Someone moves the trail away and puts garbage in its place. */
    assert_int_equal(rename(path, bak), 0);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 8192; i++)
        fputc('G', f);
    fclose(f);
    struct counter c;
    counter_init(&c);
    assert_int_equal(append_str(a, "{\"after\":\"replace\"}", &c), 0);
    assert_true(counter_wait(&c, 1, 10000));
    assert_int_equal(c.last_rc, SG_EIO); /* never reported durable */
    assert_false(sg_audit_healthy(a));
    /* Fail closed: refused at once, from within the call. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(append_str(a, "{\"while\":\"failed\"}", &c), SG_EIO);
    assert_int_equal(c.total, 6);
    sleep_ms(200); /* several retries fail against the garbage */
    assert_false(sg_audit_healthy(a));
    /* The operator puts the trail back: the writer recovers by itself. */
    assert_int_equal(rename(bak, path), 0);
    assert_true(wait_healthy(a, true, 10000));
    assert_int_equal(append_str(a, "{\"after\":\"recovery\"}", &c), 0);
    assert_true(counter_wait(&c, 7, 10000));
    assert_int_equal(c.last_rc, 0);
    struct sg_audit_stats s;
    sg_audit_stats(a, &s);
    assert_true(s.failures >= 1);
    assert_int_equal(s.refused, 6);
    sg_audit_close(a);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.records, 14); /* 12 + the recovery record + 1 */
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE json_extract(content, "
                                  "'$.event') = 'audit.recovered' AND json_extract(content, "
                                  "'$.refused') = 5 AND seq = 13"),
                     1);
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE content LIKE "
                                  "'%failed%' AND content LIKE '%while%'"),
                     0);
    rmtree(d);
}

static void test_failed_store_removed_file(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512], bak[600];
    path_in(path, sizeof(path), d, "t.db");
    snprintf(bak, sizeof(bak), "%s.moved", path);
    struct sg_audit *a = open_trail(path, 10, 60000, false);
    write_records(a, 1, 3);
    assert_int_equal(rename(path, bak), 0);
    struct counter c;
    counter_init(&c);
    assert_int_equal(append_str(a, "{\"x\":1}", &c), 0);
    assert_true(counter_wait(&c, 1, 10000));
    assert_int_equal(c.last_rc, SG_EIO);
    sleep_ms(200);
    /* A new, empty trail is never made in its place behind the operator's back. */
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(rename(bak, path), 0);
    assert_true(wait_healthy(a, true, 10000));
    sg_audit_close(a);
    assert_int_equal(verify(path, NULL, NULL), 0);
    rmtree(d);
}

/* Disk full: the trail on a 2 MiB tmpfs in a private mount namespace (needs root or
 * CAP_SYS_ADMIN; skipped otherwise). */
static void test_failed_store_disk_full(void **state)
{
    (void)state;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "skipped: cannot make a mount namespace (%s)\n", strerror(errno));
        skip();
    }
    char *d = tmpdir(), path[512], filler[512];
    if (mount("sgaudit", d, "tmpfs", 0, "size=2m,mode=0700") != 0) {
        fprintf(stderr, "skipped: cannot mount a tmpfs (%s)\n", strerror(errno));
        rmtree(d);
        skip();
    }
    path_in(path, sizeof(path), d, "t.db");
    path_in(filler, sizeof(filler), d, "filler");
    struct sg_audit *a = open_trail(path, 100, 60000, true);
    write_records(a, 1, 20);
    /* Fill the file system. */
    int fd = open(filler, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    char block[4096];
    memset(block, 'F', sizeof(block));
    while (write(fd, block, sizeof(block)) > 0)
        ;
    assert_int_equal(errno, ENOSPC);
    close(fd);
    /* Records of 2 KiB until the WAL cannot grow: the first failure is reported and the
     * trail fails closed. */
    char rec[2100];
    memset(rec, 'r', sizeof(rec));
    memcpy(rec, "{\"big\":\"", 8);
    memcpy(rec + sizeof(rec) - 2, "\"}", 2);
    struct counter c;
    counter_init(&c);
    unsigned sent = 0;
    for (; sent < 5000; sent++) {
        if (sg_audit_append(a, rec, sizeof(rec), counter_done, &c) != 0)
            break;
        if (sent % 8 == 7)
            assert_true(counter_wait(&c, sent + 1, 10000));
    }
    assert_true(sent < 5000);
    assert_true(counter_wait(&c, sent + 1, 10000));
    assert_true(c.bad >= 1);
    assert_false(sg_audit_healthy(a));
    assert_int_equal(append_str(a, "{\"while\":\"full\"}", NULL), SG_EIO);
    unsigned durable = c.ok;
    /* Space comes back: the writer recovers and records the outage in the chain. */
    assert_int_equal(unlink(filler), 0);
    assert_true(wait_healthy(a, true, 10000));
    write_records(a, 1000, 5);
    sg_audit_close(a);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    /* Every record reported durable is there (plus the recovery record). */
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE content LIKE "
                                  "'%\"big\":%'"),
                     durable);
    assert_int_equal(rep.records, 20 + durable + 1 + 5);
    assert_int_equal(umount(d), 0);
    rmtree(d);
}

/* ---- the unsigned tail, the writer state, recovery from a rolled-back file ---- */

/* Like expect_bad, and the message names `needle`. */
static void expect_bad_msg(const char *path, const uint8_t *key, uint64_t bad_seq,
                           const char *needle)
{
    expect_bad(path, key, bad_seq);
    struct sg_error err = {0};
    assert_int_equal(sg_audit_verify(path, key, NULL, &err), SG_EINVAL);
    if (!strstr(err.msg, needle))
        fprintf(stderr, "expected \"%s\" in: %s\n", needle, err.msg);
    assert_non_null(strstr(err.msg, needle));
}

static void exec_on(const char *path, const char *sql)
{
    sqlite3 *db = db_open(path);
    db_exec(db, sql);
    sqlite3_close(db);
}

/* Appends record `seq` as a forger without the key would: well-formed, its hash chained to
 * the record before it. */
static void append_raw(const char *path, uint64_t seq)
{
    sqlite3 *db = db_open(path);
    sqlite3_stmt *st = NULL;
    char sql[160], content[256];
    snprintf(sql, sizeof(sql), "SELECT hash, ts FROM records WHERE seq = %" PRIu64, seq - 1);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    uint8_t buf[32 + sizeof(content)], h[32];
    char ts[32];
    memcpy(buf, sqlite3_column_blob(st, 0), 32);
    snprintf(ts, sizeof(ts), "%s", (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    int n = snprintf(content, sizeof(content), "{\"seq\":%" PRIu64 ",\"ts\":\"%s\",\"forged\":1}",
                     seq, ts);
    memcpy(buf + 32, content, (size_t)n);
    sg_sha256(buf, 32 + (size_t)n, h);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO records (seq, ts, content, hash) VALUES "
                                        "(?1, ?4, ?2, ?3)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(st, 2, content, n, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, h, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ts, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* What a crash (kill -9, power loss) leaves: `n` records written with a checkpoint every
 * `every` (none by time), the file and its WAL copied to `dst` while the writer was open
 * and idle, never closed. */
static void make_crash_image(const char *dir, const char *dst, uint32_t every, unsigned n)
{
    char live[600];
    snprintf(live, sizeof(live), "%s/live-%u-%u.db", dir, every, n);
    struct sg_audit *a = open_trail(live, every, 600000, true);
    write_records(a, 1, n);
    copy_trail(live, dst);
    sg_audit_close(a);
}

static void open_refused(const char *path, const char *needle)
{
    struct sg_audit_opts o = {.path = path, .signing_key = seed, .checkpoint_every = 10};
    struct sg_audit *a = NULL;
    struct sg_error err = {0};
    int rc = sg_audit_open(&o, &a, &err);
    if (rc != SG_EINVAL || !strstr(err.msg, needle))
        fprintf(stderr, "expected open to refuse with \"%s\": rc %d: %s\n", needle, rc, err.msg);
    assert_int_equal(rc, SG_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.msg, needle));
}

/* A crash tail shorter than the writer's cadence verifies (reported as unsigned); one that
 * only removed checkpoints can explain does not. */
static void test_verify_tail_rule(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512], w[512];
    path_in(path, sizeof(path), d, "crash.db");
    path_in(w, sizeof(w), d, "w.db");
    make_crash_image(d, path, 10, 25); /* checkpoints at 10 and 20; 21..25 unsigned */
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.unsigned_tail, 5);
    assert_string_equal(rep.state, "open");
    assert_int_equal(rep.state_seq, 0);
    assert_int_equal(rep.checkpoint_every, 10);
    assert_int_equal(verify(path, NULL, &rep), 0);
    /* The last checkpoint removed: 15 unsigned records, more than a writer that signs
     * every 10 leaves. */
    copy_trail(path, w);
    exec_on(w, "DELETE FROM checkpoints WHERE seq = 20");
    expect_bad_msg(w, pub, 11, "checkpoint_every 10");
    expect_bad(w, NULL, 11);
    copy_trail(path, w);
    exec_on(w, "DELETE FROM checkpoints");
    expect_bad(w, pub, 1);
    /* The writer state removed as well (or only it): a crash can no longer be told from
     * removed checkpoints. */
    copy_trail(path, w);
    exec_on(w, "DELETE FROM checkpoints WHERE seq = 20; DELETE FROM meta WHERE key LIKE "
               "'writer_state%'");
    expect_bad_msg(w, pub, 11, "no writer state");
    copy_trail(path, w);
    exec_on(w, "DELETE FROM meta WHERE key LIKE 'writer_state%'");
    expect_bad_msg(w, pub, 21, "no writer state");
    /* The state's cadence raised to cover the gap: its signature no longer verifies. */
    copy_trail(path, w);
    exec_on(w, "DELETE FROM checkpoints WHERE seq = 20; UPDATE meta SET value = substr(value, "
               "1, length(value) - 27) || '1000' || substr(value, length(value) - 24) WHERE "
               "key = 'writer_state'");
    assert_int_equal(verify(w, NULL, &rep), 0); /* hashes only: the edit is consistent */
    expect_bad_msg(w, pub, 0, "writer state");
    /* A state signature altered; a state copied from another trail. */
    copy_trail(path, w);
    exec_on(w, "UPDATE meta SET value = (CASE WHEN substr(value, 1, 1) = '0' THEN '1' ELSE "
               "'0' END) || substr(value, 2) WHERE key = 'writer_state_signature'");
    assert_int_equal(verify(w, NULL, &rep), 0);
    expect_bad_msg(w, pub, 0, "signature");
    copy_trail(path, w);
    exec_on(w, "UPDATE meta SET value = '0123456789abcdef' WHERE key = 'instance'");
    expect_bad_msg(w, NULL, 0, "instance");
    rmtree(d);
}

/* A trail closed cleanly has no unsigned record; the review's reproduction: all
 * checkpoints deleted, record 2 rewritten, the chain recomputed, record 3 dropped. */
static void test_verify_closed_trail(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512], w[512];
    path_in(path, sizeof(path), d, "t.db");
    path_in(w, sizeof(w), d, "w.db");
    struct sg_audit *a = open_trail(path, 0, 0, true); /* the defaults: 1000 records, 10 s */
    write_records(a, 1, 3);
    sg_audit_close(a);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.unsigned_tail, 0);
    assert_string_equal(rep.state, "closed");
    assert_int_equal(rep.state_seq, 3);
    copy_trail(path, w);
    exec_on(w, "DELETE FROM checkpoints");
    rewrite_chain_from(w, 2);
    exec_on(w, "DELETE FROM records WHERE seq = 3");
    expect_bad_msg(w, NULL, 3, "closed");
    /* (rewrite_chain_from also rewrote the state's hash, so its signature fails first) */
    expect_bad_msg(w, pub, 0, "writer state");
    /* The review's steps exactly, the state left as the writer wrote it. */
    copy_trail(path, w);
    exec_on(w, "DELETE FROM checkpoints");
    rewrite_chain(w, 2, false);
    exec_on(w, "DELETE FROM records WHERE seq = 3");
    expect_bad_msg(w, pub, 3, "closed");
    expect_bad(w, NULL, 3);
    /* ... and with the writer state deleted too. */
    exec_on(w, "DELETE FROM meta WHERE key LIKE 'writer_state%'");
    expect_bad_msg(w, pub, 1, "no writer state");
    /* Only the final checkpoint removed: 3 unsigned records after a clean close. */
    copy_trail(path, w);
    exec_on(w, "DELETE FROM checkpoints");
    expect_bad_msg(w, pub, 1, "closed");
    /* Truncated at a checkpoint, the records and checkpoints after it deleted. */
    path_in(path, sizeof(path), d, "t2.db");
    a = open_trail(path, 10, 600000, true);
    write_records(a, 1, 25); /* checkpoints at 10, 20 and (close) 25 */
    sg_audit_close(a);
    copy_trail(path, w);
    exec_on(w, "DELETE FROM records WHERE seq > 20; DELETE FROM checkpoints WHERE seq > 20");
    expect_bad_msg(w, pub, 21, "closed");
    open_refused(w, "closed");
    /* A well-formed record appended after the close without the writer. */
    copy_trail(path, w);
    append_raw(w, 26);
    expect_bad_msg(w, pub, 26, "closed");
    expect_bad(w, NULL, 26);
    open_refused(w, "closed");
    assert_int_equal(db_int(w, "SELECT max(seq) FROM checkpoints"), 25); /* never signed */
    rmtree(d);
}

/* The writer never signs a tail that does not verify. */
static void test_open_refuses_forged_tail(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512], w[512];
    path_in(path, sizeof(path), d, "crash.db");
    path_in(w, sizeof(w), d, "w.db");
    make_crash_image(d, path, 10, 25);
    /* A record in the unsigned tail altered, not the last one. */
    copy_trail(path, w);
    flip(w, "records", "content", 23, 30, 0x02);
    open_refused(w, "record 23");
    assert_int_equal(db_int(w, "SELECT max(seq) FROM checkpoints"), 20); /* nothing signed */
    /* Its stored hash altered instead. */
    copy_trail(path, w);
    flip(w, "records", "hash", 22, 3, 0x10);
    open_refused(w, "record 22");
    assert_int_equal(db_int(w, "SELECT max(seq) FROM checkpoints"), 20);
    /* The last checkpoint's signature forged (under this key's id). */
    copy_trail(path, w);
    flip(w, "checkpoints", "signature", 20, 5, 0x04);
    open_refused(w, "signature");
    assert_int_equal(db_int(w, "SELECT max(seq) FROM checkpoints"), 20);
    /* A checkpoint removed: more unsigned records than the cadence. */
    copy_trail(path, w);
    exec_on(w, "DELETE FROM checkpoints WHERE seq = 20");
    open_refused(w, "checkpoint_every 10");
    assert_int_equal(db_int(w, "SELECT count(*) FROM checkpoints"), 1);
    /* The writer state removed, or its signature altered. */
    copy_trail(path, w);
    exec_on(w, "DELETE FROM meta WHERE key LIKE 'writer_state%'");
    open_refused(w, "no writer state");
    copy_trail(path, w);
    exec_on(w, "UPDATE meta SET value = (CASE WHEN substr(value, 1, 1) = '0' THEN '1' ELSE "
               "'0' END) || substr(value, 2) WHERE key = 'writer_state_signature'");
    open_refused(w, "signature");
    assert_int_equal(db_int(w, "SELECT max(seq) FROM checkpoints"), 20);
    /* Untouched: the crash tail is signed at open and the chain goes on. */
    copy_trail(path, w);
    struct sg_audit *a = open_trail(w, 10, 600000, true);
    assert_int_equal(db_int(w, "SELECT max(seq) FROM checkpoints"), 25);
    write_records(a, 26, 2);
    sg_audit_close(a);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(w, pub, &rep), 0);
    assert_int_equal(rep.records, 27);
    assert_int_equal(rep.unsigned_tail, 0);
    assert_string_equal(rep.state, "closed");
    assert_int_equal(rep.state_seq, 27);
    rmtree(d);
}

/* Puts `src` in place of the trail at `path` the way an operator restoring a copy does:
 * the old WAL and index go, the copy is renamed into place. */
static void replace_trail(const char *path, const char *src)
{
    char tmp[600], side[600];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    copy_file(src, tmp);
    assert_int_equal(rename(tmp, path), 0);
}

static void expect_stays_failed(struct sg_audit *a, uint64_t seq)
{
    struct counter c;
    counter_init(&c);
    /* Queued and failed by the writer, or refused at once when the trail is failed already. */
    int rc = append_str(a, "{\"after\":\"replace\"}", &c);
    assert_true(rc == 0 || rc == SG_EIO);
    assert_true(counter_wait(&c, 1, 10000));
    assert_int_equal(c.last_rc, SG_EIO);
    sleep_ms(400); /* several retries against the copy */
    assert_false(sg_audit_healthy(a));
    assert_int_equal(append_str(a, "{\"while\":\"failed\"}", NULL), SG_EIO);
    struct sg_audit_stats s;
    sg_audit_stats(a, &s);
    assert_int_equal(s.seq, seq);
}

/* A failed store is recovered only from a file that still holds the last durable record:
 * an older copy or a fork of the trail would drop acknowledged records and reuse seqs. */
static void test_failed_store_rolled_back(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512], old[512], fork_[512], good[512];
    path_in(path, sizeof(path), d, "t.db");
    path_in(old, sizeof(old), d, "old.db");
    path_in(fork_, sizeof(fork_), d, "fork.db");
    path_in(good, sizeof(good), d, "good.db");
    struct sg_audit *a = open_trail(path, 10, 600000, true);
    write_records(a, 1, 3);
    sg_audit_close(a);
    copy_trail(path, old);
    copy_trail(path, fork_);
    a = open_trail(fork_, 10, 600000, true);
    write_records(a, 100, 5); /* seq 4..8 too, with other records */
    sg_audit_close(a);
    a = open_trail(path, 10, 600000, true);
    write_records(a, 4, 5); /* seq 4..8 durable */
    sqlite3 *db = db_open(path);
    db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    copy_file(path, good);
    /* The file replaced with the older copy: the writer stays failed. */
    replace_trail(path, old);
    expect_stays_failed(a, 8);
    assert_int_equal(db_int(path, "SELECT count(*) FROM records"), 3);
    /* With a fork that has a seq 8 of its own: the same. */
    replace_trail(path, fork_);
    expect_stays_failed(a, 8);
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE content LIKE "
                                  "'%audit.recovered%'"),
                     0);
    /* The right file back: it recovers and goes on. */
    replace_trail(path, good);
    assert_true(wait_healthy(a, true, 10000));
    write_records(a, 9, 1);
    sg_audit_close(a);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.records, 10); /* 8, the recovery record, 1 */
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE seq = 9 AND "
                                  "json_extract(content, '$.event') = 'audit.recovered'"),
                     1);
    rmtree(d);
}

/* ---- hostile records ---- */

static void test_hostile_records(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit *a = open_trail(path, 0, 0, false);
    struct counter c;
    counter_init(&c);
    static const char *const bad[] = {
        "",
        "{",
        "}",
        "[]",
        "[1]",
        "\"x\"",
        "42",
        "null",
        "{\"a\":}",
        "{\"a\":1",
        "{\"a\":1,}",
        "{'a':1}",
        "{\"a\":1}{\"b\":2}",
        " {\"a\":1}",
        "{\"a\":1} ",
        "{\"a\":1}\n",
        "{\"a\":\n1}",
        "{\"a\":\t1}",
        "{\"a\":1,\"a\":2}",
        "{\"seq\":1}",
        "{\"ts\":\"2020-01-01T00:00:00.000Z\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":01}",
        "{\"a\":NaN}",
        "{\"a\":1e999999}",
        /* Valid RFC 8259, but beyond what jansson represents: refused, not rounded. */
        "{\"a\":12345678901234567890123}",
    };
    unsigned n = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = append_str(a, bad[i], &c);
        if (rc != SG_EINVAL)
            fprintf(stderr, "accepted or wrong code %d: %s\n", rc, bad[i]);
        assert_int_equal(rc, SG_EINVAL);
        assert_int_equal(c.total, ++n);
        assert_int_equal(c.last_rc, SG_EINVAL);
    }
    /* NUL bytes inside, given with their length. */
    static const char nul[] = "{\"a\":\"x\0y\"}";
    assert_int_equal(sg_audit_append(a, nul, sizeof(nul) - 1, counter_done, &c), SG_EINVAL);
    static const char nul2[] = "{\"a\":1}\0";
    assert_int_equal(sg_audit_append(a, nul2, sizeof(nul2) - 1, counter_done, &c), SG_EINVAL);
    assert_int_equal(sg_audit_append(a, NULL, 5, counter_done, &c), SG_EINVAL);
    n += 3;
    /* Nested far too deep for the parser: refused, no crash. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    size_t k = 0;
    memcpy(deep + k, "{\"a\":", 5);
    k += 5;
    for (size_t i = 0; i < depth; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    assert_int_equal(sg_audit_append(a, deep, k, counter_done, &c), SG_ETOOBIG);
    free(deep);
    deep = malloc(20000);
    k = 0;
    memcpy(deep, "{\"a\":", 5);
    k = 5;
    for (size_t i = 0; i < 4000; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < 4000; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    assert_int_equal(sg_audit_append(a, deep, k, counter_done, &c), SG_EINVAL);
    free(deep);
    n += 2;
    /* Size: exactly the maximum is taken, one byte more is not. */
    char *big = malloc(SG_AUDIT_RECORD_MAX + 2);
    memset(big, 'z', SG_AUDIT_RECORD_MAX + 2);
    memcpy(big, "{\"z\":\"", 6);
    memcpy(big + SG_AUDIT_RECORD_MAX - 2, "\"}", 2);
    assert_int_equal(sg_audit_append(a, big, SG_AUDIT_RECORD_MAX, counter_done, &c), 0);
    memcpy(big + SG_AUDIT_RECORD_MAX - 1, "\"}", 2);
    assert_int_equal(sg_audit_append(a, big, SG_AUDIT_RECORD_MAX + 1, counter_done, &c),
                     SG_ETOOBIG);
    free(big);
    n += 2;
    /* Valid oddities are kept byte for byte. */
    static const char *const good[] = {
        "{}",
        "{\"nested\":{\"seq\":1,\"ts\":2}}",
        "{\"u\":\"\\u00e9\xc3\xa9\xf0\x9f\x98\x80\",\"esc\":\"\\\"\\\\\\n\"}",
        "{ \"spaced\" : [ 1 , 2 ] }",
        "{\"big\":9223372036854775807,\"r\":-1.5e-300}",
        /* No members, only white space: no comma after the trail's own members. */
        "{ }",
        "{    }",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(append_str(a, good[i], &c), 0);
    n += 7;
    assert_true(counter_wait(&c, n, 10000));
    sg_audit_close(a);
    assert_int_equal(verify(path, NULL, NULL), 0);
    assert_int_equal(db_int(path, "SELECT count(*) FROM records"), 8);
    assert_int_equal(
        db_int(path,
               "SELECT count(*) FROM records WHERE content = '{\"seq\":4,\"ts\":\"'||ts||"
               "'\",\"u\":\"\\u00e9'||char(233)||char(128512)||'\",\"esc\":\"\\\"\\\\\\n\"}'"),
        1);
    /* Every stored record is valid JSON (SQLite's parser agrees). */
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE json_valid(content)"), 8);
    assert_int_equal(db_int(path, "SELECT count(*) FROM records WHERE seq = 7 AND content = "
                                  "'{\"seq\":7,\"ts\":\"' || ts || '\" }'"),
                     1);
    rmtree(d);
}

/* ---- pruning ---- */

static void test_prune(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    struct sg_audit *a = open_trail(path, 10, 60000, true);
    write_records(a, 1, 25);
    sleep_ms(5);
    int64_t mid = (int64_t)now_ms();
    sleep_ms(5);
    write_records(a, 26, 25);
    sg_audit_close(a);
    struct sg_audit_prune_result res;
    struct sg_error err = {0};
    char cp20_ts[32];
    sqlite3 *db = db_open(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT ts FROM checkpoints WHERE seq = 20", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(cp20_ts, sizeof(cp20_ts), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* Nothing older than the first record: nothing pruned. */
    assert_int_equal(sg_audit_prune(path, 1000, pub, &res, &err), 0);
    assert_int_equal(res.pruned, 0);
    /* Up to the last checkpoint before `mid`: 20. */
    assert_int_equal(sg_audit_prune(path, mid, pub, &res, &err), 0);
    assert_int_equal(res.pruned, 20);
    assert_int_equal(res.anchor_seq, 20);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.anchor_seq, 20);
    assert_int_equal(rep.first_seq, 21);
    assert_int_equal(rep.records, 30);
    /* The anchor's (signed) time and the prune's own (unsigned) notes are reported. */
    assert_string_equal(rep.anchor_ts, cp20_ts);
    assert_int_equal(strlen(rep.pruned_at), SG_AUDIT_TS_LEN);
    char before_ts[SG_AUDIT_TS_LEN + 1];
    sg_audit_format_time(mid, before_ts);
    assert_string_equal(rep.pruned_before, before_ts);
    assert_int_equal(db_int(path, "SELECT min(seq) FROM checkpoints"), 30);
    /* The chain goes on after a restart. */
    a = open_trail(path, 10, 60000, true);
    write_records(a, 51, 3);
    sg_audit_close(a);
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.last_seq, 53);
    /* Tampering is still caught, the anchor too. */
    char work[600];
    snprintf(work, sizeof(work), "%s/w.db", d);
    copy_trail(path, work);
    flip(work, "records", "content", 21, 40, 0x01);
    expect_bad(work, pub, 21);
    copy_trail(path, work);
    db = db_open(work);
    db_exec(db, "UPDATE meta SET value = (CASE WHEN substr(value, 1, 1) = '0' THEN '1' ELSE "
                "'0' END) || substr(value, 2) WHERE key = 'anchor_hash'");
    sqlite3_close(db);
    expect_bad(work, pub, 20);
    copy_trail(path, work);
    db = db_open(work);
    db_exec(db, "UPDATE meta SET value = '10' WHERE key = 'anchor_seq'");
    sqlite3_close(db);
    assert_int_equal(verify(work, pub, &rep), SG_EINVAL);
    copy_trail(path, work);
    db = db_open(work);
    db_exec(db, "DELETE FROM records WHERE seq = 21");
    sqlite3_close(db);
    expect_bad(work, pub, 21);
    /* A damaged trail is not pruned. */
    assert_int_equal(sg_audit_prune(work, (int64_t)now_ms() + 1000, pub, &res, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "not pruned"));
    /* Everything: the trail now holds only the anchor, verifies, and goes on. */
    assert_int_equal(sg_audit_prune(path, (int64_t)now_ms() + 1000, pub, &res, &err), 0);
    assert_int_equal(res.anchor_seq, 53);
    assert_int_equal(res.pruned, 33);
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.records, 0);
    a = open_trail(path, 10, 60000, true);
    write_records(a, 54, 2);
    sg_audit_close(a);
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.first_seq, 54);
    assert_int_equal(rep.last_seq, 55);
    rmtree(d);
}

/* ---- scan ---- */

static int collect(void *arg, const struct sg_audit_row *r)
{
    uint64_t *v = arg;
    v[++v[0]] = r->seq;
    return v[0] == 40 ? 7 : 0;
}

static void test_scan(void **state)
{
    struct golden *g = *state;
    uint64_t v[64] = {0};
    struct sg_error err = {0};
    struct sg_audit_scan_opts o = {.last = 3};
    assert_int_equal(sg_audit_scan(g->path, &o, collect, v, &err), 0);
    assert_int_equal(v[0], 3);
    assert_int_equal(v[1], 48);
    assert_int_equal(v[3], 50);
    memset(v, 0, sizeof(v));
    o = (struct sg_audit_scan_opts){.from_seq = 45};
    assert_int_equal(sg_audit_scan(g->path, &o, collect, v, &err), 0);
    assert_int_equal(v[0], 6);
    memset(v, 0, sizeof(v));
    o = (struct sg_audit_scan_opts){.since_ms = (int64_t)now_ms() + 60000};
    assert_int_equal(sg_audit_scan(g->path, &o, collect, v, &err), 0);
    assert_int_equal(v[0], 0);
    memset(v, 0, sizeof(v));
    assert_int_equal(sg_audit_scan(g->path, NULL, collect, v, &err), 7); /* stopped */
    assert_int_equal(v[0], 40);
    assert_int_not_equal(sg_audit_scan("/nonexistent.db", NULL, collect, v, &err), 0);
}

/* ---- keys and times ---- */

static void test_keys(void **state)
{
    (void)state;
    uint8_t p[32], s2[32], p2[32];
    assert_int_equal(sg_audit_key_public(seed, p), 0);
    assert_memory_equal(p, pub, 32); /* RFC 8032 test 1 */
    char pem[512];
    struct sg_error err = {0};
    int n = sg_audit_key_pem(seed, true, pem, sizeof(pem));
    assert_true(n > 0);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    assert_int_equal(sg_audit_key_parse(pem, (size_t)n, s2, &err), 0);
    assert_memory_equal(s2, seed, 32);
    /* Without the final newline (what a file: secret reference hands over). */
    assert_int_equal(sg_audit_key_parse(pem, (size_t)n - 1, s2, &err), 0);
    n = sg_audit_key_pem(pub, false, pem, sizeof(pem));
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    assert_int_equal(sg_audit_pubkey_parse(pem, (size_t)n, p2, &err), 0);
    assert_memory_equal(p2, pub, 32);
    assert_int_equal(sg_audit_key_pem(pub, false, pem, 20), SG_ETOOBIG);
    /* Hex, with white space around. */
    char hex[80];
    snprintf(hex, sizeof(hex), "  %s\n", rfc_seed_hex);
    assert_int_equal(sg_audit_key_parse(hex, strlen(hex), s2, &err), 0);
    assert_memory_equal(s2, seed, 32);
    /* A public key is not a signing key and the other way round. */
    n = sg_audit_key_pem(pub, false, pem, sizeof(pem));
    assert_int_equal(sg_audit_key_parse(pem, (size_t)n, s2, &err), SG_EINVAL);
    n = sg_audit_key_pem(seed, true, pem, sizeof(pem));
    assert_int_equal(sg_audit_pubkey_parse(pem, (size_t)n, p2, &err), SG_EINVAL);
    /* Hostile key files. */
    static const char *const junk[] = {
        "",
        "short",
        "zz61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n",
        /* An RSA-sized blob under a PEM label is still not Ed25519. */
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEAhSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n"
        "-----END PUBLIC KEY-----\n",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_int_equal(sg_audit_key_parse(junk[i], strlen(junk[i]), s2, &err), SG_EINVAL);
        assert_int_equal(sg_audit_pubkey_parse(junk[i], strlen(junk[i]), p2, &err), SG_EINVAL);
    }
    char *huge = malloc(100000);
    memset(huge, 'A', 100000);
    memcpy(huge, "-----BEGIN", 10);
    assert_int_equal(sg_audit_key_parse(huge, 100000, s2, &err), SG_EINVAL);
    free(huge);
    char kid[SG_AUDIT_KEY_ID_STR], kid2[SG_AUDIT_KEY_ID_STR];
    sg_audit_key_id(pub, kid);
    sg_audit_key_id(pub, kid2);
    assert_string_equal(kid, kid2);
    assert_int_equal(strlen(kid), 16);
    assert_int_equal(sg_audit_key_generate(s2), 0);
    assert_memory_not_equal(s2, seed, 32);
}

static void test_times(void **state)
{
    (void)state;
    int64_t ms = 0, now = 1795000000000;
    assert_int_equal(sg_audit_parse_time("2026-11-26", now, &ms), 0);
    char ts[SG_AUDIT_TS_LEN + 1];
    sg_audit_format_time(ms, ts);
    assert_string_equal(ts, "2026-11-26T00:00:00.000Z");
    assert_int_equal(sg_audit_parse_time("2026-11-26T10:11:12.5Z", now, &ms), 0);
    sg_audit_format_time(ms, ts);
    assert_string_equal(ts, "2026-11-26T10:11:12.500Z");
    assert_int_equal(sg_audit_parse_time("2026-11-26 10:11", now, &ms), 0);
    sg_audit_format_time(ms, ts);
    assert_string_equal(ts, "2026-11-26T10:11:00.000Z");
    assert_int_equal(sg_audit_parse_time("@1700000000", now, &ms), 0);
    assert_int_equal(ms, 1700000000000);
    assert_int_equal(sg_audit_parse_time("90d", now, &ms), 0);
    assert_int_equal(ms, now - 90LL * 86400000);
    assert_int_equal(sg_audit_parse_time("12h", now, &ms), 0);
    assert_int_equal(ms, now - 12LL * 3600000);
    assert_int_equal(sg_audit_parse_time("30m", now, &ms), 0);
    assert_int_equal(sg_audit_parse_time("45s", now, &ms), 0);
    assert_int_equal(ms, now - 45000);
    static const char *const bad[] = {"",
                                      "d",
                                      "@",
                                      "-5d",
                                      "5w",
                                      "2026-13-01",
                                      "2026-02-30",
                                      "2026-1-1",
                                      "26-11-26",
                                      "2026-11-26T25:00",
                                      "2026-11-26T10:00+02:00",
                                      "2026-11-26T10:00:00.Z",
                                      "yesterday",
                                      "99999999999999d",
                                      "1969-12-31"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sg_audit_parse_time(bad[i], now, &ms), SG_EINVAL);
    assert_int_equal(sg_audit_parse_time(NULL, now, &ms), SG_EINVAL);
    sg_audit_format_time(-5, ts);
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
}

/* ---- kill -9 ---- */

static void child_done(void *arg, int rc)
{
    if (rc != 0)
        return;
    uint64_t n = (uint64_t)(uintptr_t)arg;
    int fd = 3;
    ssize_t w = write(fd, &n, sizeof(n));
    (void)w;
}

static void test_kill9_durable_records_survive(void **state)
{
    (void)state;
    char *d = tmpdir(), path[512];
    path_in(path, sizeof(path), d, "t.db");
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child appends as fast as it can until it is killed; each durable record's
         * number goes to the parent. */
        close(pfd[0]);
        if (dup2(pfd[1], 3) < 0)
            _exit(3);
        struct sg_audit_opts o = {.path = path, .signing_key = seed, .checkpoint_every = 500};
        struct sg_audit *a = NULL;
        struct sg_error err = {0};
        if (sg_audit_open(&o, &a, &err) != 0)
            _exit(4);
        for (uint64_t n = 1;; n++) {
            char rec[256];
            int len = snprintf(rec, sizeof(rec),
                               "{\"n\":%" PRIu64 ",\"pad\":\"....................................."
                               ".............................................\"}",
                               n);
            while (sg_audit_append(a, rec, (size_t)len, child_done, (void *)(uintptr_t)n) != 0)
                sleep_ms(1);
        }
    }
    close(pfd[1]);
    uint64_t *got = calloc(1u << 22, sizeof(uint64_t));
    size_t ngot = 0;
    uint64_t end = now_ms() + 1500;
    while (now_ms() < end && ngot < (1u << 21)) {
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0)
            continue; /* never block: a stuck child fails the test instead of hanging it */
        uint64_t n;
        if (read(pfd[0], &n, sizeof(n)) != (ssize_t)sizeof(n))
            break;
        got[ngot++] = n;
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    /* What the child reported before it died was durable too. */
    uint64_t n;
    while (ngot < (1u << 22) && read(pfd[0], &n, sizeof(n)) == (ssize_t)sizeof(n))
        got[ngot++] = n;
    close(pfd[0]);
    assert_true(ngot > 100);
    struct sg_audit_verify_report rep;
    assert_int_equal(verify(path, pub, &rep), 0);
    /* Every record reported durable is in the trail (one pass over the trail into a
     * bitmap of the "n" members present). */
    uint64_t maxn = 0;
    for (size_t i = 0; i < ngot; i++)
        maxn = got[i] > maxn ? got[i] : maxn;
    uint8_t *present = calloc(maxn / 8 + 1, 1);
    sqlite3 *db = db_open(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT json_extract(content, '$.n') FROM records", -1, &st, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t v = (uint64_t)sqlite3_column_int64(st, 0);
        if (v <= maxn)
            present[v / 8] |= (uint8_t)(1u << (v % 8));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (size_t i = 0; i < ngot; i++) {
        if (!(present[got[i] / 8] & (1u << (got[i] % 8))))
            fprintf(stderr, "durable record n=%" PRIu64 " is missing\n", got[i]);
        assert_true(present[got[i] / 8] & (1u << (got[i] % 8)));
    }
    free(present);
    assert_true(rep.records >= ngot);
    /* Reopening signs what the crash left unsigned; the chain goes on. */
    struct sg_audit *a = open_trail(path, 500, 60000, true);
    write_records(a, 1, 3);
    sg_audit_close(a);
    assert_int_equal(verify(path, pub, &rep), 0);
    assert_int_equal(rep.unsigned_tail, 0);
    free(got);
    rmtree(d);
}

static int global_setup(void **state)
{
    (void)state;
    if (sg_hex_decode(rfc_seed_hex, 64, seed, 32) || sg_hex_decode(rfc_pub_hex, 64, pub, 32))
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_commit_callbacks),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_append_from_callback),
        cmocka_unit_test_setup_teardown(test_chain_recompute, golden_setup, golden_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_by_count_signed, golden_setup,
                                        golden_teardown),
        cmocka_unit_test(test_checkpoints_by_time),
        cmocka_unit_test(test_restart_continues_chain),
        cmocka_unit_test(test_key_rotation_verifies_with_every_key),
        cmocka_unit_test_setup_teardown(test_tamper_flip_content_every_record, golden_setup,
                                        golden_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_flip_every_byte_of_one_record, golden_setup,
                                        golden_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_flip_hash_every_record, golden_setup,
                                        golden_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_delete_each_row, golden_setup, golden_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_truncate_tail, golden_setup, golden_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_reorder, golden_setup, golden_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_forged_chain_and_checkpoints, golden_setup,
                                        golden_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_wrong_key, golden_setup, golden_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_file_level, golden_setup, golden_teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_damaged, golden_setup, golden_teardown),
        cmocka_unit_test(test_failed_store_replaced_file),
        cmocka_unit_test(test_failed_store_removed_file),
        cmocka_unit_test(test_failed_store_rolled_back),
        cmocka_unit_test(test_verify_tail_rule),
        cmocka_unit_test(test_verify_closed_trail),
        cmocka_unit_test(test_open_refuses_forged_tail),
        cmocka_unit_test(test_hostile_records),
        cmocka_unit_test(test_prune),
        cmocka_unit_test_setup_teardown(test_scan, golden_setup, golden_teardown),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_kill9_durable_records_survive),
        /* Last: it moves the process into its own mount namespace. */
        cmocka_unit_test(test_failed_store_disk_full),
    };
    return cmocka_run_group_tests(tests, global_setup, NULL);
}
