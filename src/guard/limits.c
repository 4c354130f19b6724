/* Token buckets, in-flight counts and distinct-value windows under one mutex. */
#include "guard/limits.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Buckets count in steps: one request or one token is STEP steps, and a bucket of R per
 * minute gains R steps each millisecond, so refilling is exact (nothing to round). A rate
 * is at most RATE_MAX (the configuration's largest), so a full bucket is at most 6e13 steps
 * and the deepest debt 3.6e15: int64 arithmetic on levels cannot overflow. */
#define STEP 60000          /* steps per unit: the milliseconds of a minute */
#define RATE_MAX 1000000000 /* per minute; config_guard.c takes no more */
#define DEBT_MINUTES 60     /* a token bucket's debt is at most one hour of its rate */

struct bucket {
    int64_t level; /* steps, in [-DEBT_MINUTES * cap, cap]; below 0 (debt) for tokens only */
    uint64_t at_ms;
    bool init;
};

/* A set of 64-bit digests with open addressing (0 = empty). */
struct dset {
    uint64_t *v;
    size_t n, cap;
};

struct sg_limit_state {
    char *client;
    struct bucket req, tok;
    int64_t inflight;
    struct dset cur, prev; /* the distinct-personal window and the one before it */
    uint64_t window_start_ms;
    bool window_open;
    struct sg_limit_state *next;
};

struct sg_limiter {
    pthread_mutex_t mu;
    struct sg_limit_state *states;
    struct sg_limit_state global;
};

struct sg_limiter *sg_limiter_new(void)
{
    struct sg_limiter *l = calloc(1, sizeof(*l));
    if (l)
        pthread_mutex_init(&l->mu, NULL);
    return l;
}

static void state_free(struct sg_limit_state *s)
{
    free(s->cur.v);
    free(s->prev.v);
    free(s->client);
}

void sg_limiter_free(struct sg_limiter *l)
{
    if (!l)
        return;
    for (struct sg_limit_state *s = l->states, *n; s; s = n) {
        n = s->next;
        state_free(s);
        free(s);
    }
    state_free(&l->global);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* ---- buckets ---- */

static int64_t clamp64(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* What a bucket of `rate` per minute gains each millisecond, in steps. */
static int64_t per_ms(int64_t rate)
{
    return clamp64(rate, 0, RATE_MAX);
}

static int64_t bucket_cap(int64_t rate)
{
    return per_ms(rate) * STEP;
}

static int64_t bucket_floor(int64_t rate)
{
    return -bucket_cap(rate) * DEBT_MINUTES;
}

/* Refills to now: `rate` steps a millisecond, up to a full bucket of `rate` units. */
static void refill(struct bucket *b, int64_t rate, uint64_t now)
{
    int64_t cap = bucket_cap(rate);
    if (!b->init) {
        b->level = cap;
        b->at_ms = now;
        b->init = true;
        return;
    }
    /* a reload may have changed the rate: keep the level within this rate's bounds */
    b->level = clamp64(b->level, bucket_floor(rate), cap);
    if (now <= b->at_ms)
        return;
    uint64_t dt = now - b->at_ms;
    int64_t gain = per_ms(rate);
    int64_t room = cap - b->level; /* at most (DEBT_MINUTES + 1) * cap */
    b->level = gain && dt <= (uint64_t)(room / gain) ? b->level + (int64_t)dt * gain : cap;
    b->at_ms = now;
}

/* Takes `n` units (n >= 0), down to the floor. */
static void take(struct bucket *b, int64_t rate, int64_t n)
{
    int64_t lo = bucket_floor(rate);
    int64_t room = b->level - lo; /* >= 0: refill() clamped the level */
    b->level = n > room / STEP ? lo : b->level - n * STEP;
}

/* Seconds until the bucket holds `need` steps: rounded up, at least 1, at most
 * SG_LIMIT_RETRY_MAX. */
static uint32_t wait_s(const struct bucket *b, int64_t rate, int64_t need)
{
    int64_t gain = per_ms(rate);
    if (!gain)
        return 60;                     /* a limit of 0 never refills */
    int64_t missing = need - b->level; /* at most need + DEBT_MINUTES * cap */
    int64_t ms = missing > 0 ? (missing + gain - 1) / gain : 0;
    return (uint32_t)clamp64((ms + 999) / 1000, 1, SG_LIMIT_RETRY_MAX);
}

static struct sg_limit_state *state_of(struct sg_limiter *l, const char *client)
{
    for (struct sg_limit_state *s = l->states; s; s = s->next)
        if (strcmp(s->client, client) == 0)
            return s;
    struct sg_limit_state *s = calloc(1, sizeof(*s));
    if (!s || !(s->client = strdup(client))) {
        free(s);
        return NULL;
    }
    s->next = l->states;
    l->states = s;
    return s;
}

bool sg_limiter_admit(struct sg_limiter *l, const struct sg_config *cfg, const char *client,
                      uint64_t now, struct sg_limit_lease *lease, struct sg_limit_refusal *why)
{
    memset(lease, 0, sizeof(*lease));
    struct sg_config_client_limits lim;
    sg_config_client_limits(cfg, client, &lim);
    pthread_mutex_lock(&l->mu);
    struct sg_limit_state *s = client ? state_of(l, client) : NULL;
    struct sg_limit_state *g = &l->global;
    bool ok = true;
    if (client && !s) {
        /* out of memory: without its state the client's limits (and the exfiltration
         * guard) cannot be applied, so the request is refused rather than let through
         * unlimited; nothing is taken */
        ok = false;
        *why = (struct sg_limit_refusal){"unavailable", 1};
    }
    if (ok && cfg->guard.global_rpm >= 0) {
        refill(&g->req, cfg->guard.global_rpm, now);
        if (g->req.level < STEP) {
            ok = false;
            *why = (struct sg_limit_refusal){"global_requests_per_minute",
                                             wait_s(&g->req, cfg->guard.global_rpm, STEP)};
        }
    }
    if (ok && cfg->guard.global_concurrent >= 0 && g->inflight >= cfg->guard.global_concurrent) {
        ok = false;
        *why = (struct sg_limit_refusal){"global_concurrent", 1};
    }
    if (ok && s && lim.rpm >= 0) {
        refill(&s->req, lim.rpm, now);
        if (s->req.level < STEP) {
            ok = false;
            *why = (struct sg_limit_refusal){"requests_per_minute", wait_s(&s->req, lim.rpm, STEP)};
        }
    }
    if (ok && s && lim.tpm >= 0) {
        refill(&s->tok, lim.tpm, now);
        if (s->tok.level <= 0) {
            ok = false;
            *why = (struct sg_limit_refusal){"tokens_per_minute", wait_s(&s->tok, lim.tpm, 1)};
        }
    }
    if (ok && s && lim.concurrent >= 0 && s->inflight >= lim.concurrent) {
        ok = false;
        *why = (struct sg_limit_refusal){"concurrent", 1};
    }
    if (ok) {
        /* everything passed: take it all at once. Requests in flight are counted whether
         * or not a cap is set, so that a cap a reload adds applies at once. */
        if (cfg->guard.global_rpm >= 0)
            g->req.level -= STEP;
        g->inflight++;
        lease->global_concurrent = true;
        if (s && lim.rpm >= 0)
            s->req.level -= STEP;
        if (s) {
            s->inflight++;
            lease->concurrent = true;
        }
        lease->st = s;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void sg_limiter_tokens(struct sg_limiter *l, const struct sg_config *cfg,
                       struct sg_limit_lease *lease, int64_t n, uint64_t now)
{
    if (!lease->st || n <= 0)
        return;
    struct sg_config_client_limits lim;
    sg_config_client_limits(cfg, lease->st->client, &lim);
    if (lim.tpm < 0)
        return;
    pthread_mutex_lock(&l->mu);
    refill(&lease->st->tok, lim.tpm, now);
    take(&lease->st->tok, lim.tpm, n);
    lease->tokens_taken = n > INT64_MAX - lease->tokens_taken ? INT64_MAX : lease->tokens_taken + n;
    pthread_mutex_unlock(&l->mu);
}

void sg_limiter_release(struct sg_limiter *l, struct sg_limit_lease *lease)
{
    if (lease->concurrent || lease->global_concurrent) {
        pthread_mutex_lock(&l->mu);
        if (lease->concurrent && lease->st)
            lease->st->inflight--;
        if (lease->global_concurrent)
            l->global.inflight--;
        pthread_mutex_unlock(&l->mu);
    }
    memset(lease, 0, sizeof(*lease));
}

static int64_t clamp_tokens(int64_t n)
{
    return clamp64(n, 0, SG_LIMIT_TOKENS_MAX);
}

int64_t sg_limit_usage_tokens(int64_t total, int64_t prompt, int64_t completion)
{
    if (clamp_tokens(total))
        return clamp_tokens(total);
    return clamp_tokens(clamp_tokens(prompt) + clamp_tokens(completion));
}

int64_t sg_limit_prompt_estimate(size_t text_bytes)
{
    size_t n = text_bytes / 4;
    return n < 1 ? 1 : n > (size_t)SG_LIMIT_TOKENS_MAX ? SG_LIMIT_TOKENS_MAX : (int64_t)n;
}

/* ---- distinct values ---- */

static bool dset_has(const struct dset *d, uint64_t x)
{
    if (!d->cap)
        return false;
    for (size_t i = (size_t)x & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
        if (d->v[i] == x)
            return true;
        if (!d->v[i])
            return false;
    }
}

/* Adds `x` to a set with room for it (at most half full after). */
static void dset_put(struct dset *d, uint64_t x)
{
    size_t k = (size_t)x & (d->cap - 1);
    while (d->v[k] && d->v[k] != x)
        k = (k + 1) & (d->cap - 1);
    if (!d->v[k]) {
        d->v[k] = x;
        d->n++;
    }
}

/* Makes room for `more` values, so that adding them cannot fail. */
static bool dset_reserve(struct dset *d, size_t more)
{
    if (more > SIZE_MAX / 4 - d->n)
        return false;
    size_t want = d->n + more;
    if (want * 2 <= d->cap)
        return true;
    size_t cap = d->cap ? d->cap : 64;
    while (want * 2 > cap)
        cap *= 2;
    struct dset grown = {calloc(cap, sizeof(uint64_t)), 0, cap};
    if (!grown.v)
        return false;
    for (size_t i = 0; i < d->cap; i++)
        if (d->v[i])
            dset_put(&grown, d->v[i]);
    free(d->v);
    *d = grown;
    return true;
}

static void dset_clear(struct dset *d)
{
    free(d->v);
    memset(d, 0, sizeof(*d));
}

/* Fixed windows of `window` ms from the first value: moves to the window holding `now`. */
static void window_move(struct sg_limit_state *s, uint64_t window, uint64_t now)
{
    if (!s->window_open) {
        s->window_open = true;
        s->window_start_ms = now;
        return;
    }
    uint64_t passed = now > s->window_start_ms ? (now - s->window_start_ms) / window : 0;
    if (!passed)
        return;
    dset_clear(&s->prev);
    s->prev = s->cur;
    memset(&s->cur, 0, sizeof(s->cur));
    if (passed >= 2) /* the window before this one was empty */
        dset_clear(&s->prev);
    s->window_start_ms += passed * window;
}

/* The values of the request that the current window does not hold yet, in `add`, and how
 * many of them the previous window does not hold either, in `*fresh`. False when out of
 * memory (the request is then refused). */
static bool request_values(const struct sg_limit_state *s, const uint64_t *digests, size_t n,
                           struct dset *add, size_t *fresh)
{
    if (!dset_reserve(add, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = digests[i] | 1; /* 0 marks an empty slot */
        if (!dset_has(&s->cur, x))
            dset_put(add, x);
    }
    *fresh = 0;
    for (size_t i = 0; i < add->cap; i++)
        if (add->v[i] && !dset_has(&s->prev, add->v[i]))
            ++*fresh;
    return true;
}

/* Seconds until a refused request would be admitted: at the end of this window, which
 * drops the previous window's values, when it fits with this window's values; else at the
 * end of the next window, once both are empty (refused requests record nothing). */
static uint32_t personal_wait(const struct sg_limit_state *s, size_t adds, int64_t limit,
                              uint64_t window, uint64_t now)
{
    uint64_t end = s->window_start_ms + window;
    if (s->cur.n + adds > (size_t)limit)
        end += window;
    uint64_t secs = (end > now ? end - now + 999 : 0) / 1000; /* window <= 7 days */
    return (uint32_t)(secs ? secs : 1);
}

bool sg_limiter_personal(struct sg_limiter *l, const struct sg_config *cfg,
                         struct sg_limit_lease *lease, const uint64_t *digests, size_t n,
                         uint64_t now, struct sg_limit_refusal *why)
{
    struct sg_limit_state *s = lease->st;
    if (!s || !n)
        return true;
    struct sg_config_client_limits lim;
    sg_config_client_limits(cfg, s->client, &lim);
    if (lim.distinct_personal < 0)
        return true;
    uint64_t window = lim.window_ms > 0 ? (uint64_t)lim.window_ms : 1;
    pthread_mutex_lock(&l->mu);
    /* two fixed windows: the count covers the current one and the one before, so a burst
     * across a window border is still seen */
    window_move(s, window, now);
    size_t seen = s->cur.n;
    for (size_t i = 0; i < s->prev.cap; i++)
        if (s->prev.v[i] && !dset_has(&s->cur, s->prev.v[i]))
            seen++;
    struct dset add = {0};
    size_t fresh = 0;
    bool ok = request_values(s, digests, n, &add, &fresh) &&
              seen + fresh <= (size_t)lim.distinct_personal && dset_reserve(&s->cur, add.n);
    if (ok) {
        /* values seen again are carried into this window too: the next window still
         * counts them */
        for (size_t i = 0; i < add.cap; i++)
            if (add.v[i])
                dset_put(&s->cur, add.v[i]);
    } else {
        *why = (struct sg_limit_refusal){
            "distinct_personal", personal_wait(s, add.n, lim.distinct_personal, window, now)};
    }
    dset_clear(&add);
    pthread_mutex_unlock(&l->mu);
    return ok;
}
