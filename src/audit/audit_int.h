/* Internals shared by the audit trail's files (not part of its contract): the SQLite
 * schema and helpers, the chain and checkpoint primitives, the streaming verifier that
 * both the SQLite and the PostgreSQL verification feed, and the PostgreSQL replicator. */
#ifndef SG_AUDIT_AUDIT_INT_H
#define SG_AUDIT_AUDIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "audit/audit.h"
#include "core/crypto.h"

#define SG_AUDIT_FORMAT "1"
#define SG_AUDIT_SIG_LEN 64
/* "sovgate-audit-checkpoint:1:" + 20 digits + ":" + 64 hex + ":" + ts: under 160 bytes */
#define SG_AUDIT_MSG_MAX 192
/* `{"seq":<20 digits>,"ts":"<24>"` */
#define SG_AUDIT_PREFIX_MAX 64

/* Opens the trail's SQLite file. `readonly` for the offline tools; otherwise the file must
 * exist (the caller creates it with the right mode) and is put in WAL mode with
 * synchronous=FULL. Sets a busy timeout. Returns 0 or SG_EIO with `err`. */
int sg_audit_db_open(const char *path, bool readonly, sqlite3 **db, struct sg_error *err);
/* Creates the schema when the file is empty (format, instance id) and checks the format
 * otherwise. `instance` gets the instance id. Returns 0, SG_EINVAL (not an audit trail,
 * unknown format) or SG_EIO. */
int sg_audit_db_init(sqlite3 *db, const char *path, char instance[SG_AUDIT_KEY_ID_STR],
                     struct sg_error *err);
/* Reads the format and the instance id of an existing trail (read-only). Returns 0 or
 * SG_EINVAL / SG_EIO. */
int sg_audit_db_check(sqlite3 *db, const char *path, char instance[SG_AUDIT_KEY_ID_STR],
                      struct sg_error *err);
/* Reads meta `key` as text into `out`. Returns 0, SG_ENOTFOUND, SG_ETOOBIG or SG_EIO. */
int sg_audit_meta_get(sqlite3 *db, const char *key, char *out, size_t cap);

/* A checkpoint as read back: a row of `checkpoints`, or the prune anchor in meta (which is
 * the checkpoint the remaining chain starts after, with its signature). */
struct sg_audit_vcp {
    uint64_t seq;
    uint8_t hash[SG_SHA256_LEN];
    size_t hash_len;
    char ts[40];
    uint8_t sig[SG_AUDIT_SIG_LEN];
    size_t sig_len; /* 0: unsigned */
    char key_id[SG_AUDIT_KEY_ID_STR];
};

/* Reads the prune anchor from meta (seq 0 when there is none). Returns 0 or SG_EINVAL
 * (a damaged anchor) / SG_EIO. */
int sg_audit_anchor_get(sqlite3 *db, struct sg_audit_vcp *out, struct sg_error *err);

/* hash = SHA-256(prev || content). */
void sg_audit_chain_hash(const uint8_t prev[SG_SHA256_LEN], const char *content, size_t len,
                         uint8_t out[SG_SHA256_LEN]);
/* Writes `{"seq":<seq>,"ts":"<ts>"` (no terminator) into out; returns its length. */
size_t sg_audit_prefix(uint64_t seq, const char *ts, char out[SG_AUDIT_PREFIX_MAX]);
/* The checkpoint's signed text; returns its length. */
size_t sg_audit_cp_message(uint64_t seq, const uint8_t hash[SG_SHA256_LEN], const char *ts,
                           char out[SG_AUDIT_MSG_MAX]);
/* An EVP_PKEY for a seed (caller frees), or NULL. */
EVP_PKEY *sg_audit_pkey_private(const uint8_t seed[SG_AUDIT_KEY_LEN]);
/* Signs `msg` with `k` into sig (64 bytes). Returns 0 or SG_ECRYPTO. */
int sg_audit_sign(EVP_PKEY *k, const char *msg, size_t len, uint8_t sig[SG_AUDIT_SIG_LEN]);
/* Whether `sig` is a valid signature of `msg` by `pub`. */
bool sg_audit_sig_ok(const uint8_t pub[SG_AUDIT_KEY_LEN], const char *msg, size_t len,
                     const uint8_t *sig, size_t siglen);

/* ---- the writer state ----
 * The writer's signed word on where records may be left unsigned, in meta (`writer_state`,
 * `writer_state_signature` in hex or empty, `writer_state_key_id`):
 *   sovgate-audit-state:1:<instance>:<open|closed>:<seq>:<hex hash_seq>:<checkpoint_every>:<ts>
 * "open": written when the writer opens, after it signed everything up to <seq>; records
 * after the last checkpoint are then fewer than <checkpoint_every> (a running writer or a
 * crash). "closed": written at a clean close, after the final checkpoint at <seq> (the last
 * record): nothing is unsigned. */
#define SG_AUDIT_STATE_MAX 192

struct sg_audit_state {
    bool present, closed;
    uint64_t seq;
    uint8_t hash[SG_SHA256_LEN];
    uint32_t every;
    char ts[SG_AUDIT_TS_LEN + 1];
    char text[SG_AUDIT_STATE_MAX]; /* the signed text */
    uint8_t sig[SG_AUDIT_SIG_LEN];
    size_t sig_len; /* 0: unsigned */
    char key_id[SG_AUDIT_KEY_ID_STR];
};

/* The state's signed text; returns its length. */
size_t sg_audit_state_message(const char *instance, bool closed, uint64_t seq,
                              const uint8_t hash[SG_SHA256_LEN], uint32_t every, const char *ts,
                              char out[SG_AUDIT_STATE_MAX]);
/* Reads the writer state of the trail `instance` (present false when there is none).
 * Returns 0, SG_EINVAL (damaged, or another trail's) or SG_EIO. */
int sg_audit_state_get(sqlite3 *db, const char *instance, struct sg_audit_state *out,
                       struct sg_error *err);

/* The stored hash of record `seq` (the anchor's at the anchor, zeros at 0). Returns 0,
 * SG_ENOTFOUND (no such record, or pruned), SG_EINVAL (damaged) or SG_EIO. */
int sg_audit_hash_at(sqlite3 *db, const struct sg_audit_vcp *anchor, uint64_t seq,
                     uint8_t out[SG_SHA256_LEN]);

/* The tail rule, once the chain up to `end` verified and `last_cp` is the last checkpoint
 * (or the anchor): the records after `last_cp` must be what the writer state allows to be
 * unsigned (none after "closed"; fewer than its checkpoint_every after "open", and
 * "open" not past `last_cp`; none without a state), and the state must match the
 * record it names (and, with `pubkey`, be signed by it). Returns 0, SG_EINVAL with `err`
 * and `*bad_seq` (0 when not at one record), or SG_EIO. */
int sg_audit_state_check(sqlite3 *db, const struct sg_audit_state *st, const uint8_t *pubkey,
                         const struct sg_audit_vcp *anchor, uint64_t end, uint64_t last_cp,
                         uint64_t *bad_seq, struct sg_error *err);

/* The chain's tail as the writer checks it at open: every record after the newest
 * checkpoint (or the anchor), that checkpoint's own record recomputed from its predecessor
 * and compared with it, and its signature when `key_id` made it (`pubkey`). */
struct sg_audit_tail {
    struct sg_audit_vcp anchor, cp; /* cp.seq 0: no checkpoint after the anchor */
    uint64_t end;                   /* the last record (the anchor's seq, or 0, when none) */
    uint8_t hash[SG_SHA256_LEN];    /* its hash */
    char ts[SG_AUDIT_TS_LEN + 1];   /* its time, or the later of it and the newest
                                       checkpoint's time */
    uint64_t last_cp;               /* the newest checkpoint's seq, or the anchor's */
};
/* Returns 0, SG_EINVAL with `err` (naming the record or checkpoint) or SG_EIO. */
int sg_audit_tail_verify(sqlite3 *db, const uint8_t *pubkey, const char *key_id,
                         struct sg_audit_tail *t, struct sg_error *err);

/* ---- the streaming verifier ---- */

struct sg_audit_verifier {
    const uint8_t *keys; /* nkeys public keys, oldest first (sg_audit_verify_keys) */
    size_t nkeys;        /* 0: hashes only */
    char key_ids[SG_AUDIT_MAX_KEYS][SG_AUDIT_KEY_ID_STR];
    size_t key_at; /* the key of the last signed checkpoint: later ones use it or newer */
    struct sg_audit_vcp *cps; /* sorted by seq; borrowed */
    size_t ncps, ci;
    uint64_t next_seq;
    uint8_t prev[SG_SHA256_LEN];
    char last_ts[SG_AUDIT_TS_LEN + 1];
    uint64_t last_cp_seq;
    struct sg_audit_verify_report *rep;
    const char *where; /* "" or "instance X: " for messages */
};

/* Starts verifying a chain that begins after `anchor` (seq 0: from the start) against the
 * sorted checkpoints `cps`, with `nkeys` public keys (at most SG_AUDIT_MAX_KEYS, oldest
 * first; 0: hashes only). Checks the checkpoints at or before the anchor. Returns 0 or
 * SG_EINVAL with `err`. */
int sg_audit_verifier_begin(struct sg_audit_verifier *v, const uint8_t *keys, size_t nkeys,
                            const struct sg_audit_vcp *anchor, struct sg_audit_vcp *cps,
                            size_t ncps, struct sg_audit_verify_report *rep, const char *where,
                            struct sg_error *err);
/* Checks the next record (rows in seq order). Returns 0 or SG_EINVAL with `err`. */
int sg_audit_verifier_record(struct sg_audit_verifier *v, const struct sg_audit_row *r,
                             struct sg_error *err);
/* Checks what is left (checkpoints past the end). Returns 0 or SG_EINVAL with `err`. */
int sg_audit_verifier_end(struct sg_audit_verifier *v, struct sg_error *err);

/* ---- the PostgreSQL replicator (audit_pg.c) ---- */

struct sg_audit_pg;
/* Starts the replicator thread for the trail in `path` (it opens its own read-only
 * connection) under `instance`. Returns 0 or SG_ENOMEM / SG_EIO with `err`. It connects
 * in the background; an unreachable server is not an error here. */
int sg_audit_pg_start(const char *conninfo, const char *path, const char *instance,
                      struct sg_audit_pg **out, struct sg_error *err);
/* Tells the replicator that records up to `seq` are committed locally. */
void sg_audit_pg_notify(struct sg_audit_pg *p, uint64_t seq);
/* Gives the replicator up to `flush_ms` to catch up, stops it and frees it. */
void sg_audit_pg_stop(struct sg_audit_pg *p, unsigned flush_ms);
void sg_audit_pg_stats(const struct sg_audit_pg *p, uint64_t *seq, bool *healthy);

#endif
