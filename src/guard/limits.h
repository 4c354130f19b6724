/* Per-client and global limits: requests per minute and tokens per minute (token buckets),
 * requests in flight, and the exfiltration guard (distinct personal values per window).
 *
 * The state lives in one process-wide limiter (it survives configuration reloads; the
 * limits themselves come from the configuration of each request). Every check and update
 * happens under one mutex, so N worker threads never allow N times a limit. The interface
 * works on client names and counts only, so that a shared store (Redis) can implement it
 * later for limits exact across gateways.
 *
 * Buckets: a limit of R per minute is a bucket of R that refills continuously (exactly:
 * no fraction is lost). A request takes one request token up front. Tokens are not known
 * up front: they are taken as they are reported (usage, streamed chunks), and a client
 * whose token bucket is empty (in debt) is refused until it refills. The debt is bounded to
 * one hour of the client's rate, so a wait is never longer than SG_LIMIT_RETRY_MAX. */
#ifndef SG_GUARD_LIMITS_H
#define SG_GUARD_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The longest Retry-After of a bucket, in seconds: its deepest debt refilled. */
#define SG_LIMIT_RETRY_MAX 3600
/* More tokens than one request ever uses: usage beyond it (or an estimate) counts as this. */
#define SG_LIMIT_TOKENS_MAX ((int64_t)1000000000000000) /* 1e15 */

struct sg_limiter;
struct sg_limit_state;

/* What a refused request is told. */
struct sg_limit_refusal {
    const char *limit;    /* "requests_per_minute", "tokens_per_minute", "concurrent",
                             "global_requests_per_minute", "global_concurrent",
                             "distinct_personal", or "unavailable": the client's state
                             could not be created (out of memory), so its limits cannot
                             be applied and the request is refused (fails closed) */
    uint32_t retry_after; /* seconds */
};

/* A request's hold on its client's state: taken by sg_limiter_admit, given back by
 * sg_limiter_release, which zeroes it (a zeroed lease is released as a no-op, and takes no
 * tokens). */
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
/* Takes `n` tokens (prompt + completion) for the lease's client; n <= 0 takes nothing. */
void sg_limiter_tokens(struct sg_limiter *l, const struct sg_config *cfg,
                       struct sg_limit_lease *lease, int64_t n, uint64_t now_ms);
/* Ends the request: gives back what it holds in flight. */
void sg_limiter_release(struct sg_limiter *l, struct sg_limit_lease *lease);

/* The tokens a usage object reports: total_tokens when above 0, else prompt_tokens +
 * completion_tokens; negative numbers count as 0 and each is at most SG_LIMIT_TOKENS_MAX. */
int64_t sg_limit_usage_tokens(int64_t total, int64_t prompt, int64_t completion);
/* The prompt tokens of a request whose usage never came, estimated from the bytes of its
 * text fields: one token per 4 bytes, at least 1. */
int64_t sg_limit_prompt_estimate(size_t text_bytes);

/* The exfiltration guard: records the request's personal values (keyed digests) for the
 * lease's client and returns false (recording nothing) when the client would then have
 * seen more distinct values in its window and the previous one than allowed. Values the
 * request repeats from the previous window count in the current one too. A refusal's
 * retry_after is the wait until the same request would be admitted. */
bool sg_limiter_personal(struct sg_limiter *l, const struct sg_config *cfg,
                         struct sg_limit_lease *lease, const uint64_t *digests, size_t n,
                         uint64_t now_ms, struct sg_limit_refusal *why);

#endif
