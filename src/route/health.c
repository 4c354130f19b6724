/* The health checker thread. New target sets arrive through a mutex-protected slot and
 * are installed on the checker's own thread, where probes run on its event loop. */
#include "route/health.h"
#include "core/clock.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

struct probe_target {
    struct sg_backend_state *state; /* reference held */
    struct sg_upstream_target *target;
    struct sg_upstream_headers *headers;
    char *path;
    struct sg_upstream_xfer *probe; /* in flight, or NULL */
    int status;
    struct sg_health_checker *h;
};

struct set {
    struct probe_target *v;
    size_t n;
    uint32_t interval_ms, timeout_ms, max_backoff_ms;
};

struct sg_health_checker {
    pthread_t thread;
    struct event_base *base;
    struct event *tick, *apply;
    struct sg_upstream *up;
    struct set cur;     /* owned by the checker thread */
    pthread_mutex_t mu; /* guards `next` */
    struct set next;
    bool has_next;
    atomic_bool stop; /* set before event_base_loopbreak(): see run() */
};

static void set_free(struct set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct probe_target *t = &s->v[i];
        if (t->probe)
            sg_upstream_cancel(t->probe);
        sg_backend_state_put(t->state);
        sg_upstream_target_unref(t->target);
        sg_upstream_headers_free(t->headers);
        free(t->path);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int on_status(void *arg, int status, const char *ct, const char *ra)
{
    (void)ct;
    (void)ra;
    ((struct probe_target *)arg)->status = status;
    return 0;
}

static int on_data(void *arg, const char *p, size_t n)
{
    (void)arg;
    (void)p;
    (void)n;
    return 0; /* the body is not needed */
}

static void on_done(void *arg, int result, bool aborted, const char *msg)
{
    (void)aborted;
    struct probe_target *t = arg;
    struct sg_health_checker *h = t->h;
    t->probe = NULL;
    uint64_t now = sg_clock_us();
    if (result == 0 && t->status >= 200 && t->status < 300) {
        sg_backend_set_health(t->state, SG_HEALTH_UP, "health check passed");
        sg_backend_set_backoff(t->state, 0);
        sg_backend_schedule(t->state, now + (uint64_t)h->cur.interval_ms * 1000);
        return;
    }
    char why[300];
    if (result != 0)
        snprintf(why, sizeof(why), "health check failed: %s", msg);
    else
        snprintf(why, sizeof(why), "health check answered HTTP %d", t->status);
    sg_backend_set_health(t->state, SG_HEALTH_DOWN, why);
    uint32_t b = sg_backend_backoff(t->state);
    b = b ? b * 2 : 1000;
    if (b > h->cur.max_backoff_ms)
        b = h->cur.max_backoff_ms;
    sg_backend_set_backoff(t->state, b);
    sg_backend_schedule(t->state, now + (uint64_t)b * 1000);
}

static const struct sg_upstream_callbacks probe_cb = {on_status, on_data, on_done};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sg_health_checker *h = arg;
    uint64_t now = sg_clock_us();
    for (size_t i = 0; i < h->cur.n; i++) {
        struct probe_target *t = &h->cur.v[i];
        if (t->probe || sg_backend_next_check(t->state) > now)
            continue;
        struct sg_upstream_opts o = {
            .target = t->target,
            .method = "GET",
            .path = t->path,
            .headers = t->headers,
            .connect_timeout_ms = h->cur.timeout_ms,
            .total_timeout_ms = h->cur.timeout_ms,
        };
        struct sg_error err = {0};
        t->status = 0;
        if (sg_upstream_start(h->up, &o, &probe_cb, t, &t->probe, &err) != 0) {
            t->probe = NULL;
            on_done(t, SG_EUNAVAIL, false, err.msg);
        }
    }
}

static void on_apply(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sg_health_checker *h = arg;
    pthread_mutex_lock(&h->mu);
    if (!h->has_next) {
        pthread_mutex_unlock(&h->mu);
        return;
    }
    struct set next = h->next;
    memset(&h->next, 0, sizeof(h->next));
    h->has_next = false;
    pthread_mutex_unlock(&h->mu);
    set_free(&h->cur); /* cancels probes of the old set */
    h->cur = next;
    for (size_t i = 0; i < h->cur.n; i++)
        h->cur.v[i].h = h;
    on_tick(-1, 0, h);
}

int sg_health_set_targets(struct sg_health_checker *h, const struct sg_health_target *t, size_t n,
                          uint32_t interval_ms, uint32_t timeout_ms, uint32_t max_backoff_ms)
{
    struct set s = {calloc(n ? n : 1, sizeof(struct probe_target)), n, interval_ms, timeout_ms,
                    max_backoff_ms};
    if (!s.v)
        return SG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct probe_target *p = &s.v[i];
        p->state = sg_backend_state_ref(t[i].state);
        p->target = t[i].target;
        sg_upstream_target_ref(p->target);
        p->path = strdup(t[i].path);
        p->headers = sg_upstream_headers_new(t[i].credential, false);
        if (!p->path || !p->headers) {
            s.n = i + 1;
            set_free(&s);
            return SG_ENOMEM;
        }
    }
    pthread_mutex_lock(&h->mu);
    if (h->has_next)
        set_free(&h->next); /* never installed: it has no probes in flight */
    h->next = s;
    h->has_next = true;
    pthread_mutex_unlock(&h->mu);
    event_active(h->apply, 0, 0);
    return 0;
}

/* One iteration at a time, the stop flag checked between them: event_base_loop() clears a
 * break requested before it started, so a stop right after the start (a gateway whose
 * engines fail to start) was lost and sg_health_stop() waited for ever. The wake-up of
 * event_base_loopbreak() ends the iteration in progress. */
static void *run(void *arg)
{
    struct sg_health_checker *h = arg;
    while (!atomic_load(&h->stop))
        if (event_base_loop(h->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
            break;
    return NULL;
}

struct sg_health_checker *sg_health_start(struct sg_error *err)
{
    struct sg_health_checker *h = calloc(1, sizeof(*h));
    if (!h) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->base = event_base_new();
    h->up = h->base ? sg_upstream_new(h->base) : NULL;
    h->tick = h->base ? event_new(h->base, -1, EV_PERSIST, on_tick, h) : NULL;
    h->apply = h->base ? event_new(h->base, -1, 0, on_apply, h) : NULL;
    struct timeval tv = {0, 50000};
    if (!h->up || !h->tick || !h->apply || event_add(h->tick, &tv) != 0 ||
        pthread_create(&h->thread, NULL, run, h) != 0) {
        sg_error_set(err, SG_EIO, "cannot start the health check thread");
        if (h->tick)
            event_free(h->tick);
        if (h->apply)
            event_free(h->apply);
        sg_upstream_free(h->up);
        if (h->base)
            event_base_free(h->base);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return NULL;
    }
    return h;
}

void sg_health_stop(struct sg_health_checker *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, true);
    event_base_loopbreak(h->base);
    pthread_join(h->thread, NULL);
    set_free(&h->cur);
    if (h->has_next)
        set_free(&h->next);
    event_free(h->tick);
    event_free(h->apply);
    sg_upstream_free(h->up);
    /* A probe cancelled while its connect or answer was pending frees its bufferevent with
     * a deferred callback still queued, which holds it: only the loop releases it (as in a
     * worker's end). Nothing else is left to fire. Without this, a gateway stopped while
     * its first probes were in flight leaked their bufferevents (LSan). */
    for (int i = 0; i < 4; i++)
        event_base_loop(h->base, EVLOOP_NONBLOCK);
    event_base_free(h->base);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
