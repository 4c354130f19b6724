/* Offline tools over an audit trail: the streaming verifier (shared with the PostgreSQL
 * verification), verification of a SQLite trail in one read snapshot, scanning records
 * for export and tail, and retention pruning with a signed anchor. */
#include "audit/audit_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the streaming verifier ---- */

static int bad(struct sg_audit_verifier *v, uint64_t seq, struct sg_error *err, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));

static int bad(struct sg_audit_verifier *v, uint64_t seq, struct sg_error *err, const char *fmt,
               ...)
{
    char msg[SG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (v->rep)
        v->rep->bad_seq = seq;
    return sg_error_set(err, SG_EINVAL, "%s%s", v->where, msg);
}

/* The key that signed `cp` among the verifier's, by the key id it carries (or, without
 * one, the first whose signature verifies, from the current one on); nkeys when none. */
static size_t cp_key(const struct sg_audit_verifier *v, const struct sg_audit_vcp *cp,
                     const char *msg, size_t n)
{
    for (size_t i = 0; i < v->nkeys; i++) {
        if (cp->key_id[0] ? strcmp(cp->key_id, v->key_ids[i]) == 0
                          : i >= v->key_at && sg_audit_sig_ok(v->keys + i * SG_AUDIT_KEY_LEN, msg,
                                                              n, cp->sig, cp->sig_len))
            return i;
    }
    return v->nkeys;
}

/* Checks one checkpoint (or the anchor, `what`): its hash against `expect` (when given)
 * and, with keys, its signature by the key it names, which must not be older than the
 * key of the checkpoint before it (keys are given oldest first: after a rotation the
 * retired key must not vouch for what followed). */
static int check_cp(struct sg_audit_verifier *v, const struct sg_audit_vcp *cp, const char *what,
                    const uint8_t *expect, struct sg_error *err)
{
    if (cp->hash_len != SG_SHA256_LEN || strlen(cp->ts) != SG_AUDIT_TS_LEN)
        return bad(v, cp->seq, err, "%s %" PRIu64 " is damaged (hash or time)", what, cp->seq);
    if (expect && !sg_ct_equal(expect, cp->hash, SG_SHA256_LEN))
        return bad(v, cp->seq, err,
                   "%s %" PRIu64 " does not match record %" PRIu64
                   " (the record or the checkpoint was altered)",
                   what, cp->seq, cp->seq);
    if (v->nkeys) {
        if (cp->sig_len == 0)
            return bad(v, cp->seq, err, "%s %" PRIu64 " is not signed", what, cp->seq);
        char msg[SG_AUDIT_MSG_MAX];
        size_t n = sg_audit_cp_message(cp->seq, cp->hash, cp->ts, msg);
        size_t k = cp_key(v, cp, msg, n);
        if (k == v->nkeys && v->nkeys == 1 && cp->key_id[0])
            return bad(v, cp->seq, err, "%s %" PRIu64 " was signed by key %s, not by key %s", what,
                       cp->seq, cp->key_id, v->key_ids[0]);
        if (k == v->nkeys && cp->key_id[0])
            return bad(v, cp->seq, err,
                       "%s %" PRIu64 " was signed by key %s, none of the %zu keys given", what,
                       cp->seq, cp->key_id, v->nkeys);
        if (k < v->key_at)
            return bad(v, cp->seq, err,
                       "%s %" PRIu64 " was signed by key %s, which was retired before key %s "
                       "signed an earlier checkpoint (or the keys are not given oldest first)",
                       what, cp->seq, v->key_ids[k], v->key_ids[v->key_at]);
        if (k == v->nkeys ||
            !sg_audit_sig_ok(v->keys + k * SG_AUDIT_KEY_LEN, msg, n, cp->sig, cp->sig_len))
            return bad(v, cp->seq, err,
                       "%s %" PRIu64 ": the signature does not verify (forged or altered, or "
                       "signed by another key)",
                       what, cp->seq);
        v->key_at = k;
        if (v->rep)
            v->rep->signed_cps++;
    }
    if (v->rep)
        v->rep->checkpoints++;
    if (cp->seq > v->last_cp_seq)
        v->last_cp_seq = cp->seq;
    return 0;
}

int sg_audit_verifier_begin(struct sg_audit_verifier *v, const uint8_t *keys, size_t nkeys,
                            const struct sg_audit_vcp *anchor, struct sg_audit_vcp *cps,
                            size_t ncps, struct sg_audit_verify_report *rep, const char *where,
                            struct sg_error *err)
{
    memset(v, 0, sizeof(*v));
    if (nkeys > SG_AUDIT_MAX_KEYS)
        return sg_error_set(err, SG_EINVAL, "at most %d public keys", SG_AUDIT_MAX_KEYS);
    v->keys = nkeys ? keys : NULL;
    v->nkeys = keys ? nkeys : 0;
    for (size_t i = 0; i < v->nkeys; i++)
        sg_audit_key_id(keys + i * SG_AUDIT_KEY_LEN, v->key_ids[i]);
    v->cps = cps;
    v->ncps = ncps;
    v->rep = rep;
    v->where = where ? where : "";
    v->next_seq = anchor->seq + 1;
    if (rep)
        rep->anchor_seq = anchor->seq;
    /* Stale checkpoints before the anchor first: they are older (an older key's). */
    for (; v->ci < ncps && cps[v->ci].seq < anchor->seq; v->ci++) {
        int rc = check_cp(v, &cps[v->ci], "checkpoint", NULL, err);
        if (rc)
            return rc;
    }
    if (anchor->seq) {
        int rc = check_cp(v, anchor, "the prune anchor at seq", NULL, err);
        if (rc)
            return rc;
        memcpy(v->prev, anchor->hash, SG_SHA256_LEN);
        memcpy(v->last_ts, anchor->ts, sizeof(v->last_ts));
    }
    for (; v->ci < ncps && cps[v->ci].seq <= anchor->seq; v->ci++) {
        const struct sg_audit_vcp *cp = &cps[v->ci];
        int rc = check_cp(v, cp, "checkpoint", cp->seq == anchor->seq ? anchor->hash : NULL, err);
        if (rc)
            return rc;
    }
    return 0;
}

int sg_audit_verifier_record(struct sg_audit_verifier *v, const struct sg_audit_row *r,
                             struct sg_error *err)
{
    if (r->seq != v->next_seq) {
        if (r->seq < v->next_seq)
            return bad(v, r->seq, err, "record %" PRIu64 " is out of order", r->seq);
        if (r->seq == v->next_seq + 1)
            return bad(v, v->next_seq, err,
                       "record %" PRIu64 " is missing (deleted); the next one is %" PRIu64,
                       v->next_seq, r->seq);
        return bad(v, v->next_seq, err, "records %" PRIu64 " to %" PRIu64 " are missing (deleted)",
                   v->next_seq, r->seq - 1);
    }
    if (!r->hash || r->hash_len != SG_SHA256_LEN)
        return bad(v, r->seq, err, "record %" PRIu64 ": its stored hash is damaged", r->seq);
    if (!r->ts || strlen(r->ts) != SG_AUDIT_TS_LEN)
        return bad(v, r->seq, err, "record %" PRIu64 ": its time is damaged", r->seq);
    char pre[SG_AUDIT_PREFIX_MAX];
    size_t pn = sg_audit_prefix(r->seq, r->ts, pre);
    if (!r->content || r->len < pn + 1 || memcmp(r->content, pre, pn) != 0 ||
        r->content[r->len - 1] != '}')
        return bad(v, r->seq, err,
                   "record %" PRIu64 ": its content does not begin with its seq and time "
                   "(altered or moved)",
                   r->seq);
    if (strcmp(r->ts, v->last_ts) < 0)
        return bad(v, r->seq, err, "record %" PRIu64 ": its time goes backwards", r->seq);
    uint8_t h[SG_SHA256_LEN];
    sg_audit_chain_hash(v->prev, r->content, r->len, h);
    if (!sg_ct_equal(h, r->hash, SG_SHA256_LEN))
        return bad(v, r->seq, err,
                   "record %" PRIu64 ": its hash does not match its content and the chain "
                   "(content or hash altered)",
                   r->seq);
    memcpy(v->prev, h, SG_SHA256_LEN);
    memcpy(v->last_ts, r->ts, SG_AUDIT_TS_LEN + 1);
    v->next_seq++;
    if (v->rep) {
        if (!v->rep->records)
            v->rep->first_seq = r->seq;
        v->rep->records++;
        v->rep->last_seq = r->seq;
    }
    for (; v->ci < v->ncps && v->cps[v->ci].seq <= r->seq; v->ci++) {
        const struct sg_audit_vcp *cp = &v->cps[v->ci];
        if (cp->seq < r->seq)
            return bad(v, cp->seq, err, "checkpoint %" PRIu64 " names a missing record", cp->seq);
        int rc = check_cp(v, cp, "checkpoint", h, err);
        if (rc)
            return rc;
    }
    return 0;
}

int sg_audit_verifier_end(struct sg_audit_verifier *v, struct sg_error *err)
{
    uint64_t last = v->next_seq - 1;
    if (v->ci < v->ncps) {
        const struct sg_audit_vcp *cp = &v->cps[v->ci];
        return bad(v, cp->seq, err,
                   "checkpoint %" PRIu64 " points past the last record (%" PRIu64
                   "): the trail was truncated",
                   cp->seq, last);
    }
    if (v->rep)
        v->rep->unsigned_tail = last > v->last_cp_seq ? last - v->last_cp_seq : 0;
    return 0;
}

/* ---- SQLite trails ---- */

static int sql_fail(sqlite3 *db, const char *path, struct sg_error *err)
{
    int code = sqlite3_extended_errcode(db) & 0xff;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
        return sg_error_set(err, SG_EINVAL, "audit trail %s is damaged: %s", path,
                            sqlite3_errmsg(db));
    return sg_error_set(err, SG_EIO, "audit trail %s: %s", path, sqlite3_errmsg(db));
}

static int open_ro(const char *path, sqlite3 **db, char instance[SG_AUDIT_KEY_ID_STR],
                   struct sg_error *err)
{
    int rc = sg_audit_db_open(path, true, db, err);
    if (rc)
        return rc;
    /* One read transaction: every query sees the same snapshot while a writer goes on. */
    if (sqlite3_exec(*db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_fail(*db, path, err);
    } else {
        rc = sg_audit_db_check(*db, path, instance, err);
    }
    if (rc) {
        sqlite3_close(*db);
        *db = NULL;
    }
    return rc;
}

static void copy_text(char *out, size_t cap, const unsigned char *s, int n)
{
    out[0] = '\0';
    if (s && n >= 0 && (size_t)n < cap) {
        memcpy(out, s, (size_t)n);
        out[n] = '\0';
    }
}

/* A checkpoint from a row (seq, hash, ts, signature, key_id). */
static void cp_of(sqlite3_stmt *st, struct sg_audit_vcp *c)
{
    memset(c, 0, sizeof(*c));
    c->seq = (uint64_t)sqlite3_column_int64(st, 0);
    const void *h = sqlite3_column_blob(st, 1);
    int hn = sqlite3_column_bytes(st, 1);
    if (h && hn == SG_SHA256_LEN) {
        memcpy(c->hash, h, SG_SHA256_LEN);
        c->hash_len = SG_SHA256_LEN;
    }
    copy_text(c->ts, sizeof(c->ts), sqlite3_column_text(st, 2), sqlite3_column_bytes(st, 2));
    const void *s = sqlite3_column_blob(st, 3);
    int sn = sqlite3_column_bytes(st, 3);
    if (s && sn > 0) {
        /* A signature of the wrong length is kept as "signed, badly". */
        memcpy(c->sig, s, sn < SG_AUDIT_SIG_LEN ? (size_t)sn : SG_AUDIT_SIG_LEN);
        c->sig_len = (size_t)sn;
    }
    copy_text(c->key_id, sizeof(c->key_id), sqlite3_column_text(st, 4),
              sqlite3_column_bytes(st, 4));
}

/* Reads every checkpoint, sorted by seq, into a malloc'd array. */
static int load_cps(sqlite3 *db, const char *path, struct sg_audit_vcp **out, size_t *n,
                    struct sg_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, hash, ts, signature, key_id FROM checkpoints ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, path, err);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct sg_audit_vcp *p = realloc(*out, ncap * sizeof(*p));
            if (!p) {
                sqlite3_finalize(st);
                return sg_error_set(err, SG_ENOMEM, "out of memory");
            }
            *out = p;
            cap = ncap;
        }
        cp_of(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return sql_fail(db, path, err);
    return 0;
}

static void row_of(sqlite3_stmt *st, struct sg_audit_row *r)
{
    r->seq = (uint64_t)sqlite3_column_int64(st, 0);
    r->ts = (const char *)sqlite3_column_text(st, 1);
    r->content = sqlite3_column_blob(st, 2);
    r->len = (size_t)sqlite3_column_bytes(st, 2);
    r->hash = sqlite3_column_blob(st, 3);
    r->hash_len = (size_t)sqlite3_column_bytes(st, 3);
}

/* ---- the tail rule ---- */

/* The stored hash and time of record `seq`; *found false when there is none. */
static int stored_record(sqlite3 *db, uint64_t seq, uint8_t hash[SG_SHA256_LEN],
                         char ts[SG_AUDIT_TS_LEN + 1], bool *found)
{
    sqlite3_stmt *st = NULL;
    *found = false;
    if (sqlite3_prepare_v2(db, "SELECT hash, ts FROM records WHERE seq = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return SG_EIO;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(seq > INT64_MAX ? INT64_MAX : seq));
    int step = sqlite3_step(st), rc = 0;
    if (step == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(st, 0);
        const char *t = (const char *)sqlite3_column_text(st, 1);
        if (!h || sqlite3_column_bytes(st, 0) != SG_SHA256_LEN || !t ||
            strlen(t) != SG_AUDIT_TS_LEN) {
            rc = SG_EINVAL;
        } else {
            memcpy(hash, h, SG_SHA256_LEN);
            memcpy(ts, t, SG_AUDIT_TS_LEN + 1);
            *found = true;
        }
    } else if (step != SQLITE_DONE) {
        rc = SG_EIO;
    }
    sqlite3_finalize(st);
    return rc;
}

int sg_audit_hash_at(sqlite3 *db, const struct sg_audit_vcp *anchor, uint64_t seq,
                     uint8_t out[SG_SHA256_LEN])
{
    if (seq == 0 || seq == anchor->seq) {
        if (seq)
            memcpy(out, anchor->hash, SG_SHA256_LEN);
        else
            memset(out, 0, SG_SHA256_LEN);
        return 0;
    }
    if (seq < anchor->seq)
        return SG_ENOTFOUND;
    char ts[SG_AUDIT_TS_LEN + 1];
    bool found = false;
    int rc = stored_record(db, seq, out, ts, &found);
    return rc ? rc : found ? 0 : SG_ENOTFOUND;
}

static int state_bad(uint64_t *bad_seq, uint64_t seq, struct sg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int state_bad(uint64_t *bad_seq, uint64_t seq, struct sg_error *err, const char *fmt, ...)
{
    char msg[SG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *bad_seq = seq;
    return sg_error_set(err, SG_EINVAL, "%s", msg);
}

static int state_signature(const struct sg_audit_state *st, const uint8_t *pubkey,
                           uint64_t *bad_seq, struct sg_error *err)
{
    char kid[SG_AUDIT_KEY_ID_STR];
    sg_audit_key_id(pubkey, kid);
    if (st->sig_len == 0)
        return state_bad(bad_seq, 0, err, "the writer state is not signed");
    if (st->key_id[0] && strcmp(st->key_id, kid) != 0)
        return state_bad(bad_seq, 0, err, "the writer state was signed by key %s, not by key %s",
                         st->key_id, kid);
    if (!sg_audit_sig_ok(pubkey, st->text, strlen(st->text), st->sig, st->sig_len))
        return state_bad(bad_seq, 0, err,
                         "the writer state's signature does not verify (forged or altered, or "
                         "signed by another key)");
    return 0;
}

int sg_audit_state_check(sqlite3 *db, const struct sg_audit_state *st, const uint8_t *pubkey,
                         const struct sg_audit_vcp *anchor, uint64_t end, uint64_t last_cp,
                         uint64_t *bad_seq, struct sg_error *err)
{
    uint64_t tail = end > last_cp ? end - last_cp : 0;
    *bad_seq = 0;
    if (!st->present) {
        if (!tail)
            return 0;
        return state_bad(bad_seq, last_cp + 1, err,
                         "records %" PRIu64 "..%" PRIu64 " are after the last checkpoint and "
                         "there is no writer state: a crash cannot be told from removed "
                         "checkpoints (a trail an older version left after a crash: start "
                         "that version once and stop it cleanly)",
                         last_cp + 1, end);
    }
    int rc = pubkey ? state_signature(st, pubkey, bad_seq, err) : 0;
    if (rc)
        return rc;
    const char *did = st->closed ? "closed" : "opened";
    if (st->seq > end)
        return state_bad(bad_seq, end + 1, err,
                         "the writer %s the trail at seq %" PRIu64
                         ", but the last record is %" PRIu64 ": the records after it were removed",
                         did, st->seq, end);
    uint8_t h[SG_SHA256_LEN];
    rc = sg_audit_hash_at(db, anchor, st->seq, h);
    if (rc == SG_EIO)
        return sg_error_set(err, SG_EIO, "cannot read record %" PRIu64, st->seq);
    if (rc == SG_EINVAL || (rc == 0 && !sg_ct_equal(h, st->hash, SG_SHA256_LEN)))
        return state_bad(bad_seq, st->seq, err,
                         "the writer state (%s at seq %" PRIu64 ") does not match record %" PRIu64
                         " (the record or the state was altered)",
                         did, st->seq, st->seq);
    if (st->closed && end > st->seq)
        return state_bad(bad_seq, st->seq + 1, err,
                         "the writer closed the trail at seq %" PRIu64 ", yet records %" PRIu64
                         "..%" PRIu64 " follow without it having opened again",
                         st->seq, st->seq + 1, end);
    if (st->closed && tail)
        return state_bad(bad_seq, last_cp + 1, err,
                         "the writer closed the trail at seq %" PRIu64 ", yet records %" PRIu64
                         "..%" PRIu64 " are not covered by a checkpoint: checkpoints were removed",
                         st->seq, last_cp + 1, end);
    if (!st->closed && last_cp < st->seq)
        return state_bad(bad_seq, last_cp + 1, err,
                         "the writer opened at seq %" PRIu64 " with every record up to it "
                         "signed, yet the last checkpoint is at %" PRIu64
                         ": checkpoints were removed",
                         st->seq, last_cp);
    if (!st->closed && tail >= st->every)
        return state_bad(bad_seq, last_cp + 1, err,
                         "%" PRIu64 " records after the last checkpoint (seq %" PRIu64
                         "): a writer with checkpoint_every %" PRIu32 " leaves at most %" PRIu32
                         " unsigned: checkpoints were removed",
                         tail, last_cp, st->every, st->every - 1);
    return 0;
}

/* The newest checkpoint (cp->seq 0 when there is none). */
static int newest_cp(sqlite3 *db, struct sg_audit_vcp *cp)
{
    memset(cp, 0, sizeof(*cp));
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, hash, ts, signature, key_id FROM checkpoints ORDER BY "
                           "seq DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return SG_EIO;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        cp_of(st, cp);
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : SG_EIO;
}

/* Where the writer's walk starts: after the record before the newest checkpoint's (its
 * stored hash), or after the anchor (or zero) when no checkpoint lies past it. */
static int walk_start(sqlite3 *db, const struct sg_audit_tail *t, struct sg_audit_vcp *from,
                      struct sg_error *err)
{
    *from = t->anchor;
    if (!t->cp.seq || t->cp.seq - 1 == t->anchor.seq)
        return 0;
    bool found = false;
    int rc = stored_record(db, t->cp.seq - 1, from->hash, from->ts, &found);
    if (rc == SG_EIO)
        return sg_error_set(err, SG_EIO, "cannot read record %" PRIu64, t->cp.seq - 1);
    if (rc || !found)
        return sg_error_set(err, SG_EINVAL,
                            "checkpoint %" PRIu64 " names record %" PRIu64 ", but record %" PRIu64
                            " before it is %s: truncated or altered",
                            t->cp.seq, t->cp.seq, t->cp.seq - 1, rc ? "damaged" : "missing");
    memset(from->sig, 0, sizeof(from->sig));
    from->seq = t->cp.seq - 1;
    from->hash_len = SG_SHA256_LEN;
    from->sig_len = 0;
    from->key_id[0] = '\0';
    return 0;
}

/* The newest checkpoint's signature, when this writer's key made it. */
static int cp_signature(const struct sg_audit_vcp *cp, const uint8_t *pubkey, const char *key_id,
                        struct sg_error *err)
{
    if (!pubkey || !cp->seq || !cp->sig_len || strcmp(cp->key_id, key_id) != 0)
        return 0;
    char msg[SG_AUDIT_MSG_MAX];
    size_t n = sg_audit_cp_message(cp->seq, cp->hash, cp->ts, msg);
    if (cp->hash_len != SG_SHA256_LEN || !sg_audit_sig_ok(pubkey, msg, n, cp->sig, cp->sig_len))
        return sg_error_set(err, SG_EINVAL,
                            "checkpoint %" PRIu64 ": the signature does not verify (forged or "
                            "altered)",
                            cp->seq);
    return 0;
}

int sg_audit_tail_verify(sqlite3 *db, const uint8_t *pubkey, const char *key_id,
                         struct sg_audit_tail *t, struct sg_error *err)
{
    memset(t, 0, sizeof(*t));
    int rc = sg_audit_anchor_get(db, &t->anchor, err);
    if (rc)
        return rc;
    if (newest_cp(db, &t->cp))
        return sg_error_set(err, SG_EIO, "%s", sqlite3_errmsg(db));
    char cp_ts[sizeof(t->cp.ts)];
    memcpy(cp_ts, t->cp.ts, sizeof(cp_ts));
    if (t->cp.seq <= t->anchor.seq)
        memset(&t->cp, 0, sizeof(t->cp)); /* a stale row before the anchor */
    struct sg_audit_vcp from;
    struct sg_audit_verifier v;
    if ((rc = cp_signature(&t->cp, pubkey, key_id, err)) || (rc = walk_start(db, t, &from, err)) ||
        (rc = sg_audit_verifier_begin(&v, NULL, 0, &from, &t->cp, t->cp.seq ? 1 : 0, NULL, NULL,
                                      err)))
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, ts, content, hash FROM records WHERE seq > ?1 ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return sg_error_set(err, SG_EIO, "%s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from.seq);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sg_audit_row r;
        row_of(st, &r);
        if ((rc = sg_audit_verifier_record(&v, &r, err)))
            break;
    }
    if (!rc && step != SQLITE_DONE)
        rc = sg_error_set(err, SG_EIO, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (!rc)
        rc = sg_audit_verifier_end(&v, err);
    if (rc)
        return rc;
    t->end = v.next_seq - 1;
    memcpy(t->hash, v.prev, SG_SHA256_LEN);
    memcpy(t->ts, v.last_ts, sizeof(t->ts));
    /* A checkpoint's time (e.g. the one written at close) may be later than the last
     * record's: later records never get an earlier time. */
    if (strlen(cp_ts) == SG_AUDIT_TS_LEN && strcmp(cp_ts, t->ts) > 0)
        memcpy(t->ts, cp_ts, sizeof(t->ts));
    t->last_cp = t->cp.seq ? t->cp.seq : t->anchor.seq;
    return 0;
}

/* The anchor's time and the (unsigned) prune notes, for the report. */
static void report_anchor(sqlite3 *db, const struct sg_audit_vcp *anchor,
                          struct sg_audit_verify_report *rep)
{
    if (!anchor->seq)
        return;
    memcpy(rep->anchor_ts, anchor->ts,
           strlen(anchor->ts) == SG_AUDIT_TS_LEN ? SG_AUDIT_TS_LEN + 1 : 1);
    if (sg_audit_meta_get(db, "pruned_at", rep->pruned_at, sizeof(rep->pruned_at)) != 0)
        rep->pruned_at[0] = '\0';
    if (sg_audit_meta_get(db, "pruned_before", rep->pruned_before, sizeof(rep->pruned_before)) != 0)
        rep->pruned_before[0] = '\0';
}

/* The tail rule over a verified chain (see sg_audit_state_check); the writer state must be
 * signed by the current key (the last one given). */
static int check_tail(sqlite3 *db, const struct sg_audit_vcp *anchor,
                      const struct sg_audit_verifier *v, struct sg_audit_verify_report *rep,
                      struct sg_error *err)
{
    struct sg_audit_state st;
    int rc = sg_audit_state_get(db, rep->instance, &st, err);
    if (rc)
        return rc;
    if (st.present) {
        snprintf(rep->state, sizeof(rep->state), "%s", st.closed ? "closed" : "open");
        rep->state_seq = st.seq;
        rep->checkpoint_every = st.every;
    }
    const uint8_t *pubkey = v->nkeys ? v->keys + (v->nkeys - 1) * SG_AUDIT_KEY_LEN : NULL;
    return sg_audit_state_check(db, &st, pubkey, anchor, v->next_seq - 1, v->last_cp_seq,
                                &rep->bad_seq, err);
}

int sg_audit_verify(const char *path, const uint8_t *pubkey, struct sg_audit_verify_report *rep,
                    struct sg_error *err)
{
    return sg_audit_verify_keys(path, pubkey, pubkey ? 1 : 0, rep, err);
}

int sg_audit_verify_keys(const char *path, const uint8_t *keys, size_t nkeys,
                         struct sg_audit_verify_report *rep, struct sg_error *err)
{
    struct sg_audit_verify_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    sqlite3 *db = NULL;
    int rc = open_ro(path, &db, rep->instance, err);
    if (rc)
        return rc;
    struct sg_audit_vcp anchor, *cps = NULL;
    size_t ncps = 0;
    sqlite3_stmt *st = NULL;
    struct sg_audit_verifier v;
    if ((rc = sg_audit_anchor_get(db, &anchor, err)) ||
        (rc = load_cps(db, path, &cps, &ncps, err)) ||
        (rc = sg_audit_verifier_begin(&v, keys, nkeys, &anchor, cps, ncps, rep, NULL, err)))
        goto out;
    if (sqlite3_prepare_v2(db, "SELECT seq, ts, content, hash FROM records ORDER BY seq", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = sql_fail(db, path, err);
        goto out;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sg_audit_row r;
        row_of(st, &r);
        if ((rc = sg_audit_verifier_record(&v, &r, err)))
            goto out;
    }
    if (step != SQLITE_DONE) {
        rc = sql_fail(db, path, err);
        goto out;
    }
    if ((rc = sg_audit_verifier_end(&v, err)))
        goto out;
    report_anchor(db, &anchor, rep);
    rc = check_tail(db, &anchor, &v, rep, err);
out:
    sqlite3_finalize(st);
    free(cps);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

int sg_audit_scan(const char *path, const struct sg_audit_scan_opts *o, sg_audit_row_fn fn,
                  void *arg, struct sg_error *err)
{
    struct sg_audit_scan_opts all = {0};
    if (!o)
        o = &all;
    sqlite3 *db = NULL;
    char instance[SG_AUDIT_KEY_ID_STR];
    int rc = open_ro(path, &db, instance, err);
    if (rc)
        return rc;
    char since[SG_AUDIT_TS_LEN + 1] = "";
    if (o->since_ms > 0)
        sg_audit_format_time(o->since_ms, since);
    const char *q =
        o->last ? "SELECT * FROM (SELECT seq, ts, content, hash FROM records WHERE seq >= ?1 AND "
                  "ts >= ?2 ORDER BY seq DESC LIMIT ?3) ORDER BY seq"
                : "SELECT seq, ts, content, hash FROM records WHERE seq >= ?1 AND ts >= ?2 "
                  "ORDER BY seq";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, path, err);
    } else {
        sqlite3_bind_int64(st, 1,
                           (sqlite3_int64)(o->from_seq > INT64_MAX ? INT64_MAX : o->from_seq));
        sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
        if (o->last)
            sqlite3_bind_int64(st, 3, (sqlite3_int64)(o->last > INT64_MAX ? INT64_MAX : o->last));
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            struct sg_audit_row r;
            row_of(st, &r);
            if ((rc = fn(arg, &r)))
                break;
        }
        if (!rc && step != SQLITE_DONE)
            rc = sql_fail(db, path, err);
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* ---- retention ---- */

static int meta_put(sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1, &st,
                           NULL) != SQLITE_OK)
        return SG_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : SG_EIO;
    sqlite3_finalize(st);
    return rc;
}

int sg_audit_prune(const char *path, int64_t before_ms, const uint8_t *pubkey,
                   struct sg_audit_prune_result *res, struct sg_error *err)
{
    return sg_audit_prune_keys(path, before_ms, pubkey, pubkey ? 1 : 0, res, err);
}

int sg_audit_prune_keys(const char *path, int64_t before_ms, const uint8_t *keys, size_t nkeys,
                        struct sg_audit_prune_result *res, struct sg_error *err)
{
    struct sg_audit_prune_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    struct sg_audit_verify_report rep;
    struct sg_error verr = {0};
    int rc = sg_audit_verify_keys(path, keys, nkeys, &rep, &verr);
    if (rc)
        return sg_error_set(err, rc, "not pruned: the trail does not verify: %s", verr.msg);
    sqlite3 *db = NULL;
    if ((rc = sg_audit_db_open(path, false, &db, err)))
        return rc;
    char instance[SG_AUDIT_KEY_ID_STR], before[SG_AUDIT_TS_LEN + 1];
    sg_audit_format_time(before_ms, before);
    sqlite3_stmt *st = NULL;
    if ((rc = sg_audit_db_check(db, path, instance, err)))
        goto out;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_fail(db, path, err);
        goto out;
    }
    /* The newest checkpoint, within what was verified, whose record is older than `before`
     * (times never go backwards, so every record up to it is older too). */
    if (sqlite3_prepare_v2(db,
                           "SELECT c.seq, c.hash, c.ts, c.signature, c.key_id FROM checkpoints c "
                           "JOIN records r ON r.seq = c.seq WHERE r.ts < ?1 AND c.seq <= ?2 "
                           "AND c.seq > ?3 ORDER BY c.seq DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, path, err);
        goto out;
    }
    sqlite3_bind_text(st, 1, before, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)rep.last_seq);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)rep.anchor_seq);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        sqlite3_finalize(st);
        st = NULL;
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        res->anchor_seq = rep.anchor_seq;
        goto out;
    }
    if (step != SQLITE_ROW || sqlite3_column_bytes(st, 1) != SG_SHA256_LEN) {
        rc = step == SQLITE_ROW ? sg_error_set(err, SG_EINVAL, "a checkpoint is damaged")
                                : sql_fail(db, path, err);
        goto rollback;
    }
    uint64_t k = (uint64_t)sqlite3_column_int64(st, 0);
    char seqs[24], hash[2 * SG_SHA256_LEN + 1], ts[64] = "", sig[2 * SG_AUDIT_SIG_LEN + 1] = "",
                                                kid[SG_AUDIT_KEY_ID_STR] = "";
    snprintf(seqs, sizeof(seqs), "%" PRIu64, k);
    sg_hex_encode(sqlite3_column_blob(st, 1), SG_SHA256_LEN, hash);
    copy_text(ts, sizeof(ts), sqlite3_column_text(st, 2), sqlite3_column_bytes(st, 2));
    if (sqlite3_column_bytes(st, 3) == SG_AUDIT_SIG_LEN)
        sg_hex_encode(sqlite3_column_blob(st, 3), SG_AUDIT_SIG_LEN, sig);
    copy_text(kid, sizeof(kid), sqlite3_column_text(st, 4), sqlite3_column_bytes(st, 4));
    sqlite3_finalize(st);
    st = NULL;
    char now[SG_AUDIT_TS_LEN + 1];
    struct timespec tn;
    clock_gettime(CLOCK_REALTIME, &tn);
    sg_audit_format_time((int64_t)tn.tv_sec * 1000 + tn.tv_nsec / 1000000, now);
    if (sqlite3_prepare_v2(db, "DELETE FROM records WHERE seq <= ?1", -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, path, err);
        goto rollback;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)k);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = sql_fail(db, path, err);
        goto rollback;
    }
    res->pruned = (uint64_t)sqlite3_changes(db);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM checkpoints WHERE seq <= ?1", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 1, (sqlite3_int64)k) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE || meta_put(db, "anchor_seq", seqs) ||
        meta_put(db, "anchor_hash", hash) || meta_put(db, "anchor_ts", ts) ||
        meta_put(db, "anchor_signature", sig) || meta_put(db, "anchor_key_id", kid) ||
        meta_put(db, "pruned_at", now) || meta_put(db, "pruned_before", before) ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_fail(db, path, err);
        goto rollback;
    }
    res->anchor_seq = k;
    goto out;
rollback:
    sqlite3_finalize(st);
    st = NULL;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
