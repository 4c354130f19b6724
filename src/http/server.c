/* HTTP/1.1 server connections on libevent bufferevents (plain or OpenSSL). Each
 * connection moves through: HEAD (waiting for a complete head) -> BODY -> APP (the
 * application owns the request) -> STREAM (a streaming response is being written) ->
 * FLUSH (response done, waiting for output to drain below the low-water mark before the
 * next pipelined request is read) -> HEAD again, or CLOSING. One timer per connection
 * enforces the header, body and idle deadlines. */
#include "http/server.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#define SG_REQ_ARENA_MAX (8u << 20)

enum conn_state { CS_HEAD, CS_BODY, CS_APP, CS_STREAM, CS_FLUSH, CS_CLOSING, CS_LINGER };

/* After an answer that left a request body unread, the connection keeps reading (and
 * discarding) for a while before it closes, so that a client still sending its body reads
 * the answer instead of a connection reset (a "lingering close", as nginx does). */
#define SG_LINGER_MS 2000
#define SG_LINGER_MAX (64u << 20)

struct sg_http_conn {
    struct sg_http_server *srv;
    struct bufferevent *bev;
    struct event *timer;
    struct sg_http_conn *prev, *next;
    struct sg_http_req *req;
    enum conn_state state;
    size_t scan_pos;   /* where the search for the end of the head resumes */
    bool head_started; /* bytes of the next request have arrived */
    bool close_after;  /* close once the current response is flushed */
    bool linger;       /* close with a lingering read (a request body was left unread) */
    bool tls;
    size_t lingered; /* bytes discarded while lingering */
    /* The limits of the current request: the server's when its first byte came. A reload
     * replaces the server's, so they apply from the next request on a keep-alive
     * connection, while a request already started is judged by the ones it started with. */
    struct sg_http_limits lim;
    bool lim_set; /* the bufferevent's watermarks and timeout follow lim */
    char peer[INET6_ADDRSTRLEN];
};

struct sg_http_req {
    struct sg_http_conn *conn;
    struct sg_arena *arena;
    char *head_buf;
    struct sg_http_head head;
    struct sg_buf body;
    struct sg_http_chunked chunked;
    uint64_t start_us;
    uint64_t bytes_in, bytes_out;
    int status;
    bool streaming, chunked_out, above_high, responded;
    void *app_arg;
    void (*on_abort)(void *);
    void (*on_drain)(void *);
};

struct sg_http_server {
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *resume_ev; /* re-enables accepting after EMFILE */
    struct sg_http_limits lim;
    struct sg_http_callbacks cb;
    void *app;
    struct sg_http_conn *conns;
    size_t nconns;
    bool draining;
    int port;
};

static atomic_size_t open_conns;
static atomic_size_t max_conns;

void sg_http_set_max_connections(size_t max)
{
    atomic_store(&max_conns, max);
}

size_t sg_http_open_connections(void)
{
    return atomic_load(&open_conns);
}

const char *sg_http_error_type(int status)
{
    return status == 500 ? "server_error" : "invalid_request_error";
}

const char *sg_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

static void conn_free(struct sg_http_conn *c);
static void conn_process(struct sg_http_conn *c);
static void conn_linger(struct sg_http_conn *c);

/* ---- timers ---- */

static void arm_timer(struct sg_http_conn *c, uint32_t ms)
{
    if (ms == 0) {
        evtimer_del(c->timer);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* Gives the request that starts now the server's current limits (see struct sg_http_conn).
 * Those the bufferevent enforces are set on it again: the read watermark (how far a head
 * may be read ahead of its end, past which max_header decides) and the write timeout. */
static void conn_take_limits(struct sg_http_conn *c)
{
    const struct sg_http_limits *n = &c->srv->lim;
    bool same = c->lim_set && c->lim.max_header == n->max_header && c->lim.out_low == n->out_low &&
                c->lim.write_ms == n->write_ms;
    c->lim = *n;
    if (same) /* the usual case, once per request: no bufferevent calls */
        return;
    c->lim_set = true;
    bufferevent_setwatermark(c->bev, EV_READ, 0, c->lim.max_header + 65536);
    bufferevent_setwatermark(c->bev, EV_WRITE, c->lim.out_low, 0);
    struct timeval wt = {c->lim.write_ms / 1000, (c->lim.write_ms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, NULL, c->lim.write_ms ? &wt : NULL);
}

/* ---- request objects ---- */

static void req_free(struct sg_http_req *r)
{
    if (!r)
        return;
    sg_buf_free(&r->body);
    free(r->head_buf);
    sg_arena_free(r->arena);
    sg_pool_free(r);
}

static struct sg_http_req *req_new(struct sg_http_conn *c)
{
    struct sg_http_req *r = sg_pool_calloc(sizeof(*r)); /* one per request: cached */
    if (!r)
        return NULL;
    if (!(r->arena = sg_arena_new(SG_REQ_ARENA_MAX))) {
        sg_pool_free(r);
        return NULL;
    }
    r->conn = c;
    r->start_us = sg_clock_us();
    sg_buf_init(&r->body, c->lim.max_body);
    return r;
}

const struct sg_http_head *sg_http_req_head(const struct sg_http_req *r)
{
    return &r->head;
}

const char *sg_http_req_body(const struct sg_http_req *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *sg_http_req_header(struct sg_http_req *r, const char *name)
{
    const struct sg_http_header *h = sg_http_find_header(&r->head, name);
    return h ? sg_arena_strndup(r->arena, h->value, h->value_len) : NULL;
}

const char *sg_http_req_peer(const struct sg_http_req *r)
{
    return r->conn ? r->conn->peer : "";
}

bool sg_http_req_client_cn(const struct sg_http_req *r, char *out, size_t cap)
{
    if (!r->conn || !r->conn->tls || !r->conn->bev)
        return false;
    SSL *ssl = bufferevent_openssl_get_ssl(r->conn->bev);
    if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK)
        return false;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return false;
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)cap);
    X509_free(cert);
    return n > 0 && (size_t)n < cap && strlen(out) == (size_t)n; /* no embedded NUL */
}

uint64_t sg_http_req_bytes_in(const struct sg_http_req *r)
{
    return r->bytes_in;
}

uint64_t sg_http_req_bytes_out(const struct sg_http_req *r)
{
    return r->bytes_out;
}

int sg_http_req_status(const struct sg_http_req *r)
{
    return r->status;
}

struct event_base *sg_http_req_base(const struct sg_http_req *r)
{
    return r->conn->srv->base;
}

uint64_t sg_http_req_start_us(const struct sg_http_req *r)
{
    return r->start_us;
}

void *sg_http_req_app(const struct sg_http_req *r)
{
    return r->app_arg;
}

struct sg_arena *sg_http_req_arena(struct sg_http_req *r)
{
    return r->arena;
}

void sg_http_req_attach(struct sg_http_req *r, void *arg, void (*on_abort)(void *),
                        void (*on_drain)(void *))
{
    r->app_arg = arg;
    r->on_abort = on_abort;
    r->on_drain = on_drain;
}

size_t sg_http_req_pending_out(const struct sg_http_req *r)
{
    return evbuffer_get_length(bufferevent_get_output(r->conn->bev));
}

/* ---- writing responses ---- */

/* Sends bytes to the client. On a plaintext connection with nothing queued they are
 * written to the socket at once (no write-interest round trip through the event loop);
 * what the socket does not take, and everything on TLS connections, goes through the
 * bufferevent's output buffer. */
static void out_writev(struct sg_http_conn *c, struct iovec *iov, int n)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int i = 0;
    if (!c->tls && evbuffer_get_length(out) == 0) {
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        ssize_t w = fd >= 0 ? writev(fd, iov, n) : -1;
        size_t done = w > 0 ? (size_t)w : 0;
        while (i < n && done >= iov[i].iov_len)
            done -= iov[i++].iov_len;
        if (i < n) {
            iov[i].iov_base = (char *)iov[i].iov_base + done;
            iov[i].iov_len -= done;
        }
    }
    for (; i < n; i++)
        if (iov[i].iov_len)
            evbuffer_add(out, iov[i].iov_base, iov[i].iov_len);
}

/* Builds the response head into `h` (a buffer of at least 2 KiB; our own headers always
 * fit) and decides whether the connection closes after this response. */
static void write_head(struct sg_http_req *r, int status, const struct sg_http_out_header *hdrs,
                       size_t nhdrs, const char *content_type, const char *framing,
                       struct sg_buf *h)
{
    struct sg_http_conn *c = r->conn;
    bool close = c->close_after || c->srv->draining || !r->head.keep_alive;
    if (close)
        c->close_after = true;
    r->status = status;
    char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), 0};
    sg_buf_append(h, "HTTP/1.1 ", 9);
    sg_buf_append(h, code, 3);
    sg_buf_append(h, " ", 1);
    sg_buf_puts(h, sg_http_reason(status));
    sg_buf_append(h, "\r\n", 2);
    if (content_type) {
        sg_buf_append(h, "Content-Type: ", 14);
        sg_buf_puts(h, content_type);
        sg_buf_append(h, "\r\n", 2);
    }
    sg_buf_puts(h, framing);
    if (close)
        sg_buf_append(h, "Connection: close\r\n", 19);
    else if (r->head.minor == 0)
        sg_buf_append(h, "Connection: keep-alive\r\n", 24);
    for (size_t i = 0; i < nhdrs; i++) {
        sg_buf_puts(h, hdrs[i].name);
        sg_buf_append(h, ": ", 2);
        sg_buf_puts(h, hdrs[i].value);
        sg_buf_append(h, "\r\n", 2);
    }
    sg_buf_append(h, "\r\n", 2);
    r->bytes_out += h->len;
}

/* The response is complete: report it, free the request, and move the connection on. */
static void req_finish(struct sg_http_req *r)
{
    struct sg_http_conn *c = r->conn;
    struct sg_http_server *s = c->srv;
    r->responded = true;
    if (s->cb.on_done)
        s->cb.on_done(s->app, r);
    c->req = NULL;
    req_free(r);
    if (c->close_after || s->draining) {
        c->state = CS_CLOSING;
        if (!c->linger)
            bufferevent_disable(c->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            if (c->linger)
                conn_linger(c);
            else
                conn_free(c);
        }
        return;
    }
    c->state = CS_FLUSH;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= c->lim.out_low) {
        /* Read a pipelined request from the event loop, not from here: answering
         * pipelined requests synchronously would otherwise recurse once per request. */
        c->state = CS_HEAD;
        if (evbuffer_get_length(bufferevent_get_input(c->bev)))
            bufferevent_trigger(c->bev, EV_READ,
                                BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
        else
            arm_timer(c, s->lim.idle_ms);
    }
}

#define HEAD_BUF(name)                                                                             \
    char name##_mem[2048];                                                                         \
    struct sg_buf name = {name##_mem, 0, sizeof(name##_mem), sizeof(name##_mem) - 1}

void sg_http_respond(struct sg_http_req *r, int status, const struct sg_http_out_header *hdrs,
                     size_t nhdrs, const char *content_type, const char *body, size_t len,
                     bool close)
{
    char framing[64];
    if (close)
        r->conn->close_after = true;
    struct sg_buf f = {framing, 0, sizeof(framing), sizeof(framing) - 1};
    sg_buf_append(&f, "Content-Length: ", 16);
    sg_buf_put_u64(&f, len);
    sg_buf_append(&f, "\r\n", 2);
    HEAD_BUF(h);
    write_head(r, status, hdrs, nhdrs, content_type, framing, &h);
    struct iovec iov[2] = {{h.data, h.len}, {(void *)body, len}};
    out_writev(r->conn, iov, 2);
    r->bytes_out += len;
    req_finish(r);
}

void sg_http_stream_begin(struct sg_http_req *r, int status, const struct sg_http_out_header *hdrs,
                          size_t nhdrs, const char *content_type)
{
    HEAD_BUF(h);
    r->streaming = true;
    r->conn->state = CS_STREAM;
    if (r->head.minor == 0) {
        r->conn->close_after = true; /* close-delimited body */
        write_head(r, status, hdrs, nhdrs, content_type, "", &h);
    } else {
        r->chunked_out = true;
        write_head(r, status, hdrs, nhdrs, content_type, "Transfer-Encoding: chunked\r\n", &h);
    }
    struct iovec iov[1] = {{h.data, h.len}};
    out_writev(r->conn, iov, 1);
}

int sg_http_stream_write(struct sg_http_req *r, const char *data, size_t n)
{
    if (n) {
        if (r->chunked_out) {
            static const char hex[] = "0123456789abcdef";
            char sz[24];
            int k = 0;
            for (int shift = 60; shift >= 0; shift -= 4)
                if ((n >> shift) || k || shift == 0)
                    sz[k++] = hex[(n >> shift) & 15];
            sz[k++] = '\r';
            sz[k++] = '\n';
            struct iovec iov[3] = {{sz, (size_t)k}, {(void *)data, n}, {(void *)"\r\n", 2}};
            out_writev(r->conn, iov, 3);
            r->bytes_out += (uint64_t)k + n + 2;
        } else {
            struct iovec iov[1] = {{(void *)data, n}};
            out_writev(r->conn, iov, 1);
            r->bytes_out += n;
        }
    }
    if (evbuffer_get_length(bufferevent_get_output(r->conn->bev)) > r->conn->lim.out_high) {
        r->above_high = true;
        return 1;
    }
    return 0;
}

void sg_http_stream_end(struct sg_http_req *r)
{
    if (r->chunked_out) {
        struct iovec iov[1] = {{(void *)"0\r\n\r\n", 5}};
        out_writev(r->conn, iov, 1);
        r->bytes_out += 5;
    }
    req_finish(r);
}

/* Answers a protocol error detected by the server itself, in the OpenAI error shape,
 * and closes the connection afterwards. */
static void respond_error(struct sg_http_req *r, int status, const char *msg)
{
    struct sg_buf b;
    sg_buf_init(&b, 1024);
    sg_buf_puts(&b, "{\"error\":{\"message\":\"");
    sg_buf_json_escape(&b, msg, strlen(msg));
    sg_buf_puts(&b, "\",\"type\":\"");
    sg_buf_puts(&b, sg_http_error_type(status));
    sg_buf_puts(&b, "\",\"param\":null,\"code\":null}}");
    if (r->head.method == NULL)
        r->head.keep_alive = false;
    r->conn->linger = true; /* whatever else the client sends is read and dropped */
    sg_http_respond(r, status, NULL, 0, "application/json", b.data ? b.data : "", b.len, true);
    sg_buf_free(&b);
}

/* ---- reading requests ---- */

static void start_app(struct sg_http_conn *c)
{
    c->state = CS_APP;
    evtimer_del(c->timer);
    c->srv->cb.on_request(c->srv->app, c->req);
}

/* Reads body bytes from the input. Returns true when the request was handed on or
 * answered (the caller must not touch it any more). */
static bool read_body(struct sg_http_conn *c)
{
    struct sg_http_req *r = c->req;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (r->head.body == SG_HTTP_BODY_LENGTH) {
        size_t want = (size_t)r->head.content_length - r->body.len;
        size_t avail = evbuffer_get_length(in);
        size_t take = avail < want ? avail : want;
        if (take) {
            if (sg_buf_reserve(&r->body, take)) {
                respond_error(r, 413, "request body too large");
                return true;
            }
            evbuffer_remove(in, r->body.data + r->body.len, take);
            r->body.len += take;
            r->body.data[r->body.len] = '\0';
            r->bytes_in += take;
        }
        if (r->body.len < r->head.content_length)
            return false;
        start_app(c);
        return true;
    }
    /* chunked */
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            return false;
        ssize_t k = sg_http_chunked_feed(&r->chunked, v.iov_base, v.iov_len, &r->body);
        if (k == SG_ETOOBIG) {
            respond_error(r, 413, "request body too large");
            return true;
        }
        if (k < 0) {
            respond_error(r, 400, "malformed chunked request body");
            return true;
        }
        evbuffer_drain(in, (size_t)k);
        r->bytes_in += (uint64_t)k;
        if (r->chunked.done) {
            start_app(c);
            return true;
        }
    }
}

/* Looks for a complete request head and starts processing it. */
static void read_head(struct sg_http_conn *c)
{
    struct sg_http_server *s = c->srv;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    if (!c->head_started) {
        c->head_started = true;
        conn_take_limits(c);
        arm_timer(c, c->lim.header_ms);
    }
    /* RFC 9112 2.2: empty lines before a request line are ignored. Drop them here, or the
     * search below would take two of them for the end of an (empty) head. The head
     * deadline still bounds a client that sends nothing else. */
    unsigned char *lead;
    while (len >= 2 && (lead = evbuffer_pullup(in, 2)) && lead[0] == '\r' && lead[1] == '\n') {
        evbuffer_drain(in, 2);
        len -= 2;
        c->scan_pos = 0;
    }
    if (len == 0)
        return;
    struct evbuffer_ptr start;
    evbuffer_ptr_set(in, &start, c->scan_pos, EVBUFFER_PTR_SET);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, &start);
    if (end.pos < 0) {
        /* A head ended with bare LFs would otherwise wait for its deadline. */
        evbuffer_ptr_set(in, &start, c->scan_pos, EVBUFFER_PTR_SET);
        if (evbuffer_search(in, "\n\n", 2, &start).pos >= 0) {
            if (!(c->req = req_new(c))) {
                conn_free(c);
                return;
            }
            respond_error(c->req, 400, "malformed request head (bare LF line ends)");
            return;
        }
        if (len > c->lim.max_header) {
            if (!(c->req = req_new(c))) {
                conn_free(c);
                return;
            }
            respond_error(c->req, 431, "request header too large");
            return;
        }
        c->scan_pos = len > 3 ? len - 3 : 0;
        return;
    }
    size_t head_len = (size_t)end.pos + 4;
    struct sg_http_req *r = req_new(c);
    if (!r) {
        conn_free(c);
        return;
    }
    c->req = r;
    c->scan_pos = 0;
    c->head_started = false;
    if (head_len > c->lim.max_header) {
        respond_error(r, 431, "request header too large");
        return;
    }
    if (!(r->head_buf = malloc(head_len))) {
        respond_error(r, 500, "out of memory");
        return;
    }
    evbuffer_remove(in, r->head_buf, head_len);
    r->bytes_in = head_len;
    int status;
    struct sg_error err = {0};
    if (sg_http_parse_head(r->head_buf, head_len, &r->head, &status, &err) != 0) {
        respond_error(r, status, err.msg);
        return;
    }
    if (r->head.body == SG_HTTP_BODY_LENGTH && r->head.content_length > c->lim.max_body) {
        respond_error(r, 413, "request body too large");
        return;
    }
    c->state = CS_BODY;
    /* An answer given from on_head leaves the body unread: the connection must close. */
    bool close_before = c->close_after;
    c->close_after = true;
    c->linger = r->head.body != SG_HTTP_BODY_NONE;
    if (s->cb.on_head(s->app, r) != 0)
        return; /* answered already */
    c->close_after = close_before;
    c->linger = false;
    if (r->head.body == SG_HTTP_BODY_NONE) {
        start_app(c);
        return;
    }
    r->chunked.meta_max = SG_HTTP_CHUNK_META_MAX;
    if (r->head.expect_continue && evbuffer_get_length(in) == 0)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    arm_timer(c, c->lim.body_ms);
    read_body(c);
}

static void conn_process(struct sg_http_conn *c)
{
    switch (c->state) {
    case CS_HEAD:
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
            if (c->close_after || c->srv->draining) {
                /* Drained while its last answer was still being flushed: close once that is
                 * out (on_write), instead of idling until the idle or drain deadline. */
                c->state = CS_CLOSING;
                bufferevent_disable(c->bev, EV_READ);
                if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
                    conn_free(c);
                return;
            }
            arm_timer(c, c->srv->lim.idle_ms);
            return;
        }
        read_head(c);
        break;
    case CS_BODY:
        read_body(c);
        break;
    case CS_LINGER:
    case CS_CLOSING:
        if (c->linger) {
            struct evbuffer *in = bufferevent_get_input(c->bev);
            c->lingered += evbuffer_get_length(in);
            evbuffer_drain(in, evbuffer_get_length(in));
            if (c->lingered > SG_LINGER_MAX)
                conn_free(c);
        }
        break;
    default:
        /* APP, STREAM, FLUSH: pipelined bytes wait in the input buffer. */
        break;
    }
}

static void conn_abort(struct sg_http_conn *c)
{
    struct sg_http_req *r = c->req;
    if (r && !r->responded && r->on_abort) {
        void (*fn)(void *) = r->on_abort;
        r->on_abort = NULL;
        fn(r->app_arg);
    }
    conn_free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct sg_http_conn *c = arg;
    size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
    switch (c->state) {
    case CS_STREAM:
        if (c->req && c->req->above_high && pending <= c->lim.out_low) {
            c->req->above_high = false;
            if (c->req->on_drain)
                c->req->on_drain(c->req->app_arg);
        }
        break;
    case CS_FLUSH:
        if (pending <= c->lim.out_low) {
            c->state = CS_HEAD;
            conn_process(c);
        }
        break;
    case CS_CLOSING:
        if (pending == 0) {
            if (c->linger)
                conn_linger(c);
            else
                conn_free(c);
        }
        break;
    default:
        break;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct sg_http_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_abort(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sg_http_conn *c = arg;
    if (c->state == CS_LINGER || c->state == CS_CLOSING) {
        conn_free(c);
        return;
    }
    bool partial = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
    if (c->state == CS_HEAD && partial && !c->req) {
        if ((c->req = req_new(c)))
            respond_error(c->req, 408, "timed out reading the request head");
        else
            conn_free(c);
        return;
    }
    if (c->state == CS_BODY && c->req) {
        respond_error(c->req, 408, "timed out reading the request body");
        return;
    }
    if (c->state == CS_HEAD)
        conn_free(c); /* idle keep-alive connection */
}

/* ---- connections ---- */

static void conn_linger(struct sg_http_conn *c)
{
    c->state = CS_LINGER;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0)
        shutdown(fd, SHUT_WR); /* the answer is out: tell the client we are done */
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    bufferevent_enable(c->bev, EV_READ);
    arm_timer(c, SG_LINGER_MS);
    conn_process(c); /* drop what is already buffered */
}

static void conn_free(struct sg_http_conn *c)
{
    struct sg_http_server *s = c->srv;
    req_free(c->req);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    atomic_fetch_sub(&open_conns, 1);
    event_free(c->timer);
    bufferevent_free(c->bev);
    free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)salen;
    struct sg_http_server *s = arg;
    /* The count is shared by every worker: take a place first, then check, so that two
     * workers accepting at once cannot both take the last one. */
    size_t max = atomic_load(&max_conns);
    size_t before = atomic_fetch_add(&open_conns, 1);
    if (s->draining || (max && before >= max)) {
        atomic_fetch_sub(&open_conns, 1);
        evutil_closesocket(fd);
        return;
    }
    struct sg_http_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        atomic_fetch_sub(&open_conns, 1);
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->peer, sizeof(c->peer));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    if (s->cb.tls_new) {
        c->tls = true;
        SSL *ssl = s->cb.tls_new(s->app);
        if (ssl)
            c->bev =
                bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(s->base, fd, opts);
    }
    c->timer = evtimer_new(s->base, on_timer, c);
    if (!c->bev || !c->timer) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        if (c->timer)
            event_free(c->timer);
        free(c);
        atomic_fetch_sub(&open_conns, 1);
        return;
    }
    s->nconns++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;

    conn_take_limits(c);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    /* The head deadline covers the TLS handshake as well. */
    c->head_started = true;
    arm_timer(c, c->lim.header_ms);
}

static void resume_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sg_http_server *s = arg;
    if (s->listener && !s->draining)
        evconnlistener_enable(s->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct sg_http_server *s = arg;
    int e = EVUTIL_SOCKET_ERROR();
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        /* Out of descriptors: stop accepting for a moment instead of spinning. */
        sg_log(SG_LOG_WARN, "accept", "cannot accept connections: %s", strerror(e));
        evconnlistener_disable(l);
        struct timeval tv = {0, 100000};
        evtimer_add(s->resume_ev, &tv);
    }
}

/* Parses "host:port" or "[v6]:port" and binds a listening socket with SO_REUSEPORT. */
/* A Unix socket only its owner can use: created under a 0177 umask, so it never exists
 * with wider permissions, and replacing a stale socket file left by a previous run. */
static int listen_unix(const char *path, struct sg_error *err)
{
    struct sockaddr_un sun = {0};
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(sun.sun_path))
        return sg_error_set(err, SG_EINVAL, "Unix socket path too long: %s", path);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sg_error_set(err, SG_EIO, "socket: %s", strerror(errno));
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        return sg_error_set(err, SG_EIO, "cannot listen on %s: %s", path, strerror(e));
    }
    return fd;
}

static int listen_socket(const char *addr, int *port_out, struct sg_error *err)
{
    char host[256];
    const char *port;
    if (strncmp(addr, "unix:", 5) == 0) {
        *port_out = 0;
        return listen_unix(addr + 5, err);
    }
    if (addr[0] == '[') {
        const char *e = strchr(addr, ']');
        if (!e || e[1] != ':' || (size_t)(e - addr - 1) >= sizeof(host))
            return sg_error_set(err, SG_EINVAL, "invalid listen address %s", addr);
        memcpy(host, addr + 1, (size_t)(e - addr - 1));
        host[e - addr - 1] = '\0';
        port = e + 2;
    } else {
        const char *e = strrchr(addr, ':');
        if (!e || (size_t)(e - addr) >= sizeof(host))
            return sg_error_set(err, SG_EINVAL, "invalid listen address %s", addr);
        memcpy(host, addr, (size_t)(e - addr));
        host[e - addr] = '\0';
        port = e + 1;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0)
        return sg_error_set(err, SG_EINVAL, "cannot resolve listen address %s: %s", addr,
                            gai_strerror(gai));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return sg_error_set(err, SG_EIO, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        return sg_error_set(err, SG_EIO, "cannot listen on %s: %s", addr, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    *port_out = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

struct sg_http_server *sg_http_server_new(struct event_base *base, const char *addr,
                                          const struct sg_http_limits *lim,
                                          const struct sg_http_callbacks *cb, void *app,
                                          struct sg_error *err)
{
    struct sg_http_server *s = calloc(1, sizeof(*s));
    if (!s) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        return NULL;
    }
    s->base = base;
    s->lim = *lim;
    s->cb = *cb;
    s->app = app;
    int fd = listen_socket(addr, &s->port, err);
    if (fd < 0) {
        free(s);
        return NULL;
    }
    s->listener = evconnlistener_new(base, on_accept, s,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    s->resume_ev = evtimer_new(base, resume_accept, s);
    if (!s->listener || !s->resume_ev) {
        if (s->listener)
            evconnlistener_free(s->listener);
        else
            close(fd);
        if (s->resume_ev)
            event_free(s->resume_ev);
        free(s);
        sg_error_set(err, SG_ENOMEM, "cannot create the listener");
        return NULL;
    }
    evconnlistener_set_error_cb(s->listener, on_accept_error);
    return s;
}

int sg_http_server_port(const struct sg_http_server *s)
{
    return s->port;
}

void sg_http_server_set_limits(struct sg_http_server *s, const struct sg_http_limits *lim)
{
    s->lim = *lim;
}

void sg_http_server_drain(struct sg_http_server *s)
{
    if (s->draining)
        return;
    s->draining = true;
    if (s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
    struct sg_http_conn *c = s->conns;
    while (c) {
        struct sg_http_conn *next = c->next;
        bool idle = c->state == CS_HEAD && !c->req &&
                    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
        if (idle)
            conn_free(c);
        else
            c->close_after = true;
        c = next;
    }
}

size_t sg_http_server_connections(const struct sg_http_server *s)
{
    return s->nconns;
}

void sg_http_server_free(struct sg_http_server *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_abort(s->conns);
    if (s->listener)
        evconnlistener_free(s->listener);
    event_free(s->resume_ev);
    free(s);
}
