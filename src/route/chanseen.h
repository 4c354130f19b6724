/* The highest signed sequence number accepted per model channel file, with the digest of
 * the file accepted under it, so that an older, genuinely signed channel file put back into
 * the store is refused, and so is a file built on such a replay: another file signed with a
 * number already accepted (docs/models.md, "Replayed channel files"). Two owners keep such
 * a record: the gateway (what it started engines on; in memory, and with `models.state` on
 * disk so that it carries over restarts) and the signing CLI (what it signed; the signer's
 * state, `<key file>.seq` by default).
 *
 * Format: one line per channel file, "<seq> <digest> <absolute path of the channel
 * file>\n" (digest: 64 lowercase hex digits, the SHA-256 of the file's signed text), in the
 * order first seen; lines "<seq> <path>" from before digests were kept are read as "digest
 * unknown". At most SG_CHANSEEN_MAX lines, SG_CHANSEEN_MAX_BYTES bytes. The whole file is
 * rewritten on every change, atomically (temporary file next to it, fsync, rename, fsync of
 * the folder; mode 0600). A file that does not exist is an empty set; one that does not
 * follow the format is an error (it is its owner's own file: damage is reported, never
 * guessed around). A set without a file (sg_chanseen_new) lives in memory only.
 *
 * Ownership: the set owns its path and entries. Not thread-safe (one thread only). */
#ifndef SG_ROUTE_CHANSEEN_H
#define SG_ROUTE_CHANSEEN_H

#include <stdint.h>

#include "core/error.h"

#define SG_CHANSEEN_MAX 4096
#define SG_CHANSEEN_MAX_BYTES (1u << 20)

struct sg_chanseen;

/* What a channel file is measured against: acceptable, older than the one recorded, or
 * another file under the recorded sequence number (both digests known, sequence > 0). */
enum sg_chanseen_verdict { SG_CHANSEEN_OK, SG_CHANSEEN_OLDER, SG_CHANSEEN_OTHER };

/* Reads `path` (absolute). Returns 0, or SG_EINVAL ("PATH:LINE: reason") for a malformed
 * file, SG_ETOOBIG for one over the limits, SG_EIO when it cannot be read, SG_ENOMEM. */
int sg_chanseen_open(const char *path, struct sg_chanseen **out, struct sg_error *err);
/* An empty set kept in memory only (no file). NULL when out of memory. */
struct sg_chanseen *sg_chanseen_new(void);
void sg_chanseen_free(struct sg_chanseen *s);
/* The file the set was opened from (owned by the set), NULL for a set in memory only. */
const char *sg_chanseen_path(const struct sg_chanseen *s);

/* The highest sequence number recorded for a channel file, 0 when none (or `s` NULL). */
uint64_t sg_chanseen_get(const struct sg_chanseen *s, const char *chan_path);

/* Measures a channel file (`seq`, and `digest`, NULL when unknown) against the record:
 * SG_CHANSEEN_OLDER when `seq` is below the recorded number, SG_CHANSEEN_OTHER when it
 * equals it (and is not 0: files from before sequence numbers cannot be told apart) but
 * the digests differ, else SG_CHANSEEN_OK. `recorded` (may be NULL) gets the recorded
 * number. `s` may be NULL (nothing recorded). */
enum sg_chanseen_verdict sg_chanseen_check(const struct sg_chanseen *s, const char *chan_path,
                                           uint64_t seq, const uint8_t *digest, uint64_t *recorded);

/* Records `seq` and `digest` (32 bytes, or NULL when unknown) for `chan_path` (absolute,
 * no control characters) when `seq` is higher than what is recorded (or equal, with the
 * digest unknown so far), and writes the file. Returns 0 (also when nothing changed),
 * SG_EINVAL for a path that cannot be recorded, SG_ETOOBIG when the set is full, SG_EIO
 * when the file cannot be written (the set then keeps the new value in memory). */
int sg_chanseen_put(struct sg_chanseen *s, const char *chan_path, uint64_t seq,
                    const uint8_t *digest, struct sg_error *err);

/* Records every entry of `src` in `dst` as sg_chanseen_put would, writing `dst`'s file
 * once. For a record that moves to another file (or into memory). Same returns. */
int sg_chanseen_merge(struct sg_chanseen *dst, const struct sg_chanseen *src, struct sg_error *err);

#endif
