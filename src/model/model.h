/* The model store: versioned, signed, optionally encrypted GGUF weights on local disk.
 *
 * Layout under the store root (docs/models.md):
 *   blobs/sha256/<hex>             the weights as stored (GGUF, or SGMENC01-encrypted),
 *                                  named by the SHA-256 of the stored bytes
 *   manifests/<name>/<version>.json  signed manifest (payload + Ed25519 signature)
 *   channels/<name>.json           signed channel pointers ({"prod": {"version", "manifest",
 *                                  "history", "history_manifests"}})
 *   partial/                       unfinished pulls (resumed by the next pull)
 *   tmp/                           files being written (removed on the next change)
 *   .lock                          flock(2) taken by every change (and, shared and without
 *                                  waiting, by verify's look for orphans; exclusively by
 *                                  `restore --force` replacing the folder a store lies in)
 *   audit.db                       the store's own audit trail (src/audit), unless configured
 *   audit.db.pending               records of changes made without the signing key, which
 *                                  the next change made with it moves into the trail
 * Every file is written to tmp/, fsynced and renamed into place, and its directory fsynced,
 * so that after any failure (disk full included) every manifest names a blob that exists
 * and every channel names a manifest that exists. An import or pull that fails leaves
 * nothing; one that dies (a crash, kill -9, power loss) after its blob entered blobs/ and
 * before its manifest was written leaves that blob alone, which sg_model_gc removes (under
 * the lock, which an import holds from before its blob enters blobs/ until its manifest is
 * written, so gc never takes the blob of an import under way for an orphan). A lock granted
 * after a wait is checked to be that of the .lock file there now (the folder may have been
 * replaced meanwhile: then the new one is locked).
 *
 * Signing: the organisation's Ed25519 key (the same key formats as the audit trail:
 * PEM PKCS#8 or 64 hex digits). Changing operations need the private key (pull and gc
 * excepted: without it their audit records wait for it, see sg_model_store_deferred);
 * verification and loading need only the public key.
 *
 * Ownership: a store borrows the option strings for its lifetime and copies the keys
 * (zeroed when freed). Not thread-safe; one process may change a store at a time (the
 * lock makes a second one wait). */
#ifndef SG_MODEL_MODEL_H
#define SG_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/crypto.h"
#include "core/error.h"

#define SG_MODEL_NAME_MAX 64   /* name, version and channel: [A-Za-z0-9._-], not "." first */
#define SG_MODEL_DIGEST_HEX 64 /* a manifest digest: SHA-256 as lower-case hex */

struct sg_model_store;

struct sg_model_store_opts {
    const char *root;           /* the store directory (created when missing) */
    const uint8_t *signing_key; /* 32-byte Ed25519 seed, or NULL (read-only use) */
    const uint8_t *public_key;  /* 32 bytes; NULL: derived from signing_key */
    const char *audit_path;     /* audit trail of the changes; NULL: <root>/audit.db;
                                   "" : none */
    bool create;                /* create the directories when missing */
    /* The signer's own record of the channel files it signed (absolute path, the format of
     * route/chanseen.h; NULL: none): promote and rollback refuse to build on a channel file
     * older than the one recorded for it, or on another file under the recorded sequence
     * number (a signed file put back), unless `accept_older_channels`; the new file's
     * sequence number is then above both. */
    const char *signer_state;
    bool accept_older_channels;
};

/* What tells one channel file from another: its signed sequence number (0: no file, or
 * one from before sequence numbers) and the SHA-256 of its signed text (zeros: no file). */
struct sg_model_chanver {
    uint64_t seq;
    uint8_t digest[32];
};

int sg_model_store_open(const struct sg_model_store_opts *o, struct sg_model_store **out,
                        struct sg_error *err);
void sg_model_store_free(struct sg_model_store *s);
/* Where this store's audit records wait for the signing key when a command without it (pull,
 * push, gc) made a change: the trail's pending file (the trail's path + ".pending"), which
 * the next change made with the key moves into the trail (docs/models.md "Audit"). NULL
 * when this store put no record there. Owned by the store. */
const char *sg_model_store_deferred(const struct sg_model_store *s);

struct sg_model_import_opts {
    const char *file; /* the GGUF to copy in */
    const char *name, *version;
    const char *license, *source; /* optional, recorded in the manifest */
    const uint8_t *enc_key;       /* 32-byte master key: encrypt at rest; NULL: plaintext */
    uint32_t chunk;               /* encryption chunk size (0: 4 MiB) */
};

/* Copies a GGUF into the store, reads its metadata, writes and signs its manifest, and
 * records "model.import" in the audit trail. `*manifest` (may be NULL) gets the signed
 * manifest (caller owns; json_decref). SG_EEXIST when name/version exists, SG_EINVAL for
 * a file that is not a usable GGUF, SG_EIO (disk full included) with the store unchanged. */
int sg_model_import(struct sg_model_store *s, const struct sg_model_import_opts *o,
                    json_t **manifest, struct sg_error *err);

/* Every manifest (verified signatures only: an unverifiable manifest is listed with
 * "error"), with the channels pointing at it: a JSON array the caller owns. */
int sg_model_list(struct sg_model_store *s, json_t **out, struct sg_error *err);

/* One line of a verification report. */
typedef void (*sg_model_report_fn)(void *arg, const char *name, const char *version, int rc,
                                   const char *msg);
/* Verifies name/version (version NULL: every version of name; name NULL: everything):
 * the manifest's signature, the blob's size and SHA-256, and with `enc_key` for encrypted
 * weights every chunk and the SHA-256 of the plaintext; and the channels' signatures, each
 * channel's version and history as resolve and rollback take them (manifests that verify,
 * the pinned ones; a well-formed history).
 * Calls `fn` once per manifest. Returns 0 when all verify, else the first failure's code. */
int sg_model_verify(struct sg_model_store *s, const char *name, const char *version,
                    const uint8_t *enc_key, sg_model_report_fn fn, void *arg, struct sg_error *err);

/* Points `channel` of `name` at `version` (which must exist and verify its signature);
 * the previous target goes onto the channel's history with the digest of the manifest the
 * channel served (its pin). Audited ("model.promote"). */
int sg_model_promote(struct sg_model_store *s, const char *name, const char *version,
                     const char *channel, struct sg_error *err);
/* What a rollback did. */
struct sg_model_rollback_result {
    char version[SG_MODEL_NAME_MAX + 1];    /* the version the channel points at now */
    char manifest[SG_MODEL_DIGEST_HEX + 1]; /* the digest of its manifest, now pinned */
    bool unpinned; /* its history entry had no pin (written before histories were pinned):
                      the manifest was taken by version alone */
};
/* Points `channel` back at the previous version in its history; `res` (may be NULL) gets
 * what it did. The manifest under that version must verify and, when the history entry
 * pins one (promote writes the digest of the manifest the channel served, beside the
 * version: "history_manifests"), be that one: another signed manifest is refused
 * (SG_ECRYPTO, naming both digests) and nothing changes. SG_ENOTFOUND when there is no
 * history, SG_EINVAL for a damaged one. */
int sg_model_rollback(struct sg_model_store *s, const char *name, const char *channel,
                      struct sg_model_rollback_result *res, struct sg_error *err);
/* Removes a version's manifest (and its blob when no other manifest uses it). Refuses
 * (SG_EEXIST) a version a channel points to or keeps in its history. */
int sg_model_remove(struct sg_model_store *s, const char *name, const char *version,
                    struct sg_error *err);

/* ---- garbage collection ---- */

enum sg_model_gc_action {
    SG_MODEL_GC_REMOVED,      /* removed */
    SG_MODEL_GC_WOULD_REMOVE, /* a dry run: would be removed */
    SG_MODEL_GC_KEPT,         /* a pull's unfinished download, kept to be resumed */
    SG_MODEL_GC_LEFT,         /* not the store's (a link, a folder, another name): left alone */
    SG_MODEL_GC_FAILED,       /* could not be removed (the reason in `why`) */
};
/* One line of a gc report: `file` is relative to the store (printable ASCII only). */
typedef void (*sg_model_gc_fn)(void *arg, enum sg_model_gc_action act, const char *file,
                               uint64_t bytes, const char *why);
struct sg_model_gc_opts {
    bool dry_run; /* report what would be removed; remove nothing (a shared lock) */
    bool partial; /* also remove partial/ (unfinished pulls, otherwise resumed) */
};
struct sg_model_gc_stats {
    size_t files;        /* removed (a dry run: would be) */
    uint64_t bytes;      /* their size */
    size_t kept;         /* partial downloads kept */
    uint64_t kept_bytes; /* their size */
    size_t left;         /* entries left alone */
};
/* Under the store's lock (exclusive; shared for a dry run, so it waits for a change under
 * way, as every change does): removes the blobs of blobs/sha256/ that no manifest file
 * names (whether it verifies or not), what failed changes left in tmp/, and with
 * `o->partial` the unfinished downloads in partial/. Only regular files with a blob's name
 * are removed from blobs/sha256/ (a link is never followed, nothing outside the store's
 * folders is touched). A manifest file that cannot be read or names no blob stops it before
 * anything is removed. Calls `fn` (may be NULL) per file; `st` (may be NULL) gets the
 * totals. Audited ("model.gc") when something was removed (without the signing key the
 * record waits for it: sg_model_store_deferred). Never removes a manifest or a channel file,
 * so whatever a channel points at or may roll back to keeps its manifest and blob. */
int sg_model_gc(struct sg_model_store *s, const struct sg_model_gc_opts *o, sg_model_gc_fn fn,
                void *arg, struct sg_model_gc_stats *st, struct sg_error *err);

/* What sg_model_gc would remove now, found by gc's own scan, without removing anything and
 * without waiting: what `sovgate model verify` reports as orphans. Calls `fn` (may be NULL)
 * per file as a dry run of gc does (SG_MODEL_GC_WOULD_REMOVE: an orphan, a blob that no
 * manifest file names or a leftover in tmp/; SG_MODEL_GC_KEPT: a pull's unfinished
 * download, not an orphan; SG_MODEL_GC_LEFT: not the store's); `st` (may be NULL) gets the
 * totals (files and bytes: the orphans). Takes the store's lock shared without waiting for
 * it, and lets go of it before returning (unless this store held it already): the lock
 * file is opened read-only and never created; a store without one (never changed since it
 * was made or restored) is looked at without it. Returns 0; SG_EUNAVAIL when a change holds
 * the lock (the blob of an import under way has no manifest yet), with nothing looked at;
 * SG_EINVAL when a manifest file cannot be read (it may name any blob: it is named); SG_EIO
 * when a folder or the lock cannot be read. */
int sg_model_orphans(struct sg_model_store *s, sg_model_gc_fn fn, void *arg,
                     struct sg_model_gc_stats *st, struct sg_error *err);

/* Takes the lock of the model store in folder `root` (its .lock, the flock(2) that every
 * change holds) for a process that does not open the store: shared for `sovgate backup`'s
 * walk of it, exclusive for `sovgate restore --force`, which replaces the folder holding
 * it. Waits up to `wait_ms` (0: one try) for a change under way, calling `waiting(arg)`
 * (may be NULL) once when it has to wait; then SG_EUNAVAIL ("the model store is busy ...;
 * try again"). The lock file is opened read-only and never created: a store without one
 * (never changed by `sovgate model`) gives 0 and *fd = -1. Once granted, the lock is
 * checked to be that of the file `root`/.lock names now (the folder may have been replaced
 * meanwhile; then the file there now is locked), as for every change. `*fd` gets the
 * descriptor that holds the lock: the caller closes it to let go. SG_EIO, SG_ETOOBIG. */
int sg_model_lock_root(const char *root, bool exclusive, unsigned wait_ms,
                       void (*waiting)(void *arg), void *arg, int *fd, struct sg_error *err);

/* ---- loading (sovgate-engine) ---- */

/* Resolves "name@channel" or "name:version" to a verified manifest (caller owns; the
 * payload object, signature checked, and for a channel the channel file's signature).
 * `chan` (may be NULL) gets the channel file's signed sequence number, which every promote
 * and rollback increases, and digest (zeros for name:version). */
int sg_model_resolve(struct sg_model_store *s, const char *ref, json_t **payload,
                     struct sg_model_chanver *chan, struct sg_error *err);
/* Opens the weights of a verified manifest payload for loading: plaintext weights are
 * opened and hashed through the returned descriptor; encrypted ones are decrypted with
 * `enc_key` into a sealed memfd (never onto disk) while the plaintext is hashed. Either
 * way the SHA-256 must match the signed one. `*fd` (caller closes) reads the GGUF; load it
 * as /proc/self/fd/<fd>. SG_ECRYPTO/SG_EINVAL with `err` naming what failed. */
int sg_model_open_weights(struct sg_model_store *s, json_t *payload, const uint8_t *enc_key,
                          int *fd, struct sg_error *err);

/* The engine's way in: opens the store `root` read-only with the public key `pubkey_ref`,
 * resolves `ref`, and opens its verified weights (sg_model_open_weights) with the key
 * `enc_ref` (NULL when not encrypted). With `manifest_sha256` (64 lower-case hex digits,
 * see sg_model_digest_parse; NULL: no pin) the verified manifest must be exactly the one
 * with that digest (sg_model_manifest_sha256), else SG_ECRYPTO before any weights are
 * read: the gateway passes the manifest it resolved the channel to, so another signed
 * manifest put under that version in between is refused; a malformed pin is SG_EINVAL.
 * `*fd` gets the descriptor to load as /proc/self/fd/<fd>; `*payload` (may be NULL; caller
 * owns) the verified manifest. */
int sg_model_open_ref(const char *root, const char *ref, const char *pubkey_ref,
                      const char *enc_ref, const char *manifest_sha256, int *fd, json_t **payload,
                      struct sg_error *err);

/* The SHA-256, as SG_MODEL_DIGEST_HEX lower-case hex digits and a NUL, of a manifest
 * payload's signed text ("sovgate-model-manifest:1:" + the payload as signed): what a
 * channel entry pins ("manifest") and what `sovgate-engine --manifest-sha256` expects.
 * `payload` is borrowed (a verified one: sg_model_resolve). Returns 0, SG_EINVAL (not an
 * object) or SG_ENOMEM. */
int sg_model_manifest_sha256(json_t *payload, char hex[SG_MODEL_DIGEST_HEX + 1]);
/* Parses a pinned manifest digest given from outside (a command line): exactly 64 hex
 * digits, lower case only (as the store writes them: an upper-case digit is refused, not
 * folded), nothing around them. Copies it into `hex`. Returns 0, or SG_EINVAL with `err`
 * saying what is wrong (empty, its length, the position of a bad character); the message
 * never repeats the value. */
int sg_model_digest_parse(const char *s, char hex[SG_MODEL_DIGEST_HEX + 1], struct sg_error *err);

/* Loads an Ed25519 key from a file:/env: reference (private: `seed`; public: `pub`). */
int sg_model_key_load(const char *ref, const char *base_dir, bool is_private, uint8_t key[32],
                      struct sg_error *err);

/* Whether `s` is a valid name, version or channel. */
bool sg_model_name_ok(const char *s);

#endif
