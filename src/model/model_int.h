/* Internals of the model store shared by its files (store.c: layout, signing, import;
 * ops.c: list, verify, channels, loading; stream.c: copying, hashing, encrypting; gc.c:
 * finding and removing orphaned blobs). Not part of the module's contract (model.h is). */
#ifndef SG_MODEL_MODEL_INT_H
#define SG_MODEL_MODEL_INT_H

#include <stdarg.h>

#include "model/enc.h"
#include "model/model.h"

/* Stored weights are read-only (0440: the store's group may read them, as every store
 * file; nobody writes them in place). */
#define SG_MSTORE_BLOB_MODE 0440

struct sg_mstore_copy {
    uint8_t plain_sha[32], blob_sha[32];
    uint64_t plain_size, blob_size;
    uint32_t chunk;
};

int sg_mstore_path(const struct sg_model_store *s, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int sg_mstore_tmp(const struct sg_model_store *s, char *path, size_t cap, struct sg_error *err);
/* Every file under the store is opened through these (or created by sg_mstore_tmp): no
 * symbolic link is followed and only a regular file is read; `what` names the file in the
 * error ("... is not a regular file"). open_read returns the descriptor; read_file reads a
 * whole document of at most `max` bytes. */
#define SG_MSTORE_DOC_MAX (1u << 20) /* a manifest or channel file, at most */
int sg_mstore_open_read(const char *path, const char *what, struct sg_error *err);
int sg_mstore_read_file(const char *path, size_t max, const char *what, char **out, size_t *len,
                        struct sg_error *err);
int sg_mstore_write_full(int fd, const void *p, size_t n);
void sg_model_enc_key_id(const uint8_t key[SG_MENC_KEY_LEN], char out[17]);

/* Copies `in` into a new tmp/ file (path into `tmp`), hashing the plaintext and the stored
 * bytes, encrypting when `enc_key` is given; fsyncs it. On failure nothing is left. */
int sg_mstore_copy_in(const struct sg_model_store *s, int in, const uint8_t *enc_key,
                      uint32_t chunk, char *tmp, size_t cap, struct sg_mstore_copy *out,
                      struct sg_error *err);

/* SHA-256 of a whole file read from `fd` (from offset 0); `size` gets its length. */
int sg_mstore_hash_fd(int fd, uint8_t sha[32], uint64_t *size, struct sg_error *err);

/* Decrypts the encrypted file `in` with `key`, hashing the plaintext into `sha`, and
 * writes the plaintext to `out` (or nowhere when `out` < 0). The error names the damaged
 * chunk. */
int sg_mstore_decrypt_fd(int in, const uint8_t key[SG_MENC_KEY_LEN], int out, uint8_t sha[32],
                         uint64_t *size, struct sg_error *err);

/* store.c: manifests (signature and name checked; the whole document), channels (the
 * checked "channels" object; {} when none), saving them signed, the audit record (takes
 * `rec`; without the signing key it waits in the trail's pending file, which the next
 * record made with the key moves into the trail first), and the store's lock (also cleans
 * tmp/). */
json_t *sg_mstore_load_manifest(struct sg_model_store *s, const char *name, const char *version,
                                struct sg_error *err);
/* `ver` (may be NULL) gets the channel file's sequence number (0 for a missing file or one
 * written before sequence numbers) and digest. Save builds on `base` (what load gave, under
 * the lock): checked against the signer's state first; writes base->seq + 1 (or above
 * what the signer recorded, with accept_older_channels); `out` gets the new file's. */
json_t *sg_mstore_load_channels(struct sg_model_store *s, const char *name,
                                struct sg_model_chanver *ver, struct sg_error *err);
int sg_mstore_save_channels(struct sg_model_store *s, const char *name, json_t *channels,
                            const struct sg_model_chanver *base, struct sg_model_chanver *out,
                            struct sg_error *err);
/* After a channel file `ver` was written and audited (`rc`: the audit's result): records it
 * in the signer's state. Returns `rc`, or when that is 0 the state's failure. */
int sg_mstore_signer_note(struct sg_model_store *s, const char *name,
                          const struct sg_model_chanver *ver, int rc, struct sg_error *err);
int sg_mstore_audit(struct sg_model_store *s, const char *event, json_t *rec, struct sg_error *err);
int sg_mstore_lock(struct sg_model_store *s, struct sg_error *err);
/* The lock, exclusive (a change) or shared (a consistent read: no change is half done while
 * it is held), with or without removing tmp/'s leftovers (exclusive only). A shared lock
 * already held is made exclusive when asked. */
int sg_mstore_lock_as(struct sg_model_store *s, bool exclusive, bool clean, struct sg_error *err);
/* Whether this store holds its lock now (shared or exclusive): a second lock of the same
 * file from this process would wait for itself. */
bool sg_mstore_holds_lock(const struct sg_model_store *s);
/* For a reader that must see no change half done and must not wait (verify's orphan scan):
 * the store's lock, shared, taken without waiting on a descriptor of its own (`*fd`, which
 * the caller closes to let go; -1 when the store has no lock file: never changed since it
 * was made or restored). The lock file is opened read-only and never created. Returns 0,
 * SG_EUNAVAIL when a change holds it, or SG_EIO, with `err`. */
int sg_mstore_lock_peek(const struct sg_model_store *s, int *fd, struct sg_error *err);

/* store.c: atomic file writes (tmp, fsync, rename, fsync the folder), folder helpers, and
 * the signature check of a manifest document from elsewhere (returns its payload,
 * borrowed from `doc`, or NULL with `err`). */
int sg_mstore_write_atomic(struct sg_model_store *s, const char *dest, const char *data, size_t n,
                           struct sg_error *err);
int sg_mstore_fsync_dir(const char *dir);
int sg_mstore_mkdir_p(const char *path);
/* The SHA-256 (hex) of a manifest document's signed text: what a channel entry pins
 * ("manifest"), so that another genuinely signed manifest put back under the promoted
 * version (one removed and imported again, say) is not taken for it. */
int sg_mstore_manifest_digest(json_t *doc, char hex[65]);
json_t *sg_mstore_check_manifest(struct sg_model_store *s, json_t *doc, struct sg_error *err);
/* ops.c: checks the blob a verified payload names (size and SHA-256 of the stored bytes)
 * and returns it open in `*fd`. */
int sg_mstore_check_blob(struct sg_model_store *s, json_t *payload, int *fd, struct sg_error *err);

/* The names in the folder open as `dfd`, sorted: not "." and "..", nor (unless `hidden`)
 * other names that start with '.'; with `suffix`, only the names that end in it, cut
 * before it. *rc is 0, or SG_ENOMEM / SG_EIO with what was read so far (possibly NULL).
 * Free with sg_mstore_names_free. */
char **sg_mstore_names_at(int dfd, const char *suffix, bool hidden, size_t *n, int *rc);
/* Whether a manifest file names the blob `hex` (64 lower-case hex digits), decided as gc
 * decides what to keep (src/model/gc.c: every manifests/<folder>/<file>.json, whatever its
 * name, signature unchecked), under the lock the caller holds. Returns true also when a
 * manifest file cannot be read or the folders cannot be listed: it may name any blob, and
 * nothing is deleted on a guess. */
bool sg_mstore_blob_named(struct sg_model_store *s, const char *hex);
void sg_mstore_names_free(char **v, size_t n);

#endif
