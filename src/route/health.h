/* Active health checks: one thread with its own event loop probes every backend
 * (GET <health_path>) through the same upstream client as requests: every `interval`
 * while it answers 2xx, and with exponential backoff (1 s doubling up to `max_backoff`)
 * while it does not. The set of backends is replaced on every configuration reload; the
 * checker keeps its own references (health states, upstream targets) and copies, and
 * releases them when the set is replaced or the checker stops. */
#ifndef SG_ROUTE_HEALTH_H
#define SG_ROUTE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "http/upstream.h"
#include "route/backend.h"

struct sg_health_target {
    struct sg_backend_state *state;    /* the checker takes its own reference */
    struct sg_upstream_target *target; /* the checker takes its own reference */
    const char *path;                  /* copied */
    const char *credential;            /* bearer token or NULL; copied, zeroed on release */
};

struct sg_health_checker;

/* Starts the checker thread. NULL with `err` on failure. */
struct sg_health_checker *sg_health_start(struct sg_error *err);
/* Replaces the targets and the timing (milliseconds). Thread-safe; copies everything and
 * takes its own references, so the caller keeps (and releases) its own. */
int sg_health_set_targets(struct sg_health_checker *h, const struct sg_health_target *t, size_t n,
                          uint32_t interval_ms, uint32_t timeout_ms, uint32_t max_backoff_ms);
/* Stops the thread and frees the checker. */
void sg_health_stop(struct sg_health_checker *h);

#endif
