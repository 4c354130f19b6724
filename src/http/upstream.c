/* libcurl multi_socket on libevent. */
#include "http/upstream.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event_struct.h>

#define SG_UP_HDR_MAX 256

struct sg_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    size_t active;
    CURL *pool[32]; /* idle easy handles, reused */
    size_t npool;
    struct sg_upstream_xfer *xfers; /* in flight, for sg_upstream_free */
};

struct sg_upstream_xfer {
    struct sg_upstream *u;
    CURL *easy;
    struct sg_upstream_callbacks cb;
    void *arg;
    struct sg_upstream_xfer *prev, *next;
    struct event *stall; /* fires when no byte arrived for stall_ms */
    uint32_t stall_ms;
    int status;
    bool head_done, aborted, paused;
    char content_type[SG_UP_HDR_MAX];
    char retry_after[32];
    char errbuf[CURL_ERROR_SIZE];
};

struct sg_upstream_headers {
    struct curl_slist *list;
};

struct sg_upstream_headers *sg_upstream_headers_new(const char *credential, bool stream)
{
    struct sg_upstream_headers *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    const char *fixed[] = {"Expect:", "Content-Type: application/json",
                           stream ? "Accept: text/event-stream" : "Accept: application/json"};
    for (size_t i = 0; i < 3; i++) {
        struct curl_slist *t = curl_slist_append(h->list, fixed[i]);
        if (!t)
            goto fail;
        h->list = t;
    }
    if (credential) {
        struct sg_buf b;
        sg_buf_init(&b, 70000);
        if (sg_buf_printf(&b, "Authorization: Bearer %s", credential) != 0) {
            sg_buf_free(&b);
            goto fail;
        }
        struct curl_slist *t = curl_slist_append(h->list, b.data);
        sg_secure_zero(b.data, b.len);
        sg_buf_free(&b);
        if (!t)
            goto fail;
        h->list = t;
    }
    return h;
fail:
    sg_upstream_headers_free(h);
    return NULL;
}

void sg_upstream_headers_free(struct sg_upstream_headers *h)
{
    if (!h)
        return;
    for (struct curl_slist *l = h->list; l; l = l->next)
        sg_secure_zero(l->data, strlen(l->data));
    curl_slist_free_all(h->list);
    free(h);
}

static struct curl_slist *sg_upstream_headers_list(const struct sg_upstream_headers *h)
{
    return h->list;
}

struct sock {
    struct event ev;
    bool added;
};

static void check_done(struct sg_upstream *u);

static void on_socket_event(evutil_socket_t fd, short kind, void *arg)
{
    struct sg_upstream *u = arg;
    int action = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(u->multi, fd, action, &running);
    check_done(u);
}

static void on_timer(evutil_socket_t fd, short kind, void *arg)
{
    (void)fd;
    (void)kind;
    struct sg_upstream *u = arg;
    int running = 0;
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(u);
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    struct sg_upstream *u = userp;
    struct sock *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            if (sk->added)
                event_del(&sk->ev);
            free(sk);
            curl_multi_assign(u->multi, s, NULL);
        }
        return 0;
    }
    if (!sk) {
        if (!(sk = calloc(1, sizeof(*sk))))
            return -1;
        curl_multi_assign(u->multi, s, sk);
    } else if (sk->added) {
        event_del(&sk->ev);
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    event_assign(&sk->ev, u->base, s, kind, on_socket_event, u);
    event_add(&sk->ev, NULL);
    sk->added = true;
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct sg_upstream *u = userp;
    if (timeout_ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(u->timer, &tv);
    return 0;
}

struct sg_upstream *sg_upstream_new(struct event_base *base)
{
    struct sg_upstream *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->base = base;
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, on_timer, u);
    if (!u->multi || !u->timer) {
        if (u->multi)
            curl_multi_cleanup(u->multi);
        if (u->timer)
            event_free(u->timer);
        free(u);
        return NULL;
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 256L);
    return u;
}

static void xfer_release(struct sg_upstream_xfer *x)
{
    struct sg_upstream *u = x->u;
    curl_multi_remove_handle(u->multi, x->easy);
    if (u->npool < sizeof(u->pool) / sizeof(u->pool[0])) {
        /* Kept configured: sg_upstream_start() sets every per-transfer option again. */
        u->pool[u->npool++] = x->easy;
    } else {
        curl_easy_cleanup(x->easy);
    }
    if (x->stall)
        event_free(x->stall);
    if (x->prev)
        x->prev->next = x->next;
    else
        u->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    u->active--;
    free(x);
}

void sg_upstream_free(struct sg_upstream *u)
{
    if (!u)
        return;
    while (u->xfers)
        xfer_release(u->xfers);
    for (size_t i = 0; i < u->npool; i++)
        curl_easy_cleanup(u->pool[i]);
    curl_multi_cleanup(u->multi);
    event_free(u->timer);
    free(u);
}

size_t sg_upstream_active(const struct sg_upstream *u)
{
    return u->active;
}

static int map_result(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK: return 0;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return SG_EUNAVAIL;
    case CURLE_OPERATION_TIMEDOUT: return SG_ETIMEOUT;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_BAD_CONTENT_ENCODING:
        return SG_EPROTO;
    default: return SG_EIO;
    }
}

/* Ends a transfer: releases it first (so that on_done may start another one, e.g. for
 * failover), then reports. */
static void finish(struct sg_upstream_xfer *x, int result, const char *msg)
{
    char msgcopy[CURL_ERROR_SIZE];
    snprintf(msgcopy, sizeof(msgcopy), "%s", msg);
    struct sg_upstream_callbacks cb = x->cb;
    void *arg = x->arg;
    bool aborted = x->aborted;
    xfer_release(x);
    cb.on_done(arg, aborted ? SG_EIO : result, aborted, msgcopy);
}

static void check_done(struct sg_upstream *u)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(u->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct sg_upstream_xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (!x)
            continue;
        CURLcode rc = m->data.result;
        int result = map_result(rc);
        if (rc == CURLE_OK && !x->head_done)
            result = SG_EPROTO;
        finish(x, result, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    }
}

static void arm_stall(struct sg_upstream_xfer *x)
{
    if (x->stall && !x->paused) {
        struct timeval tv = {x->stall_ms / 1000, (x->stall_ms % 1000) * 1000};
        evtimer_add(x->stall, &tv);
    }
}

static void on_stall(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sg_upstream_xfer *x = arg;
    char msg[96];
    snprintf(msg, sizeof(msg), "no data from the backend for %u ms", x->stall_ms);
    finish(x, SG_ETIMEOUT, msg);
}

static size_t on_header(char *p, size_t sz, size_t nm, void *arg)
{
    struct sg_upstream_xfer *x = arg;
    size_t n = sz * nm;
    arm_stall(x);
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new response head (also after 100 Continue). */
        const char *sp = memchr(p, ' ', n);
        x->status = sp && (size_t)(sp - p) + 4 <= n ? atoi(sp + 1) : 0;
        x->content_type[0] = x->retry_after[0] = '\0';
        return n;
    }
    if (n <= 2 && (n == 0 || p[0] == '\r' || p[0] == '\n')) {
        if (x->status >= 200 && !x->head_done) {
            x->head_done = true;
            if (x->cb.on_status(x->arg, x->status, x->content_type[0] ? x->content_type : NULL,
                                x->retry_after[0] ? x->retry_after : NULL) < 0) {
                x->aborted = true;
                return 0;
            }
        }
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    char *dst = NULL;
    size_t cap = 0;
    if (klen == 12 && strncasecmp(p, "content-type", 12) == 0) {
        dst = x->content_type;
        cap = sizeof(x->content_type);
    } else if (klen == 11 && strncasecmp(p, "retry-after", 11) == 0) {
        dst = x->retry_after;
        cap = sizeof(x->retry_after);
    }
    if (dst) {
        if (vlen >= cap)
            vlen = cap - 1;
        memcpy(dst, v, vlen);
        dst[vlen] = '\0';
    }
    return n;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *arg)
{
    struct sg_upstream_xfer *x = arg;
    size_t n = sz * nm;
    arm_stall(x);
    if (!x->head_done)
        return n; /* the body of a 1xx or a head we did not report */
    if (x->cb.on_data(x->arg, p, n) < 0) {
        x->aborted = true;
        return 0;
    }
    return n;
}

struct sg_upstream_xfer *sg_upstream_start(struct sg_upstream *u, const struct sg_upstream_opts *o,
                                           const struct sg_upstream_callbacks *cb, void *arg,
                                           struct sg_error *err)
{
    struct sg_upstream_xfer *x = calloc(1, sizeof(*x));
    if (!x) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        return NULL;
    }
    x->u = u;
    x->cb = *cb;
    x->arg = arg;
    CURL *e = u->npool ? u->pool[--u->npool] : NULL;
    if (!e && (e = curl_easy_init())) {
        /* Options that never change are set once per handle. */
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    }
    x->easy = e;
    if (!e) {
        free(x);
        sg_error_set(err, SG_ENOMEM, "cannot create a transfer");
        return NULL;
    }
    /* Every option that differs between transfers is set on each one, so that a reused
     * handle carries nothing over from its previous transfer. */
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, o->unix_path);
    curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->headers ? sg_upstream_headers_list(o->headers) : NULL);
    if (o->method && strcmp(o->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body ? o->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->connect_timeout_ms ? o->connect_timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    x->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(u->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        free(x);
        sg_error_set(err, SG_EIO, "cannot start the transfer");
        return NULL;
    }
    x->next = u->xfers;
    if (u->xfers)
        u->xfers->prev = x;
    u->xfers = x;
    u->active++;
    if (o->stall_timeout_ms) {
        x->stall_ms = o->stall_timeout_ms;
        x->stall = evtimer_new(u->base, on_stall, x);
        arm_stall(x);
    }
    return x;
}

void sg_upstream_pause(struct sg_upstream_xfer *x)
{
    if (!x->paused) {
        x->paused = true;
        if (x->stall)
            evtimer_del(x->stall); /* a slow client is not a stalled backend */
        curl_easy_pause(x->easy, CURLPAUSE_RECV);
    }
}

void sg_upstream_resume(struct sg_upstream_xfer *x)
{
    if (x->paused) {
        x->paused = false;
        arm_stall(x);
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
}

void sg_upstream_cancel(struct sg_upstream_xfer *x)
{
    /* Removing an unfinished transfer makes libcurl close its connection. */
    xfer_release(x);
}
