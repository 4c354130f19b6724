/* The upstream HTTP/1.1 client of one event loop: sends a request to a backend over
 * TCP, TLS or a Unix socket and streams the answer back through callbacks, with keep-alive
 * connection reuse, back-pressure (pausing reads), and connect, stall and total timeouts.
 * It runs on libevent bufferevents, the same machinery as the front door.
 *
 * Why not libcurl: on the gateway benchmark (bench/gateway) libcurl's multi interface
 * cost about 80,000 instructions and five extra system calls per proxied request (about
 * 40% of the gateway's work), and it ran concurrent transfers one after another on one
 * reused connection, which added latency under load. A backend here is always an
 * OpenAI-compatible HTTP/1.1 server, so the client needs little: this module is the whole
 * of it (see docs/architecture.md for the measurements).
 *
 * Security properties: backend addresses are resolved once when a target is created (and
 * so pinned until the next configuration reload); redirects are never followed; TLS
 * verifies the certificate chain (a configured CA bundle or the system store) and the host
 * name or IP address, TLS 1.2 at least.
 *
 * Threading: a client and its transfers belong to the thread running its event_base.
 * Targets and header blocks are immutable and may be shared between threads.
 *
 * Callbacks: on_status and on_data run from the event loop and must not cancel their own
 * transfer (they return a negative value to abort it). on_done is called exactly once
 * unless the transfer was cancelled; the transfer is gone when it is called, and on_done
 * may start new transfers. */
#ifndef SG_HTTP_UPSTREAM_H
#define SG_HTTP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "core/error.h"

struct sg_upstream;
struct sg_upstream_xfer;

/* Where a backend is: parsed from its base URL ("http://host:port/prefix", "https://…") or
 * a Unix socket path, with its addresses resolved now. Reference-counted: connections keep
 * their target alive. */
struct sg_upstream_target;

/* Creates a target. `base_url` gives scheme, host, port and path prefix; with `unix_path`
 * the connection goes to that socket instead (the URL's host is only the Host header).
 * `ca_file` (https only) replaces the system's CA store. Returns 0 or an SG_E* code with
 * `err` filled (unparsable URL, host that does not resolve, unreadable CA bundle). */
int sg_upstream_target_new(const char *base_url, const char *unix_path, const char *ca_file,
                           struct sg_upstream_target **out, struct sg_error *err);
/* Pins the target's TLS server key: the SHA-256 of the leaf certificate's
 * SubjectPublicKeyInfo must be one of `pins` (n x 32 bytes, copied), on top of the chain
 * and name checks. Call before the first connection. Returns 0 or SG_ENOMEM. */
int sg_upstream_target_pin(struct sg_upstream_target *t, const uint8_t (*pins)[32], size_t n);
void sg_upstream_target_ref(struct sg_upstream_target *t);
void sg_upstream_target_unref(struct sg_upstream_target *t);
/* The resolved addresses as text ("10.0.0.5:8000, …" or the socket path), for logs. */
const char *sg_upstream_target_describe(const struct sg_upstream_target *t);

/* Extra request header lines for one backend (content type, accept, and its credential as
 * a bearer token), built once per configuration and shared by every transfer to it. The
 * credential copy is zeroed when the block is freed. */
struct sg_upstream_headers;
struct sg_upstream_headers *sg_upstream_headers_new(const char *credential, bool stream);
void sg_upstream_headers_free(struct sg_upstream_headers *h);

struct sg_upstream_opts {
    const struct sg_upstream_target *target;   /* borrowed until on_done or cancel */
    const char *method;                        /* "GET" or "POST" */
    const char *path;                          /* appended to the target's prefix */
    const struct sg_upstream_headers *headers; /* borrowed; may be NULL */
    const char *body;                          /* copied when the transfer starts */
    size_t body_len;
    uint32_t connect_timeout_ms; /* 0: 5 s */
    uint32_t total_timeout_ms;   /* 0: none */
    uint32_t stall_timeout_ms;   /* no byte from the backend for this long; 0: none */
};

struct sg_upstream_callbacks {
    /* The response head is complete. `content_type` and `retry_after` may be NULL.
     * Return 0 to receive the body, negative to abort. */
    int (*on_status)(void *arg, int status, const char *content_type, const char *retry_after);
    /* A piece of the (de-chunked) body. Return 0 to continue, negative to abort. */
    int (*on_data)(void *arg, const char *p, size_t n);
    /* The transfer ended: `result` is 0 on success, SG_EUNAVAIL (could not connect or TLS
     * failed), SG_ETIMEOUT, SG_EPROTO (broken, truncated or malformed response) or SG_EIO
     * (aborted by a callback: `aborted` is then true). `msg` describes the failure. */
    void (*on_done)(void *arg, int result, bool aborted, const char *msg);
};

/* Creates the client of the loop `base`. NULL on failure. */
struct sg_upstream *sg_upstream_new(struct event_base *base);
/* Cancels every transfer (without callbacks), closes every connection, frees the client. */
void sg_upstream_free(struct sg_upstream *u);

/* Starts a transfer. On success stores it in `*out` and returns 0; no callback runs before
 * this returns. Returns an SG_E* code with `err` filled otherwise. */
int sg_upstream_start(struct sg_upstream *u, const struct sg_upstream_opts *o,
                      const struct sg_upstream_callbacks *cb, void *arg,
                      struct sg_upstream_xfer **out, struct sg_error *err);
/* Stops reading the answer (back-pressure); may be called from on_data. */
void sg_upstream_pause(struct sg_upstream_xfer *x);
/* Resumes reading; buffered data is delivered from the event loop, not from this call. */
void sg_upstream_resume(struct sg_upstream_xfer *x);
/* Aborts a transfer without calling on_done and closes its connection. Must not be called
 * from this transfer's own callbacks. */
void sg_upstream_cancel(struct sg_upstream_xfer *x);
/* Transfers in progress and idle pooled connections. */
size_t sg_upstream_active(const struct sg_upstream *u);
size_t sg_upstream_idle(const struct sg_upstream *u);

#endif
