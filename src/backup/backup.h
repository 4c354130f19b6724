/* Backup archives of a deployment: one file, encrypted and signed, written and read as a
 * stream with bounded memory (docs/operations.md, "Backup and restore").
 *
 * Outer format (integers little-endian unless said otherwise):
 *   header, 64 bytes: "SGBACK01" | u32 version (1) | u32 chunk size | 16-byte salt |
 *                     8-byte nonce prefix | 16-byte key check | 8 zero bytes
 *   chunk i = 0..n-1: u32 plaintext length | u8 flags (1: final, else 0) |
 *                     ciphertext (length bytes) | 16-byte GCM tag
 *   trailer, 104 bytes: "SGBKSIG1" | 32-byte Ed25519 public key | 64-byte signature
 * The file key is HKDF-SHA256(backup key, salt, "sovgate-backup/1 data"); the key check is
 * the first 16 bytes of HKDF-SHA256(backup key, salt, "sovgate-backup/1 check"), so a wrong
 * key is named as such. Chunk i is AES-256-GCM with nonce = prefix | i (big-endian u32)
 * and additional data = header | i (big-endian u64) | its length and flags bytes; every
 * chunk but the final one holds exactly `chunk size` bytes, and the final chunk is the last
 * thing before the trailer. So a changed header fails every chunk, and a dropped, reordered,
 * duplicated or cut chunk fails. The signature is Ed25519 over the ASCII message
 * "sovgate-backup:1:" followed by the hex SHA-256 of every byte before the trailer.
 *
 * Inner stream (the concatenated plaintext of the chunks):
 *   "SGBKSTR1", then records: u8 type | u16 path length | u32 mode | u64 size | path |
 *   size bytes of content | 32-byte SHA-256 of the content.
 *   type 'F' is a regular file, type 'D' a folder (size 0: empty folders survive); the one
 *   record of type 'M' (empty path, mode 0) is the manifest, a JSON object whose "entries"
 *   lists every 'F' and 'D' record in order ({"path", "mode", "size", "sha256"}, plus
 *   "type": "dir" for folders); it is the last record and ends the stream.
 * Paths are relative, '/'-separated, of printable ASCII without '\', of non-empty
 * components none of which is "." or ".."; no path appears twice, and no file path is a
 * folder of another. Only regular files and folders exist in an archive (no links, no
 * devices); modes are permission bits only (no set-id bits).
 *
 * Keys: the backup key is 32 bytes named by `file:` or `env:` (64 hex digits, or 32 raw
 * bytes in a file); the signing key is the organisation's Ed25519 key (the audit key
 * formats). Keys are the caller's and are not kept.
 *
 * Ownership: a writer owns its output descriptor only when it opened it; a reader borrows
 * its descriptor. Not thread-safe. */
#ifndef SG_BACKUP_BACKUP_H
#define SG_BACKUP_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"

#define SG_BAK_KEY_LEN 32
#define SG_BAK_HEADER 64
#define SG_BAK_TRAILER 104
#define SG_BAK_TAG 16
#define SG_BAK_DEFAULT_CHUNK (1u << 20)
#define SG_BAK_MIN_CHUNK 1024u
#define SG_BAK_MAX_CHUNK (16u << 20)
#define SG_BAK_PATH_MAX 1024
#define SG_BAK_MAX_ENTRIES 100000
#define SG_BAK_MANIFEST_MAX (32u << 20)

/* Loads a 32-byte backup key from `ref` (file:PATH or env:NAME; relative paths against
 * `base_dir`, which may be NULL). Returns 0 or an SG_E* code with `err`. */
int sg_bak_key_load(const char *ref, const char *base_dir, uint8_t key[SG_BAK_KEY_LEN],
                    struct sg_error *err);
/* Whether `p` is a path an archive may hold (see above). */
bool sg_bak_path_ok(const char *p);

/* ---- writing ---- */

struct sg_bak_writer;

struct sg_bak_writer_opts {
    int fd;                      /* where the archive goes (borrowed; written sequentially) */
    const uint8_t *key;          /* SG_BAK_KEY_LEN bytes */
    const uint8_t *signing_seed; /* 32-byte Ed25519 seed */
    uint32_t chunk;              /* 0: SG_BAK_DEFAULT_CHUNK */
    bool unchecked_paths;        /* tests only: let hostile paths through */
};

/* Starts an archive: writes the header. Returns 0 or an SG_E* code with `err`. */
int sg_bak_writer_open(const struct sg_bak_writer_opts *o, struct sg_bak_writer **out,
                       struct sg_error *err);
/* Adds a file of exactly `size` bytes read from `fd` (borrowed; read from its current
 * position). SG_EIO when the file is shorter than `size`, SG_EINVAL for a bad path or a
 * path already added. */
int sg_bak_writer_add_fd(struct sg_bak_writer *w, const char *path, uint32_t mode, int fd,
                         uint64_t size, struct sg_error *err);
/* Adds a folder (restored even when empty). */
int sg_bak_writer_add_dir(struct sg_bak_writer *w, const char *path, uint32_t mode,
                          struct sg_error *err);
/* Adds a file whose content is the `n` bytes at `p`. */
int sg_bak_writer_add_bytes(struct sg_bak_writer *w, const char *path, uint32_t mode, const void *p,
                            size_t n, struct sg_error *err);
/* Completes the archive: adds the manifest (`meta`, borrowed, may be NULL, gets the
 * "entries" array added to a copy), the final chunk and the signature. Returns 0 or an
 * SG_E* code. The writer is freed either way. */
int sg_bak_writer_finish(struct sg_bak_writer *w, json_t *meta, struct sg_error *err);
/* Frees a writer that will not be finished (the partial output is the caller's). */
void sg_bak_writer_abort(struct sg_bak_writer *w);

/* ---- reading ---- */

/* Callbacks of a read; any may be NULL. A non-zero return stops the read with that code
 * (the callback fills `err`). `data` is called any number of times between `begin` and
 * `end` with the file's content in order; `end` is called after the content's SHA-256
 * was checked; `mkdir` is called for a folder entry. */
struct sg_bak_sink {
    int (*begin)(void *arg, const char *path, uint32_t mode, uint64_t size, struct sg_error *err);
    int (*data)(void *arg, const uint8_t *p, size_t n, struct sg_error *err);
    int (*end)(void *arg, struct sg_error *err);
    int (*mkdir)(void *arg, const char *path, uint32_t mode, struct sg_error *err);
    void *arg;
};

/* What a successful read found. */
struct sg_bak_info {
    uint64_t entries, bytes; /* files and their total size */
    uint64_t chunks;
    uint8_t digest[32]; /* SHA-256 of the archive before the trailer */
    json_t *manifest;   /* the manifest (caller owns; json_decref), or NULL */
};

/* Reads and checks the archive at `fd` (borrowed; a regular file, read from offset 0):
 * the signer must be `pubkey`, the key check must match `key`, every chunk must
 * authenticate, every record must be well formed with an allowed path and its SHA-256,
 * the manifest must list exactly the records, and the signature must verify. Calls
 * `sink` for the files as they are read; a sink that writes must discard what it wrote
 * when this fails. Returns 0, or SG_EDENIED (other signer, bad signature), SG_ECRYPTO
 * (wrong key; a chunk that fails authentication, named with its byte range), SG_EINVAL
 * (malformed, truncated, hostile), SG_ETOOBIG or SG_EIO, with `err`. */
int sg_bak_read(int fd, const uint8_t key[SG_BAK_KEY_LEN], const uint8_t pubkey[32],
                const struct sg_bak_sink *sink, struct sg_bak_info *info, struct sg_error *err);

/* ---- restoring ---- */

struct sg_bak_restore_opts {
    const char *archive;
    const uint8_t *key;    /* SG_BAK_KEY_LEN bytes */
    const uint8_t *pubkey; /* 32 bytes */
    const char *dir;       /* the target folder */
    bool force;            /* replace a non-empty `dir` */
    /* How long to wait for the lock of a model store inside `dir` (held by `model import`,
     * `promote`, `remove`, `pull`, `gc`) before giving up with SG_EUNAVAIL; 0: 30 s. */
    unsigned store_wait_ms;
    void (*note)(void *arg, const char *line); /* progress lines, or NULL */
    void *note_arg;
};

/* Verifies the whole archive without writing anything, then writes it into a fresh
 * temporary folder next to `dir`, checking it again on the way (so an archive changed in
 * between is refused), and renames that folder into place atomically. SG_EEXIST when
 * `dir` exists and is not empty (without `force`) or is not a folder. On failure nothing
 * is left behind. `info` (may be NULL) gets what was read (info->manifest: caller's).
 * With `force`, a model store inside `dir` (a folder, not reached through a link, holding a
 * lock file beside manifests/) is replaced with it: the restore takes each such store's
 * lock exclusively (sg_model_lock_root) after the first pass and before it writes
 * anything, and holds it until the old folder is gone, so that no change of that store is
 * half done when it is swapped out; SG_EUNAVAIL when a change holds it past
 * `store_wait_ms`. */
int sg_bak_restore(const struct sg_bak_restore_opts *o, struct sg_bak_info *info,
                   struct sg_error *err);

/* ---- making a backup of a deployment ---- */

struct sg_bak_backup_opts {
    const char *config;  /* the gateway configuration */
    const char *out;     /* the archive to write (replaced atomically) */
    const uint8_t *key;  /* SG_BAK_KEY_LEN bytes */
    const uint8_t *seed; /* 32-byte Ed25519 signing seed */
    bool with_weights;   /* include model blobs and engine GGUF files */
    bool with_secrets;   /* include secrets held in files (TLS key, file: refs) */
    uint32_t chunk;      /* 0: default */
    /* How long to wait for the model store's lock (held by `model import`, `promote`,
     * `remove`, `pull`) before giving up with SG_EUNAVAIL; 0: 30 s. The lock is taken shared
     * for the walk of the store only. */
    unsigned store_wait_ms;
    void (*note)(void *arg, const char *line); /* progress lines, or NULL */
    void *note_arg;
};

/* Writes an archive of the deployment of `config` (see docs/operations.md for what goes
 * in): the config rewritten to point into the restored folder, the original config, the
 * SQLite databases copied with SQLite's online backup API (consistent while the gateway
 * writes), public TLS material, the model store (walked under its lock, taken shared) and,
 * when asked, weights and secrets.
 * The archive is written to a temporary file next to `out` and renamed when complete.
 * Returns 0 or an SG_E* code with `err`. */
int sg_bak_backup(const struct sg_bak_backup_opts *o, struct sg_error *err);

#endif
