/* The health checker thread: a libcurl multi handle polled with a short timeout. */
#include "route/health.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct target {
    struct sg_backend_state *state;
    char *url, *unix_path, *ca_file, *auth;
    CURL *probe; /* in flight, or NULL */
    struct curl_slist *headers;
};

struct sg_health_checker {
    pthread_t thread;
    pthread_mutex_t mu;
    atomic_bool stop;
    struct target *targets;
    size_t n;
    uint32_t interval_ms, timeout_ms, max_backoff_ms;
    CURLM *multi;
};

static void target_free(struct target *t)
{
    free(t->url);
    free(t->unix_path);
    free(t->ca_file);
    if (t->auth) {
        sg_secure_zero(t->auth, strlen(t->auth));
        free(t->auth);
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int sg_health_set_targets(struct sg_health_checker *h, const struct sg_health_target *t, size_t n,
                          uint32_t interval_ms, uint32_t timeout_ms, uint32_t max_backoff_ms)
{
    struct target *nt = calloc(n ? n : 1, sizeof(*nt));
    if (!nt)
        return SG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        nt[i].state = t[i].state;
        nt[i].url = dup_or_null(t[i].url);
        nt[i].unix_path = dup_or_null(t[i].unix_path);
        nt[i].ca_file = dup_or_null(t[i].ca_file);
        if (t[i].credential) {
            size_t len = strlen(t[i].credential) + 32;
            if ((nt[i].auth = malloc(len)))
                snprintf(nt[i].auth, len, "Authorization: Bearer %s", t[i].credential);
        }
    }
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++) {
        struct target *o = &h->targets[i];
        if (o->probe) {
            curl_multi_remove_handle(h->multi, o->probe);
            curl_easy_cleanup(o->probe);
            curl_slist_free_all(o->headers);
        }
        target_free(o);
    }
    free(h->targets);
    h->targets = nt;
    h->n = n;
    h->interval_ms = interval_ms;
    h->timeout_ms = timeout_ms;
    h->max_backoff_ms = max_backoff_ms;
    pthread_mutex_unlock(&h->mu);
    curl_multi_wakeup(h->multi);
    return 0;
}

static size_t discard(char *p, size_t sz, size_t nm, void *arg)
{
    (void)p;
    (void)arg;
    return sz * nm;
}

static void start_probe(struct sg_health_checker *h, struct target *t)
{
    CURL *e = curl_easy_init();
    if (!e)
        return;
    t->headers = t->auth ? curl_slist_append(NULL, t->auth) : NULL;
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    if (t->unix_path)
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, t->unix_path);
    if (t->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    if (t->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard); /* the body is not needed */
    t->probe = e;
    curl_multi_add_handle(h->multi, e);
}

static void finish_probe(struct sg_health_checker *h, struct target *t, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo(t->probe, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(h->multi, t->probe);
    curl_easy_cleanup(t->probe);
    curl_slist_free_all(t->headers);
    t->probe = NULL;
    t->headers = NULL;
    uint64_t now = sg_clock_us();
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        sg_backend_set_health(t->state, SG_HEALTH_UP, "health check passed");
        sg_backend_set_backoff(t->state, 0);
        sg_backend_schedule(t->state, now + (uint64_t)h->interval_ms * 1000);
        return;
    }
    char why[160];
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "health check failed: %s", curl_easy_strerror(rc));
    else
        snprintf(why, sizeof(why), "health check answered HTTP %ld", status);
    sg_backend_set_health(t->state, SG_HEALTH_DOWN, why);
    uint32_t b = sg_backend_backoff(t->state);
    b = b ? b * 2 : 1000;
    if (b > h->max_backoff_ms)
        b = h->max_backoff_ms;
    sg_backend_set_backoff(t->state, b);
    sg_backend_schedule(t->state, now + (uint64_t)b * 1000);
}

static void *run(void *arg)
{
    struct sg_health_checker *h = arg;
    while (!atomic_load(&h->stop)) {
        pthread_mutex_lock(&h->mu);
        uint64_t now = sg_clock_us();
        for (size_t i = 0; i < h->n; i++) {
            struct target *t = &h->targets[i];
            if (!t->probe && sg_backend_next_check(t->state) <= now)
                start_probe(h, t);
        }
        int running = 0;
        curl_multi_perform(h->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(h->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct target *t = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            if (t)
                finish_probe(h, t, m->data.result);
        }
        pthread_mutex_unlock(&h->mu);
        curl_multi_poll(h->multi, NULL, 0, 50, NULL);
    }
    return NULL;
}

struct sg_health_checker *sg_health_start(struct sg_error *err)
{
    struct sg_health_checker *h = calloc(1, sizeof(*h));
    if (!h || !(h->multi = curl_multi_init())) {
        free(h);
        sg_error_set(err, SG_ENOMEM, "cannot start health checks");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    if (pthread_create(&h->thread, NULL, run, h) != 0) {
        curl_multi_cleanup(h->multi);
        pthread_mutex_destroy(&h->mu);
        free(h);
        sg_error_set(err, SG_EIO, "cannot start the health check thread");
        return NULL;
    }
    return h;
}

void sg_health_stop(struct sg_health_checker *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, true);
    curl_multi_wakeup(h->multi);
    pthread_join(h->thread, NULL);
    for (size_t i = 0; i < h->n; i++) {
        struct target *t = &h->targets[i];
        if (t->probe) {
            curl_multi_remove_handle(h->multi, t->probe);
            curl_easy_cleanup(t->probe);
            curl_slist_free_all(t->headers);
        }
        target_free(t);
    }
    free(h->targets);
    curl_multi_cleanup(h->multi);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
