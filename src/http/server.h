/* The HTTP/1.1 front door of one worker thread: accepts connections on its own
 * SO_REUSEPORT socket, runs TLS (bufferevent_openssl) or, only where the caller allows it,
 * plaintext, parses requests strictly (http/parser.h), enforces the header, body and time
 * limits, and gives each complete request to the application. Responses are written with
 * Content-Length, or streamed with chunked encoding and back-pressure.
 *
 * Threading: a server and everything it hands out belong to the thread running its
 * event_base (another thread asks for a drain through that loop's mailbox).
 *
 * Ownership of a request: the server owns `struct sg_http_req`. The application borrows
 * it from on_head()/on_request() until it completes the response (sg_http_respond() or
 * sg_http_stream_end()); after that call the pointer is invalid. If the connection dies
 * first (client disconnect, write timeout), the server calls the `on_abort` function the
 * application registered, after which the pointer is also invalid; the application must
 * release what it attached synchronously inside on_abort. */
#ifndef SG_HTTP_SERVER_H
#define SG_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "core/buf.h"
#include "core/error.h"
#include "http/parser.h"

struct sg_http_server;
struct sg_http_req;

struct sg_http_limits {
    size_t max_header;  /* bytes of a request head */
    size_t max_body;    /* bytes of a request body */
    uint32_t header_ms; /* from the first byte (or accept) to a complete head */
    uint32_t body_ms;   /* from a complete head to a complete body */
    uint32_t idle_ms;   /* keep-alive: between requests */
    uint32_t write_ms;  /* a response write making no progress */
    size_t out_high;    /* pending response bytes above which writers must pause */
    size_t out_low;     /* pending bytes below which paused writers resume */
};

struct sg_http_callbacks {
    /* A request head arrived. Return 0 to read the body and get on_request(), or answer
     * now with sg_http_respond() and return 1 (the body is not read; the connection is
     * closed after the response). */
    int (*on_head)(void *app, struct sg_http_req *req);
    /* The whole request is in. The application answers now or later. */
    void (*on_request)(void *app, struct sg_http_req *req);
    /* Returns a new TLS session object for an accepted connection (the server takes
     * ownership), or NULL to refuse it. Leave the callback NULL to serve plaintext. */
    SSL *(*tls_new)(void *app);
    /* Optional: observes every completed exchange (for metrics). */
    void (*on_done)(void *app, struct sg_http_req *req);
};

/* Creates a server on `base` listening on `addr`: "host:port" or "[v6]:port" with
 * SO_REUSEPORT (so every worker can bind the same address), or "unix:/path" for a Unix
 * socket with mode 0600 (a stale socket file at the path is replaced). `app` is passed to the
 * callbacks. Returns NULL and fills `err` on failure. */
struct sg_http_server *sg_http_server_new(struct event_base *base, const char *addr,
                                          const struct sg_http_limits *lim,
                                          const struct sg_http_callbacks *cb, void *app,
                                          struct sg_error *err);
/* The TCP port the server listens on (useful after binding port 0). */
int sg_http_server_port(const struct sg_http_server *s);
/* Replaces the limits for new requests (config reload): they apply from the next request
 * on every connection, keep-alive connections accepted before included; a request whose
 * first byte has arrived keeps the limits it started with. */
void sg_http_server_set_limits(struct sg_http_server *s, const struct sg_http_limits *lim);
/* Stops accepting, closes idle connections, and marks busy ones to close after their
 * current response. Must run on the server's thread. */
void sg_http_server_drain(struct sg_http_server *s);
/* Open connections of this server. */
size_t sg_http_server_connections(const struct sg_http_server *s);
/* Closes every connection and frees the server (aborting requests in flight). */
void sg_http_server_free(struct sg_http_server *s);

/* Process-wide cap on open connections across all servers (0 = unlimited). */
void sg_http_set_max_connections(size_t max);
/* Process-wide count of open connections. */
size_t sg_http_open_connections(void);

/* --- requests --- */

/* The parsed head; borrowed, valid while the request is. */
const struct sg_http_head *sg_http_req_head(const struct sg_http_req *r);
/* The body (NUL-terminated for convenience). */
const char *sg_http_req_body(const struct sg_http_req *r, size_t *len);
/* Finds a header; returns a NUL-terminated copy owned by the request, or NULL. */
const char *sg_http_req_header(struct sg_http_req *r, const char *name);
/* Remote address as text ("127.0.0.1"), owned by the connection. */
const char *sg_http_req_peer(const struct sg_http_req *r);
/* Bytes received for this request (head + body) and sent so far. */
uint64_t sg_http_req_bytes_in(const struct sg_http_req *r);
uint64_t sg_http_req_bytes_out(const struct sg_http_req *r);
/* Status of the response (0 before it was started). */
int sg_http_req_status(const struct sg_http_req *r);
/* The event base the request runs on. */
struct event_base *sg_http_req_base(const struct sg_http_req *r);
/* Monotonic microseconds when the request's first byte arrived. */
uint64_t sg_http_req_start_us(const struct sg_http_req *r);

/* The application state attached with sg_http_req_attach(), or NULL. */
/* The common name of the client certificate of a TLS connection, when the client
 * presented one that verified against listen.tls.client_ca; false otherwise. */
bool sg_http_req_client_cn(const struct sg_http_req *r, char *out, size_t cap);
void *sg_http_req_app(const struct sg_http_req *r);
/* The request's arena: allocations live exactly as long as the request. */
struct sg_arena *sg_http_req_arena(struct sg_http_req *r);
/* Attaches application state: `on_abort(arg)` is called if the connection dies before
 * the response is complete; `on_drain(arg)` when pending output of a streaming response
 * fell below the low-water mark after a write returned 1. Either may be NULL. */
void sg_http_req_attach(struct sg_http_req *r, void *arg, void (*on_abort)(void *),
                        void (*on_drain)(void *));

/* A response header to add (name and value NUL-terminated, borrowed for the call). */
struct sg_http_out_header {
    const char *name;
    const char *value;
};

/* Sends a complete response with a body (Content-Length) and finishes the request.
 * `close` forces Connection: close. The request pointer is invalid afterwards. */
void sg_http_respond(struct sg_http_req *r, int status, const struct sg_http_out_header *hdrs,
                     size_t nhdrs, const char *content_type, const char *body, size_t len,
                     bool close);
/* Starts a streaming response (chunked for HTTP/1.1; close-delimited for HTTP/1.0). */
void sg_http_stream_begin(struct sg_http_req *r, int status, const struct sg_http_out_header *hdrs,
                          size_t nhdrs, const char *content_type);
/* Writes one piece of a streaming response. Returns 0 when the caller may keep writing,
 * 1 when pending output is above the high-water mark (the caller should pause its
 * producer until on_drain), or SG_EIO when the connection is gone. */
int sg_http_stream_write(struct sg_http_req *r, const char *data, size_t n);
/* Ends a streaming response; the request pointer is invalid afterwards. */
void sg_http_stream_end(struct sg_http_req *r);
/* Pending (unsent) response bytes of the request's connection. */
size_t sg_http_req_pending_out(const struct sg_http_req *r);

/* The reason phrase of a status code. */
const char *sg_http_reason(int status);
/* The OpenAI error type of an error the server answers itself: "server_error" for a
 * failure of the gateway (500), "invalid_request_error" for what the client sent (4xx, and
 * 501 and 505: a transfer coding or an HTTP version the client chose). */
const char *sg_http_error_type(int status);

#endif
