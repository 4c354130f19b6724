/* The tamper-evident audit trail: one record per API request (and a decision record
 * before a request goes to an external backend), hash-chained, written by one writer
 * thread in batched transactions to SQLite in WAL mode, with Ed25519-signed checkpoints
 * every N records or T milliseconds. docs/audit.md describes the format for auditors.
 *
 * Records: the caller gives a JSON object as text; the trail stores
 *   content_i = {"seq":i,"ts":"2026-11-26T10:00:00.123Z",<the caller's members>}
 * byte for byte (the caller's bytes after its opening brace are kept as they are), and
 *   hash_i = SHA-256(hash_{i-1} || content_i)   (record 1's predecessor: 32 zero bytes,
 *                                                 or the anchor's hash after pruning)
 * A checkpoint signs the text "sovgate-audit-checkpoint:1:<seq>:<hex hash_seq>:<ts>" with
 * the configured key, so rewriting any record or truncating the trail before the last
 * checkpoint is detectable offline with the public key alone. Records never hold prompt
 * text or personal data; where an investigator must correlate, the gateway puts keyed
 * HMAC digests in the record.
 *
 * The trail's own records: after a failed store recovers, the writer appends
 * {"seq":..,"ts":..,"event":"audit.recovered","failed_at":..,"refused":N,"error":..}
 * before anything else, so that the gap in time is explained inside the chain.
 *
 * Threads: sg_audit_append() may be called from any thread; it never blocks on I/O (it
 * takes a mutex for a pointer push). The writer thread commits everything queued in one
 * transaction (group commit; synchronous=FULL, so a commit is fsynced), then calls each
 * record's `done` callback ON THE WRITER THREAD with the result (0 when durable, an SG_E*
 * code when not). When the store fails, the trail turns "failed": the batch and every
 * record still queued get SG_EIO, every later append fails at once (done is called with
 * SG_EIO from within sg_audit_append) until a write succeeds again (the writer retries
 * every `retry_ms`, reopening the file when it was replaced), and sg_audit_healthy() says
 * so. The writer recovers only from a file that still holds the last durable record as it
 * was written (not from an older copy or a fork of the trail). A done callback must be
 * quick (it delays the next commit), may call sg_audit_append(), and must not call
 * sg_audit_close().
 *
 * Ownership: the trail copies everything it is given. */
#ifndef SG_AUDIT_AUDIT_H
#define SG_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define SG_AUDIT_RECORD_MAX (64 * 1024) /* bytes of the caller's JSON at most */
#define SG_AUDIT_KEY_LEN 32             /* Ed25519 seed and public key */
#define SG_AUDIT_KEY_ID_STR 17          /* 16 hex digits + NUL */
#define SG_AUDIT_TS_LEN 24              /* "2026-11-26T10:00:00.123Z" */

struct sg_audit;

struct sg_audit_opts {
    const char *path;                /* SQLite file (created with mode 0600 when missing) */
    const uint8_t *signing_key;      /* raw 32-byte Ed25519 private key (seed), or NULL:
                                        checkpoints are then unsigned (chain only) */
    uint32_t checkpoint_every;       /* records between checkpoints (0: 1000) */
    uint32_t checkpoint_interval_ms; /* at most this long between checkpoints while records
                                        come in (0: 10 s) */
    uint32_t queue_max;              /* records queued at most (0: 65536); beyond, append
                                        fails with SG_ETOOBIG (the caller refuses the
                                        request) */
    size_t queue_max_bytes;          /* bytes of queued records at most (0: 64 MiB); beyond,
                                        append fails with SG_ETOOBIG */
    uint32_t retry_ms;               /* after a failure, how often the writer tries the store
                                        again (0: 250 ms) */
    const char *postgres;            /* libpq connection string of an optional shared
                                        sink, or NULL (see sg_audit_stats' pg_* fields) */
};

/* Opens (creating the file and schema when needed), checks the existing chain's tail
 * (every record after the newest checkpoint, and that checkpoint's record, recompute; the
 * checkpoint's signature when this key made it; no checkpoint points past the last record;
 * the unsigned records are what the writer state allows, see sg_audit_verify), writes a
 * checkpoint over records a crash left unsigned and the "open" writer state, and starts
 * the writer thread (and the PostgreSQL replicator when configured). A tail that does not
 * pass is never signed. Returns 0 or an SG_E* code with `err`: SG_EIO when the file cannot
 * be opened or written, SG_EINVAL when it is not an audit trail or its tail does not
 * verify, SG_ECRYPTO when the key is unusable. */
int sg_audit_open(const struct sg_audit_opts *o, struct sg_audit **out, struct sg_error *err);
/* Writes what is queued, a final checkpoint and the "closed" writer state (unless the
 * store has failed), stops the writer (and gives the PostgreSQL replicator up to 5 s to
 * catch up) and closes. Every pending done callback has been called when it returns. NULL
 * is accepted. */
void sg_audit_close(struct sg_audit *a);

/* One record: a JSON object as text, already serialized by the caller: `{` first and `}`
 * last, at most SG_AUDIT_RECORD_MAX bytes, valid UTF-8, no byte below 0x20 (so no NUL and
 * no raw newline: compact JSON), no duplicate keys, and no top-level "seq" or "ts" (the
 * trail adds them). Anything else is refused with SG_EINVAL (SG_ETOOBIG when too long). */
typedef void (*sg_audit_done_fn)(void *arg, int result);
/* Queues a record; `done(arg, result)` is called exactly once: on the writer thread after
 * the commit (0: durable), or from within this call when the record cannot be queued
 * (SG_EINVAL / SG_ETOOBIG: refused input; SG_ETOOBIG: queue full; SG_EIO: failed store;
 * SG_EUNAVAIL: the trail is closing). Returns 0 when queued, else the SG_E* code also
 * passed to done. `done` may be NULL (fire and forget). */
int sg_audit_append(struct sg_audit *a, const char *json, size_t len, sg_audit_done_fn done,
                    void *arg);

/* Whether the last write succeeded (for /readyz). */
bool sg_audit_healthy(const struct sg_audit *a);
/* This trail's instance id (16 hex digits, made when the file was created; the key of
 * its chain in the PostgreSQL sink). Owned by the trail. */
const char *sg_audit_instance(const struct sg_audit *a);

struct sg_audit_stats {
    uint64_t records;        /* committed since open */
    uint64_t refused;        /* appends refused since open (any reason) */
    uint64_t queued;         /* in the queue now */
    uint64_t commits;        /* transactions */
    uint64_t last_commit_us; /* duration of the last commit */
    uint64_t commit_us_sum;  /* total duration of all commits */
    uint64_t failures;       /* failed transactions */
    uint64_t checkpoints;    /* written since open */
    uint64_t seq;            /* the last durable record's seq */
    uint64_t pg_seq;         /* the last seq the PostgreSQL sink has (0 without one) */
    bool pg_healthy;         /* the sink's last replication succeeded (false without one) */
};
void sg_audit_stats(const struct sg_audit *a, struct sg_audit_stats *out);

/* ---- keys ----
 * A signing key file is the PEM PKCS#8 form of the Ed25519 key ("-----BEGIN PRIVATE
 * KEY-----", what `openssl genpkey -algorithm ed25519` writes and `sovgate audit keygen`
 * writes), or 64 hex digits of the seed; a public key file is PEM SubjectPublicKeyInfo
 * ("-----BEGIN PUBLIC KEY-----") or 64 hex digits. Leading and trailing white space is
 * ignored. */

/* Makes a new random seed. Returns 0 or SG_ECRYPTO. */
int sg_audit_key_generate(uint8_t seed[SG_AUDIT_KEY_LEN]);
/* Reads a signing key from the bytes of a key file. Returns 0 or SG_EINVAL with `err`
 * (which never quotes the key). */
int sg_audit_key_parse(const char *data, size_t len, uint8_t seed[SG_AUDIT_KEY_LEN],
                       struct sg_error *err);
/* Reads a public key from the bytes of a public key file. Returns 0 or SG_EINVAL. */
int sg_audit_pubkey_parse(const char *data, size_t len, uint8_t pub[SG_AUDIT_KEY_LEN],
                          struct sg_error *err);
/* The public key of a seed. Returns 0 or SG_ECRYPTO. */
int sg_audit_key_public(const uint8_t seed[SG_AUDIT_KEY_LEN], uint8_t pub[SG_AUDIT_KEY_LEN]);
/* Writes the PEM form of a seed (private: PKCS#8) or of a public key (SPKI) into `out`
 * (NUL-terminated). Returns the length, or SG_ETOOBIG / SG_ECRYPTO. 256 bytes suffice. */
int sg_audit_key_pem(const uint8_t key[SG_AUDIT_KEY_LEN], bool is_private, char *out, size_t cap);
/* The key id of a public key: the first 8 bytes of SHA-256(pub) in hex. */
void sg_audit_key_id(const uint8_t pub[SG_AUDIT_KEY_LEN], char out[SG_AUDIT_KEY_ID_STR]);

/* ---- offline tools (no writer thread; safe to run while a gateway writes the file) ---- */

struct sg_audit_verify_report {
    uint64_t records;       /* records checked */
    uint64_t checkpoints;   /* checkpoints checked */
    uint64_t signed_cps;    /* of which signatures were checked against the key */
    uint64_t first_seq;     /* the first record's seq (anchor + 1 after pruning) */
    uint64_t last_seq;      /* the last record's seq (0 when empty) */
    uint64_t anchor_seq;    /* the prune anchor (0 when never pruned) */
    uint64_t unsigned_tail; /* records after the last checkpoint (not yet covered) */
    uint64_t bad_seq;       /* when not intact: the seq of the first bad record or
                               checkpoint (0 when the problem is not at one record) */
    char instance[SG_AUDIT_KEY_ID_STR];
    /* The writer state (SQLite trails): "open" (a writer runs, or crashed), "closed" (closed
     * cleanly), or "" (none: a trail an older version wrote, or a PostgreSQL trail). */
    char state[8];
    uint64_t state_seq;        /* where it opened (open) or closed (closed) */
    uint32_t checkpoint_every; /* the open writer's cadence: unsigned_tail stays below it */
    /* After pruning: the anchor checkpoint's time (signed), and when and before what time
     * the prune says it ran (meta, not signed: a removal of the oldest records up to a
     * checkpoint cannot be told from a prune). */
    char anchor_ts[SG_AUDIT_TS_LEN + 1];
    char pruned_at[SG_AUDIT_TS_LEN + 1], pruned_before[SG_AUDIT_TS_LEN + 1];
};

/* Verifies the whole trail in `path`: the format, every record's seq, time and hash, the
 * chain from the anchor (or from zero), every checkpoint (its hash against the record's;
 * with `pubkey` (32 raw bytes) its signature and key id, and every checkpoint must be
 * signed; without it only the hashes are checked), that no checkpoint points past the
 * last record (truncation), and the tail rule: records after the last checkpoint are
 * allowed only as the writer state in meta explains them (none after a clean close; fewer
 * than the open writer's checkpoint_every; none without a state), the state matching the
 * record it names and, with `pubkey`, signed by it. Returns 0 when intact, SG_EINVAL with
 * `err` naming the first bad record or checkpoint (and `rep->bad_seq`), or SG_EIO when the
 * file cannot be read. `rep` may be NULL. */
int sg_audit_verify(const char *path, const uint8_t *pubkey, struct sg_audit_verify_report *rep,
                    struct sg_error *err);

/* Public keys for verifying a trail whose signing key was rotated: `keys` holds `nkeys`
 * raw 32-byte keys back to back, OLDEST FIRST, the current key last. Each checkpoint (and
 * the anchor) must be signed by the given key whose id it carries, and no checkpoint may be
 * signed by a key older than that of an earlier checkpoint (a retired key cannot vouch for
 * what followed its successor); the writer state must be signed by the last key. With one
 * key this is sg_audit_verify; with none, hashes only. At most SG_AUDIT_MAX_KEYS. */
#define SG_AUDIT_MAX_KEYS 16
int sg_audit_verify_keys(const char *path, const uint8_t *keys, size_t nkeys,
                         struct sg_audit_verify_report *rep, struct sg_error *err);

/* Verifies every instance's chain in a PostgreSQL sink (or only `instance` when not NULL)
 * the same way (`keys`: as in sg_audit_verify_keys). `rep` describes the last instance checked;
 * `instances` gets their number. Returns 0, SG_EINVAL (naming the instance and the first bad
 * record), SG_EIO or SG_EUNAVAIL (cannot connect). */
int sg_audit_verify_pg(const char *conninfo, const char *instance, const uint8_t *keys,
                       size_t nkeys, struct sg_audit_verify_report *rep, uint64_t *instances,
                       struct sg_error *err);

/* One stored record, as the scan hands it out (borrowed for the callback's duration). */
struct sg_audit_row {
    uint64_t seq;
    const char *ts;      /* "2026-11-26T10:00:00.123Z" */
    const char *content; /* the hashed content (JSON object text, not NUL-terminated) */
    size_t len;
    const uint8_t *hash; /* 32 bytes (or `hash_len`, when the row is damaged) */
    size_t hash_len;
};
/* Returns 0 to go on, anything else to stop the scan (and be returned by it). */
typedef int (*sg_audit_row_fn)(void *arg, const struct sg_audit_row *r);

struct sg_audit_scan_opts {
    uint64_t from_seq; /* records with seq >= from_seq (0: all) */
    int64_t since_ms;  /* and ts >= this time (Unix milliseconds; 0: any) */
    uint64_t last;     /* only the last `last` of those (0: all) */
};
/* Calls `fn` for each record selected by `o` (NULL: all), in seq order. Does not verify
 * (use sg_audit_verify). Returns 0, the callback's non-zero value, or SG_EIO /
 * SG_EINVAL with `err`. */
int sg_audit_scan(const char *path, const struct sg_audit_scan_opts *o, sg_audit_row_fn fn,
                  void *arg, struct sg_error *err);

struct sg_audit_prune_result {
    uint64_t pruned;     /* records deleted */
    uint64_t anchor_seq; /* the checkpoint the remaining chain now starts from (0: none) */
};
/* Retention: deletes the oldest records, all of them older than `before_ms` (Unix ms), up
 * to and including the newest checkpoint that lies entirely before that time, and makes
 * that checkpoint the anchor (meta) the remaining chain is verified from; older
 * checkpoints are deleted too, the anchor checkpoint is kept. The trail is verified first
 * (with `pubkey` when given) and a trail that does not verify is not pruned (SG_EINVAL).
 * Pruning nothing is not an error. Returns 0, SG_EINVAL or SG_EIO with `err`. */
int sg_audit_prune(const char *path, int64_t before_ms, const uint8_t *pubkey,
                   struct sg_audit_prune_result *res, struct sg_error *err);
/* The same, verifying with `nkeys` keys as sg_audit_verify_keys does (key rotation). */
int sg_audit_prune_keys(const char *path, int64_t before_ms, const uint8_t *keys, size_t nkeys,
                        struct sg_audit_prune_result *res, struct sg_error *err);

/* Parses a time for export and prune: "2026-11-26", "2026-11-26T10:00:00Z" (fraction
 * and "Z" optional, always UTC), "@<unix seconds>", or an age "<n>d", "<n>h", "<n>m",
 * "<n>s" counted back from `now_ms`. Returns 0 or SG_EINVAL. */
int sg_audit_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);
/* Formats Unix milliseconds like a record's ts. `out` holds SG_AUDIT_TS_LEN + 1 bytes. */
void sg_audit_format_time(int64_t ms, char out[SG_AUDIT_TS_LEN + 1]);

#endif
