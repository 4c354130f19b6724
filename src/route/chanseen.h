/* The highest signed sequence number the gateway has accepted per model channel file,
 * kept on disk (`models.state`), so that a gateway that starts again still refuses an
 * older, genuinely signed channel file put back into the store (docs/models.md,
 * "Replayed channel files"). The running gateway's own check covers switches; this file
 * carries it over restarts.
 *
 * Format: one line per channel file, "<seq> <absolute path of the channel file>\n", in
 * the order first seen; at most SG_CHANSEEN_MAX lines, SG_CHANSEEN_MAX_BYTES bytes. The
 * whole file is rewritten on every change, atomically (temporary file next to it, fsync,
 * rename, fsync of the folder; mode 0600). A file that does not exist is an empty set; one
 * that does not follow the format is an error (it is the gateway's own file: damage is
 * reported, never guessed around).
 *
 * Ownership: the set owns its path and entries. Not thread-safe (the supervisor's thread
 * only). */
#ifndef SG_ROUTE_CHANSEEN_H
#define SG_ROUTE_CHANSEEN_H

#include <stdint.h>

#include "core/error.h"

#define SG_CHANSEEN_MAX 4096
#define SG_CHANSEEN_MAX_BYTES (1u << 20)

struct sg_chanseen;

/* Reads `path` (absolute). Returns 0, or SG_EINVAL ("PATH:LINE: reason") for a malformed
 * file, SG_ETOOBIG for one over the limits, SG_EIO when it cannot be read, SG_ENOMEM. */
int sg_chanseen_open(const char *path, struct sg_chanseen **out, struct sg_error *err);
void sg_chanseen_free(struct sg_chanseen *s);
/* The file the set was opened from (owned by the set). */
const char *sg_chanseen_path(const struct sg_chanseen *s);

/* The highest sequence number recorded for a channel file, 0 when none. */
uint64_t sg_chanseen_get(const struct sg_chanseen *s, const char *chan_path);

/* Records `seq` for `chan_path` (absolute, no control characters) when it is higher than
 * what is recorded, and writes the file. Returns 0 (also when nothing was higher),
 * SG_EINVAL for a path that cannot be recorded, SG_ETOOBIG when the set is full, SG_EIO
 * when the file cannot be written (the set then keeps the new value in memory). */
int sg_chanseen_put(struct sg_chanseen *s, const char *chan_path, uint64_t seq,
                    struct sg_error *err);

#endif
