/* Per-client and global limits: requests per minute and tokens per minute (token buckets),
 * requests in flight, and the exfiltration guard (distinct personal values per window).
 *
 * The state lives in one process-wide limiter (it survives configuration reloads; the
 * limits themselves come from the configuration of each request). Every check and update
 * happens under one mutex, so N worker threads never allow N times a limit. The interface
 * works on client names and counts only, so that a shared store (Redis) can implement it
 * later for limits exact across gateways.
 *
 * Buckets: a limit of R per minute is a bucket of R that refills continuously. A request
 * takes one request token up front. Tokens are not known up front: they are taken as they
 * are reported (usage, streamed chunks), and a client whose token bucket is empty (in
 * debt) is refused until it refills. */
#ifndef SG_GUARD_LIMITS_H
#define SG_GUARD_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct sg_limiter;
struct sg_limit_state;

/* What a refused request is told. */
struct sg_limit_refusal {
    const char *limit;    /* "requests_per_minute", "tokens_per_minute", "concurrent",
                             "global_requests_per_minute", "global_concurrent",
                             "distinct_personal" */
    uint32_t retry_after; /* seconds */
};

/* A request's hold on its client's state: taken by sg_limiter_admit, given back by
 * sg_limiter_release (exactly once; a zeroed lease is released as a no-op). */
struct sg_limit_lease {
    struct sg_limit_state *st;
    bool concurrent, global_concurrent;
    int64_t tokens_taken;
};

struct sg_limiter *sg_limiter_new(void);
void sg_limiter_free(struct sg_limiter *l);

/* Admits a request of `client` (may be NULL for unauthenticated endpoints: global limits
 * only) under the limits of `cfg` at time `now_ms`. Returns true (lease filled) or false
 * (nothing taken; `why` filled). */
bool sg_limiter_admit(struct sg_limiter *l, const struct sg_config *cfg, const char *client,
                      uint64_t now_ms, struct sg_limit_lease *lease, struct sg_limit_refusal *why);
/* Takes `n` tokens (prompt + completion) for the lease's client. */
void sg_limiter_tokens(struct sg_limiter *l, const struct sg_config *cfg,
                       struct sg_limit_lease *lease, int64_t n, uint64_t now_ms);
/* Ends the request: gives back what it holds in flight. */
void sg_limiter_release(struct sg_limiter *l, struct sg_limit_lease *lease);

/* The exfiltration guard: records the request's personal values (keyed digests) for the
 * lease's client and returns false (recording nothing) when the client would then have
 * seen more distinct values in its window than allowed. */
bool sg_limiter_personal(struct sg_limiter *l, const struct sg_config *cfg,
                         struct sg_limit_lease *lease, const uint64_t *digests, size_t n,
                         uint64_t now_ms, struct sg_limit_refusal *why);

#endif
