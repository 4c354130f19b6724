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

/* ---- the streaming verifier ---- */

struct sg_audit_verifier {
    const uint8_t *pubkey; /* NULL: hashes only */
    char key_id[SG_AUDIT_KEY_ID_STR];
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
 * sorted checkpoints `cps`. Checks the checkpoints at or before the anchor. Returns 0 or
 * SG_EINVAL with `err`. */
int sg_audit_verifier_begin(struct sg_audit_verifier *v, const uint8_t *pubkey,
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
