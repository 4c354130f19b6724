/* Token buckets, in-flight counts and distinct-value windows under one mutex. */
#include "guard/limits.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A bucket in thousandths of a unit, refilled continuously at rate/min. */
struct bucket {
    int64_t level; /* milli-units; may be negative (debt) for tokens */
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

/* Refills to now; capacity = rate (per minute) units. */
static void refill(struct bucket *b, int64_t rate, uint64_t now)
{
    int64_t cap = rate * 1000;
    if (!b->init) {
        b->level = cap;
        b->at_ms = now;
        b->init = true;
        return;
    }
    if (now > b->at_ms) {
        int64_t add = (int64_t)(now - b->at_ms) * rate * 1000 / 60000;
        if (add > 0) {
            b->level = b->level + add > cap ? cap : b->level + add;
            b->at_ms = now;
        }
    }
    if (b->level > cap)
        b->level = cap;
}

/* Seconds until the bucket holds `need` milli-units again. */
static uint32_t wait_s(const struct bucket *b, int64_t rate, int64_t need)
{
    if (rate <= 0)
        return 60;
    int64_t missing = need - b->level;
    if (missing <= 0)
        return 1;
    int64_t ms = missing * 60000 / (rate * 1000);
    return (uint32_t)(ms / 1000 + 1);
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
    if (cfg->guard.global_rpm >= 0) {
        refill(&g->req, cfg->guard.global_rpm, now);
        if (g->req.level < 1000) {
            ok = false;
            *why = (struct sg_limit_refusal){"global_requests_per_minute",
                                             wait_s(&g->req, cfg->guard.global_rpm, 1000)};
        }
    }
    if (ok && cfg->guard.global_concurrent >= 0 && g->inflight >= cfg->guard.global_concurrent) {
        ok = false;
        *why = (struct sg_limit_refusal){"global_concurrent", 1};
    }
    if (ok && s && lim.rpm >= 0) {
        refill(&s->req, lim.rpm, now);
        if (s->req.level < 1000) {
            ok = false;
            *why = (struct sg_limit_refusal){"requests_per_minute", wait_s(&s->req, lim.rpm, 1000)};
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
        /* everything passed: take it all at once */
        if (cfg->guard.global_rpm >= 0)
            g->req.level -= 1000;
        if (cfg->guard.global_concurrent >= 0) {
            g->inflight++;
            lease->global_concurrent = true;
        }
        if (s && lim.rpm >= 0)
            s->req.level -= 1000;
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
    lease->st->tok.level -= n * 1000;
    lease->tokens_taken += n;
    pthread_mutex_unlock(&l->mu);
}

void sg_limiter_release(struct sg_limiter *l, struct sg_limit_lease *lease)
{
    if (!lease->concurrent && !lease->global_concurrent)
        return;
    pthread_mutex_lock(&l->mu);
    if (lease->concurrent && lease->st)
        lease->st->inflight--;
    if (lease->global_concurrent)
        l->global.inflight--;
    pthread_mutex_unlock(&l->mu);
    lease->concurrent = lease->global_concurrent = false;
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

static bool dset_add(struct dset *d, uint64_t x)
{
    if ((d->n + 1) * 2 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        uint64_t *v = calloc(cap, sizeof(*v));
        if (!v)
            return false;
        for (size_t i = 0; i < d->cap; i++) {
            if (!d->v[i])
                continue;
            size_t k = (size_t)d->v[i] & (cap - 1);
            while (v[k])
                k = (k + 1) & (cap - 1);
            v[k] = d->v[i];
        }
        free(d->v);
        d->v = v;
        d->cap = cap;
    }
    size_t k = (size_t)x & (d->cap - 1);
    while (d->v[k] && d->v[k] != x)
        k = (k + 1) & (d->cap - 1);
    if (!d->v[k]) {
        d->v[k] = x;
        d->n++;
    }
    return true;
}

static void dset_clear(struct dset *d)
{
    free(d->v);
    memset(d, 0, sizeof(*d));
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
    uint64_t window = (uint64_t)lim.window_ms;
    pthread_mutex_lock(&l->mu);
    /* two fixed windows: the count covers the current one and the one before, so a burst
     * across a window border is still seen */
    if (!s->window_start_ms || now - s->window_start_ms >= window) {
        bool skipped = s->window_start_ms && now - s->window_start_ms >= 2 * window;
        dset_clear(&s->prev);
        s->prev = s->cur;
        memset(&s->cur, 0, sizeof(s->cur));
        if (skipped)
            dset_clear(&s->prev);
        s->window_start_ms = now;
    }
    size_t seen = s->cur.n;
    for (size_t i = 0; i < s->prev.cap; i++)
        if (s->prev.v[i] && !dset_has(&s->cur, s->prev.v[i]))
            seen++;
    struct dset fresh = {0};
    for (size_t i = 0; i < n; i++) {
        uint64_t x = digests[i] | 1; /* 0 marks an empty slot */
        if (!dset_has(&s->cur, x) && !dset_has(&s->prev, x))
            dset_add(&fresh, x);
    }
    bool ok = seen + fresh.n <= (size_t)lim.distinct_personal;
    if (ok) {
        for (size_t i = 0; i < fresh.cap; i++)
            if (fresh.v[i])
                dset_add(&s->cur, fresh.v[i]);
    } else {
        uint64_t left = window - (now - s->window_start_ms);
        *why = (struct sg_limit_refusal){"distinct_personal", (uint32_t)(left / 1000 + 1)};
    }
    dset_clear(&fresh);
    pthread_mutex_unlock(&l->mu);
    return ok;
}
