/* The text stage of a generation: turns the byte pieces of sampled tokens into the text
 * events a client may see. Two things are held back until they are decided: an incomplete
 * UTF-8 sequence (a character split across tokens), and text that might be the start of a
 * stop string. Text before a stop string is released, the stop string and everything after
 * it never is. Invalid byte sequences become U+FFFD, so every piece of text released is
 * complete, valid UTF-8. Used by the engine's decode thread; one per job, not shared. */
#ifndef SG_ENGINE_DETOK_H
#define SG_ENGINE_DETOK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define SG_DETOK_MAX_STOP 4       /* stop strings per job */
#define SG_DETOK_MAX_STOP_LEN 256 /* bytes per stop string */

struct sg_detok {
    char *stop[SG_DETOK_MAX_STOP]; /* owned copies */
    size_t stop_len[SG_DETOK_MAX_STOP];
    size_t nstop;
    size_t max_stop;      /* longest stop string, 0 when none */
    unsigned char raw[4]; /* an incomplete UTF-8 sequence held back */
    size_t nraw;
    struct sg_buf pend; /* valid text not yet released (may start a stop string) */
    bool stopped;       /* a stop string was found: nothing more is released */
};

/* Called with text that is final: complete UTF-8, no part of a stop string. */
typedef void (*sg_detok_emit_fn)(void *arg, const char *text, size_t len);

/* Validates and copies the stop strings (at most SG_DETOK_MAX_STOP, each 1 to
 * SG_DETOK_MAX_STOP_LEN bytes of valid UTF-8). Returns 0, SG_EINVAL (message in err naming
 * `stop`) or SG_ENOMEM. On failure nothing is left to free. */
struct sg_error;
int sg_detok_init(struct sg_detok *d, const char *const *stop, size_t nstop, struct sg_error *err);
/* Adds the bytes of one token and releases through `emit` whatever is now final. Returns 1
 * when a stop string was completed (the text before it has been released, the rest is
 * dropped, and later calls release nothing), 0 otherwise, SG_ENOMEM or SG_ETOOBIG when the
 * held-back text would pass its cap (64 KiB). */
int sg_detok_push(struct sg_detok *d, const char *piece, size_t len, sg_detok_emit_fn emit,
                  void *arg);
/* The generation ended without a stop string: releases everything held back (an
 * incomplete UTF-8 sequence as U+FFFD). Returns 1 if that completed a stop string, else 0. */
int sg_detok_finish(struct sg_detok *d, sg_detok_emit_fn emit, void *arg);
/* Frees the copies and the buffer. Safe on a zeroed or already freed struct. */
void sg_detok_free(struct sg_detok *d);

#endif
