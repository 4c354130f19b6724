/* Upstream HTTP client of one worker thread: libcurl's multi interface driven by the
 * worker's libevent loop (curl's hiperfifo pattern), so thousands of upstream transfers
 * run on the same thread as the client connections. Connections to a backend are kept
 * alive and reused. Redirects are never followed; only http and https are allowed; a
 * backend may also be reached over a Unix socket.
 *
 * Callbacks run on the worker thread. on_status and on_data are called from inside
 * libcurl and must not cancel the transfer: they return a negative value instead, and
 * the transfer then ends with on_done(). on_done is called exactly once (unless the
 * transfer was cancelled) from outside libcurl's callbacks; the transfer is freed right
 * after it returns. */
#ifndef SG_HTTP_UPSTREAM_H
#define SG_HTTP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "core/error.h"

struct sg_upstream;
struct sg_upstream_xfer;

/* The request headers of one backend (content type, accept, and its credential as a
 * bearer token), built once per configuration and shared by every transfer to it. The
 * credential copy is zeroed when the headers are freed. */
struct sg_upstream_headers;
struct sg_upstream_headers *sg_upstream_headers_new(const char *credential, bool stream);
void sg_upstream_headers_free(struct sg_upstream_headers *h);

struct sg_upstream_opts {
    const char *url;         /* full URL, e.g. http://10.0.0.5:8000/v1/chat/completions */
    const char *unix_path;   /* connect to this Unix socket instead of the URL's host */
    const char *ca_file;     /* CA bundle for https, NULL for the system store */
    const struct sg_upstream_headers *headers; /* borrowed until on_done or cancel */
    const char *method;      /* "GET" or "POST" (default POST when body is set) */
    const char *body;        /* request body, borrowed until on_done or cancel */
    size_t body_len;
    uint32_t connect_timeout_ms;
    uint32_t total_timeout_ms;  /* 0 = none */
    uint32_t stall_timeout_ms;  /* abort when no byte arrives for this long; 0 = none */
};

struct sg_upstream_callbacks {
    /* The response head is complete. `content_type` and `retry_after` may be NULL.
     * Return 0 to receive the body, negative to abort. */
    int (*on_status)(void *arg, int status, const char *content_type, const char *retry_after);
    /* A piece of the body. Return 0 to continue, negative to abort. */
    int (*on_data)(void *arg, const char *p, size_t n);
    /* The transfer ended: `result` is 0 on success or SG_EUNAVAIL (could not connect),
     * SG_ETIMEOUT, SG_EPROTO (broken or truncated response) or SG_EIO; `aborted` is true
     * when a callback asked to abort. `msg` describes the failure. */
    void (*on_done)(void *arg, int result, bool aborted, const char *msg);
};

/* Creates the client of the worker whose loop is `base`. NULL on failure. */
struct sg_upstream *sg_upstream_new(struct event_base *base);
/* Cancels every transfer (without callbacks) and frees the client. */
void sg_upstream_free(struct sg_upstream *u);

/* Starts a transfer. Returns it, or NULL with `err` filled. */
struct sg_upstream_xfer *sg_upstream_start(struct sg_upstream *u, const struct sg_upstream_opts *o,
                                           const struct sg_upstream_callbacks *cb, void *arg,
                                           struct sg_error *err);
/* Stops receiving (back-pressure); the connection's receive window fills up and the
 * upstream server slows down. May be called from on_data. */
void sg_upstream_pause(struct sg_upstream_xfer *x);
/* Resumes a paused transfer; buffered data may be delivered before this returns. Must
 * not be called from this transfer's own callbacks. */
void sg_upstream_resume(struct sg_upstream_xfer *x);
/* Aborts a transfer without calling on_done, closing its connection. Must not be called
 * from this transfer's own callbacks. */
void sg_upstream_cancel(struct sg_upstream_xfer *x);
/* Number of transfers in progress. */
size_t sg_upstream_active(const struct sg_upstream *u);

#endif
