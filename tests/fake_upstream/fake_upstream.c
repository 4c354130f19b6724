/*
 * sg-fake-upstream: a fast, single-threaded fake OpenAI-compatible HTTP/1.1 server. It is the
 * backend that Sovgate's integration tests and throughput benchmarks put behind the gateway. It
 * answers chat completions, completions, embeddings, models and health in OpenAI's shapes by
 * echoing the last user message, and misbehaves on request: directives of the form
 * [[fake:KEY=VALUE]] inside the prompt make it stall, fail, split, hang or cut its streams, and
 * POST /__fake/control flips its health and a global failure status. It runs on raw libevent
 * bufferevents with its own small request parser so that it controls exactly which bytes leave
 * when, and it never sleeps: every delay is a libevent timer, every long answer is generated
 * lazily as the client drains it. With --record it appends one JSON line per request, completed
 * response and aborted response to a file, which is how tests observe what the gateway sent and
 * when it gave up. See README.md in this folder for the full interface.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>

#include "core/json.h"
#include "core/utf8.h"
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define FU_MAX_HEAD (64 * 1024)                       /* request line + headers */
#define FU_MAX_HEADERS 128                            /* header lines per request */
#define FU_MAX_BODY (16 * 1024 * 1024)                /* request body; 413 beyond */
#define FU_LOW_WATER (64 * 1024)                      /* refill a streaming response below this */
#define FU_MAX_BUSY_INPUT (FU_MAX_BODY + FU_MAX_HEAD) /* stop reading beyond this while busy */
#define FU_MAX_WORDS 10000000LL                       /* words=N */
#define FU_MAX_DIM 65536                              /* --dim */
#define FU_MAX_NAME 128                               /* --name, bytes */
#define FU_MAX_MS 3600000LL                           /* stall / delay */
#define FU_MAX_SPLIT (1024 * 1024)                    /* split=N */
#define FU_LINGER_MS 2000                             /* drain input after our FIN before closing */
#define FU_WORD_BATCH 16384                           /* bytes of lazy words formatted at once */

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                      */

enum fu_state {
    FU_IDLE,      /* reading / parsing the next request */
    FU_STALLED,   /* stall timer running before the response head */
    FU_STREAMING, /* producing a streamed or lazily generated body */
    FU_HUNG,      /* stall_after reached: silent until the client goes away */
    FU_CLOSING,   /* response queued, waiting for the output to drain, then FIN */
    FU_LINGER,    /* FIN sent, discarding input until the peer closes or a timeout */
};

enum fu_mode {
    FU_M_SIMPLE, /* head and whole body prebuilt */
    FU_M_SSE,    /* server-sent events, generated event by event */
    FU_M_LAZY,   /* non-streaming words=N body with a Content-Length, generated lazily */
};

enum fu_phase { FU_P_ROLE, FU_P_WORDS, FU_P_FINISH, FU_P_LATE, FU_P_USAGE, FU_P_DONE, FU_P_END };

enum fu_cut { FU_CUT_NONE, FU_CUT_STALL, FU_CUT_DISCONNECT };

/* Directives parsed from a prompt; -1 means "not given". */
struct fu_directives {
    long long status, stall, split, delay, stall_after, disconnect_after, words;
    long long bad_json, no_done, garbage, unhex, late;
    int invalid; /* a directive had an unknown key or an out-of-range value */
    char bad[64];
};

/* A response in progress. Owned by its connection; freed when it completes or the connection
 * goes away. */
struct fu_resp {
    enum fu_mode mode;
    struct evbuffer *head; /* status line, headers and, for SIMPLE, the body */
    long long stall_ms;

    int chunked; /* HTTP/1.1: chunked framing; HTTP/1.0: close-delimited */
    int chat;    /* chat.completion.chunk vs text_completion */
    char *pre;   /* SSE: "data: {...,"choices":[" prefix; LAZY: body suffix */
    size_t pre_len;
    char *text; /* explicit TEXT (owned), or NULL when virtual words are used */
    size_t text_len, text_pos;
    int virt;            /* TEXT is "w0 w1 ... w{nwords-1}" */
    uint64_t nwords;     /* virtual word count */
    uint64_t ntok, itok; /* tokens of TEXT, next token */
    enum fu_phase phase;
    int include_usage, bad_json, bad_json_sent, no_done, late;
    uint64_t ptok, ctok;
    long long split, delay_ms;
    enum fu_cut cut;
    long long cut_at;
    uint64_t events;
    struct evbuffer *staging; /* split mode: SSE bytes not yet cut into pieces */
    int paced;                /* split or delay: one unit per write, pause between */
    int pace_wait;            /* 0 ready, 1 waiting for drain, 2 waiting for timer */
    uint64_t units;           /* paced units written so far */
    int lazy_words_done;
};

struct fu_header {
    char *name; /* lower-cased, in the connection's head buffer */
    char *value;
};

struct fu_server;

struct fu_conn {
    struct fu_server *srv;
    struct bufferevent *bev;
    struct event *timer;
    struct fu_conn *prev, *next;
    enum fu_state state;
    int in_process;
    int read_paused;

    /* current request: strings point into head */
    char *head;
    size_t head_cap;
    int have_head;
    int continue_sent;
    char *method, *target;
    int http10, keepalive, expect_continue;
    size_t content_length;
    struct fu_header hdr[FU_MAX_HEADERS];
    size_t nhdr;

    struct fu_resp *resp;
};

struct fu_server {
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *ev_term, *ev_int, *ev_accept_retry;
    SSL_CTX *ssl;
    const char *name;
    size_t name_len;
    FILE *record;
    int dim;
    int health_down;
    int fail_status;
    struct fu_directives defaults; /* applied before each request's own directives */
    int is_tcp;
    const char *unix_path;
    unsigned long long counter;
    unsigned id_salt;
    struct evbuffer *scratch;
    struct fu_conn *conns;
};

static void fu_process_input(struct fu_conn *c);
static void fu_pump(struct fu_conn *c);

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */

static long long fu_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* ASCII whitespace, the separator of "words" (our token count). */
static const unsigned char fu_space[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1, [' '] = 1,
};

static int fu_is_space(unsigned char ch)
{
    return fu_space[ch];
}

/* Counts whitespace-separated words: the number of non-space bytes that follow a space byte
 * (or the start). */
static uint64_t fu_count_words(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    uint64_t w = 0;
    unsigned prev_space = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned sp = fu_space[u[i]];
        w += prev_space & (sp ^ 1);
        prev_space = sp;
    }
    return w;
}

/* Parses a non-negative decimal integer of at most 18 digits; returns -1 when malformed. */
static long long fu_parse_uint(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static const char *fu_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
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
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
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
        return status >= 500 ? "Server Error" : "Client Error";
    }
}

/* Bytes that must be escaped inside a JSON string: controls, quote, backslash. */
static const unsigned char fu_json_esc[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, ['"'] = 1, ['\\'] = 1,
};

/* Appends s[0..n) to b as a JSON string literal. s must be valid UTF-8 (all our strings come
 * from jansson or from validated input); only quote, backslash and control bytes are escaped. */
static void fu_json_str(struct evbuffer *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    evbuffer_add(b, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!fu_json_esc[ch])
            continue;
        if (i > start)
            evbuffer_add(b, s + start, i - start);
        start = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (ch) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            elen = 6;
        }
        evbuffer_add(b, esc, elen);
    }
    if (n > start)
        evbuffer_add(b, s + start, n - start);
    evbuffer_add(b, "\"", 1);
}

/* Returns a malloc'd NUL-terminated copy of b's contents (b is left untouched), or NULL. */
static char *fu_evbuffer_strdup(struct evbuffer *b, size_t *len)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n)
        evbuffer_copyout(b, s, n);
    s[n] = '\0';
    *len = n;
    return s;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. Rejects overlong
 * forms, surrogates and code points above U+10FFFF. */
/* Replaces bytes that are not valid UTF-8 with '?', so that raw bodies can be recorded as JSON
 * strings. Returns s itself when it is valid, otherwise a malloc'd copy (also stored in *copy,
 * which the caller frees), or NULL when out of memory. */
static const char *fu_utf8_sanitize(const char *s, size_t n, char **copy)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, l;
    *copy = NULL;
    while (i < n && (l = sg_utf8_char_len(u + i, n - i)) > 0)
        i += l;
    if (i == n)
        return s;
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, i);
    while (i < n) {
        l = sg_utf8_char_len(u + i, n - i);
        if (l == 0) {
            d[i++] = '?';
            continue;
        }
        memcpy(d + i, s + i, l);
        i += l;
    }
    d[n] = '\0';
    *copy = d;
    return d;
}

/* ------------------------------------------------------------------------------------------ */
/* Recording                                                                                  */

static void fu_record_write(struct fu_server *s, json_t *obj)
{
    if (!obj)
        return;
    char *line = json_dumps(obj, JSON_COMPACT);
    if (line) {
        fputs(line, s->record);
        fputc('\n', s->record);
        fflush(s->record);
        free(line);
    }
    json_decref(obj);
}

static void fu_record_event(struct fu_conn *c, const char *event)
{
    struct fu_server *s = c->srv;
    if (!s->record || !c->target)
        return;
    char *copy;
    const char *path = fu_utf8_sanitize(c->target, strlen(c->target), &copy);
    if (!path)
        return;
    fu_record_write(s, json_pack("{s:s, s:s, s:I}", "event", event, "path", path, "mono_us",
                                 (json_int_t)fu_mono_us()));
    free(copy);
}

static void fu_record_request(struct fu_conn *c, const char *body, size_t len)
{
    struct fu_server *s = c->srv;
    json_t *h = json_object();
    if (!h)
        return;
    for (size_t i = 0; i < c->nhdr; i++) {
        char *copy;
        const char *v = fu_utf8_sanitize(c->hdr[i].value, strlen(c->hdr[i].value), &copy);
        if (!v)
            continue;
        json_t *old = json_object_get(h, c->hdr[i].name);
        if (old) { /* repeated header: join with ", " as HTTP allows */
            size_t ol = json_string_length(old), vl = strlen(v);
            char *j = malloc(ol + 2 + vl + 1);
            if (j) {
                memcpy(j, json_string_value(old), ol);
                memcpy(j + ol, ", ", 2);
                memcpy(j + ol + 2, v, vl);
                json_object_set_new(h, c->hdr[i].name, json_stringn(j, ol + 2 + vl));
                free(j);
            }
        } else {
            json_object_set_new(h, c->hdr[i].name, json_string(v));
        }
        free(copy);
    }
    char *bcopy, *mcopy, *pcopy;
    const char *b = fu_utf8_sanitize(body, len, &bcopy);
    const char *m = fu_utf8_sanitize(c->method, strlen(c->method), &mcopy);
    const char *p = fu_utf8_sanitize(c->target, strlen(c->target), &pcopy);
    if (b && m && p)
        fu_record_write(s, json_pack("{s:s, s:s, s:s, s:o, s:s%, s:I}", "event", "request",
                                     "method", m, "path", p, "headers", h, "body", b, len,
                                     "mono_us", (json_int_t)fu_mono_us()));
    else
        json_decref(h);
    free(bcopy);
    free(mcopy);
    free(pcopy);
}

/* ------------------------------------------------------------------------------------------ */
/* Connection lifecycle                                                                       */

static void fu_resp_free(struct fu_resp *r)
{
    if (!r)
        return;
    if (r->head)
        evbuffer_free(r->head);
    if (r->staging)
        evbuffer_free(r->staging);
    free(r->pre);
    free(r->text);
    free(r);
}

static void fu_conn_free(struct fu_conn *c)
{
    struct fu_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->timer)
        event_free(c->timer);
    if (c->bev)
        bufferevent_free(c->bev);
    fu_resp_free(c->resp);
    free(c->head);
    free(c);
}

static void fu_arm_timer(struct fu_conn *c, long long ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void fu_set_lowmark(struct fu_conn *c, size_t low)
{
    bufferevent_setwatermark(c->bev, EV_WRITE, low, 0);
}

static void fu_start_linger(struct fu_conn *c)
{
    c->state = FU_LINGER;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0)
        shutdown(fd, SHUT_WR);
    evbuffer_drain(bufferevent_get_input(c->bev),
                   evbuffer_get_length(bufferevent_get_input(c->bev)));
    if (c->read_paused) {
        bufferevent_enable(c->bev, EV_READ);
        c->read_paused = 0;
    }
    fu_arm_timer(c, FU_LINGER_MS);
}

/* Closes the connection once everything queued has left: CLOSING, then LINGER. */
static void fu_enter_closing(struct fu_conn *c)
{
    c->state = FU_CLOSING;
    fu_set_lowmark(c, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        fu_arm_timer(c, 0);
}

/* The current response is complete: record it and go on with the next request or close. */
static void fu_finish(struct fu_conn *c)
{
    fu_record_event(c, "completed");
    int close_it = c->resp && c->resp->mode == FU_M_SSE && !c->resp->chunked;
    fu_resp_free(c->resp);
    c->resp = NULL;
    if (!c->keepalive || close_it) {
        fu_enter_closing(c);
        return;
    }
    c->state = FU_IDLE;
    fu_set_lowmark(c, 0);
    if (!c->in_process)
        fu_process_input(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Responses                                                                                  */

/* Appends the status line and headers. clen >= 0: Content-Length; -1: chunked; -2: neither
 * (close-delimited). */
static void fu_add_head(struct fu_conn *c, struct evbuffer *out, int status, const char *ctype,
                        long long clen, int retry_after)
{
    struct fu_server *s = c->srv;
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Fake-Upstream: %s\r\n",
                        status, fu_reason(status), ctype, s->name);
    if (clen >= 0)
        evbuffer_add_printf(out, "Content-Length: %lld\r\n", clen);
    else if (clen == -1)
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
    if (clen < 0)
        evbuffer_add(out, "Cache-Control: no-cache\r\n", 25);
    if (retry_after)
        evbuffer_add(out, "Retry-After: 1\r\n", 16);
    if (!c->keepalive || clen == -2)
        evbuffer_add(out, "Connection: close\r\n\r\n", 21);
    else if (c->http10)
        evbuffer_add(out, "Connection: keep-alive\r\n\r\n", 26);
    else
        evbuffer_add(out, "\r\n", 2);
}

/* Sends a complete response whose body is in the server's scratch buffer (which is emptied).
 * With stall_ms > 0 the response waits on a timer first. */
static void fu_send(struct fu_conn *c, int status, const char *ctype, int retry_after,
                    long long stall_ms)
{
    struct fu_server *s = c->srv;
    size_t blen = evbuffer_get_length(s->scratch);
    if (stall_ms <= 0) {
        struct evbuffer *out = bufferevent_get_output(c->bev);
        fu_add_head(c, out, status, ctype, (long long)blen, retry_after);
        evbuffer_add_buffer(out, s->scratch);
        fu_finish(c);
        return;
    }
    struct fu_resp *r = calloc(1, sizeof(*r));
    if (r)
        r->head = evbuffer_new();
    if (!r || !r->head) {
        free(r);
        evbuffer_drain(s->scratch, blen);
        c->keepalive = 0;
        fu_enter_closing(c);
        return;
    }
    r->mode = FU_M_SIMPLE;
    r->stall_ms = stall_ms;
    fu_add_head(c, r->head, status, ctype, (long long)blen, retry_after);
    evbuffer_add_buffer(r->head, s->scratch);
    c->resp = r;
    c->state = FU_STALLED;
    fu_arm_timer(c, stall_ms);
}

/* OpenAI-style error. type is derived from the status unless given. */
static void fu_send_error(struct fu_conn *c, int status, const char *type, const char *code,
                          const char *message, long long stall_ms)
{
    struct evbuffer *b = c->srv->scratch;
    if (!type)
        type = status >= 500 ? "server_error" : "invalid_request_error";
    evbuffer_add(b, "{\"error\":{\"message\":", 20);
    fu_json_str(b, message, strlen(message));
    evbuffer_add(b, ",\"type\":", 8);
    fu_json_str(b, type, strlen(type));
    evbuffer_add(b, ",\"param\":null,\"code\":", 21);
    if (code)
        fu_json_str(b, code, strlen(code));
    else
        evbuffer_add(b, "null", 4);
    evbuffer_add(b, "}}", 2);
    fu_send(c, status, "application/json", status == 429 || status == 503, stall_ms);
}

/* An error that ends the connection (malformed framing: the rest of the input is unusable). */
static void fu_send_fatal(struct fu_conn *c, int status, const char *code, const char *message)
{
    c->keepalive = 0;
    c->have_head = 0;
    c->target = NULL; /* never recorded as a request, so no "completed" either */
    fu_send_error(c, status, NULL, code, message, 0);
}

static void fu_send_injected(struct fu_conn *c, int status, long long stall_ms)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "fake upstream %s: injected status %d", c->srv->name, status);
    const char *code = status == 429 ? "rate_limit_exceeded" : "fake_injected";
    fu_send_error(c, status, NULL, code, msg, stall_ms);
}

/* Starts a prepared response (after an optional stall). */
static void fu_begin(struct fu_conn *c)
{
    struct fu_resp *r = c->resp;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_buffer(out, r->head);
    if (r->mode == FU_M_SIMPLE) {
        fu_finish(c);
        return;
    }
    c->state = FU_STREAMING;
    if (r->paced) {
        r->pace_wait = 1; /* the head leaves on its own; the first unit after a loop turn */
        fu_set_lowmark(c, 0);
        return;
    }
    fu_set_lowmark(c, FU_LOW_WATER);
    fu_pump(c);
}

static void fu_start(struct fu_conn *c, struct fu_resp *r)
{
    c->resp = r;
    if (r->stall_ms > 0) {
        c->state = FU_STALLED;
        fu_arm_timer(c, r->stall_ms);
        return;
    }
    fu_begin(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Stream generation                                                                          */

/* Finds the token of TEXT that starts at *pos: leading whitespace, a word, and the whitespace
 * that follows it, so that the concatenation of all tokens is TEXT. Returns 0 at the end. */
static int fu_next_token(const char *t, size_t n, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    if (i >= n)
        return 0;
    *start = i;
    while (i < n && fu_is_space((unsigned char)t[i]))
        i++;
    while (i < n && !fu_is_space((unsigned char)t[i]))
        i++;
    while (i < n && fu_is_space((unsigned char)t[i]))
        i++;
    *len = i - *start;
    *pos = i;
    return 1;
}

static void fu_add_usage(struct evbuffer *b, uint64_t p, uint64_t c)
{
    evbuffer_add_printf(b,
                        "\"usage\":{\"prompt_tokens\":%" PRIu64 ",\"completion_tokens\":%" PRIu64
                        ",\"total_tokens\":%" PRIu64 "}",
                        p, c, p + c);
}

/* Formats virtual word i ("w<i>") into buf, which has room for 21 bytes; returns bytes. */
static size_t fu_fmt_word(char *buf, uint64_t i)
{
    char digits[24];
    size_t d = 0;
    do {
        digits[d++] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    size_t k = 0;
    buf[k++] = 'w';
    while (d)
        buf[k++] = digits[--d];
    return k;
}

/* Appends the next SSE event to dst. Returns 1 when an event was added, 0 at the end of the
 * stream, -1 when the cut point (stall_after / disconnect_after) has been reached. */
static int fu_gen_next(struct fu_resp *r, struct evbuffer *dst)
{
    if (r->cut != FU_CUT_NONE && (long long)r->events >= r->cut_at)
        return -1;
    for (;;) {
        switch (r->phase) {
        case FU_P_ROLE:
            r->phase = FU_P_WORDS;
            if (!r->chat)
                continue;
            evbuffer_add(dst, r->pre, r->pre_len);
            evbuffer_add_printf(dst, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
                                     "\"\"},\"finish_reason\":null}]}\n\n");
            break;
        case FU_P_WORDS:
            if (r->bad_json && !r->bad_json_sent && r->itok >= r->ntok / 2) {
                r->bad_json_sent = 1;
                evbuffer_add(dst, "data: {not json\n\n", 17);
                break;
            }
            if (r->itok >= r->ntok) {
                r->phase = FU_P_FINISH;
                continue;
            }
            evbuffer_add(dst, r->pre, r->pre_len);
            evbuffer_add_printf(dst, r->chat ? "{\"index\":0,\"delta\":{\"content\":"
                                             : "{\"index\":0,\"text\":");
            if (r->virt) {
                char w[32];
                size_t wl = fu_fmt_word(w, r->itok);
                if (r->itok + 1 < r->nwords)
                    w[wl++] = ' ';
                fu_json_str(dst, w, wl);
            } else {
                size_t st = 0, len = 0;
                fu_next_token(r->text, r->text_len, &r->text_pos, &st, &len);
                fu_json_str(dst, r->text + st, len);
            }
            r->itok++;
            if (r->chat)
                evbuffer_add(dst, "},\"finish_reason\":null}]}\n\n", 27);
            else
                evbuffer_add(dst, ",\"finish_reason\":null,\"logprobs\":null}]}\n\n", 42);
            break;
        case FU_P_FINISH:
            r->phase = r->late ? FU_P_LATE : r->include_usage ? FU_P_USAGE : FU_P_DONE;
            evbuffer_add(dst, r->pre, r->pre_len);
            if (r->chat)
                evbuffer_add_printf(dst, "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
                                         "\n\n");
            else
                evbuffer_add_printf(dst, "{\"index\":0,\"text\":\"\",\"finish_reason\":\"stop\","
                                         "\"logprobs\":null}]}\n\n");
            break;
        case FU_P_LATE: /* late=1: the echo once more, after the choice's finish_reason */
            r->phase = r->include_usage ? FU_P_USAGE : FU_P_DONE;
            evbuffer_add(dst, r->pre, r->pre_len);
            evbuffer_add_printf(dst, r->chat ? "{\"index\":0,\"delta\":{\"content\":"
                                             : "{\"index\":0,\"text\":");
            fu_json_str(dst, r->text ? r->text : "", r->text ? r->text_len : 0);
            if (r->chat)
                evbuffer_add(dst, "},\"finish_reason\":null}]}\n\n", 27);
            else
                evbuffer_add(dst, ",\"finish_reason\":null,\"logprobs\":null}]}\n\n", 42);
            break;
        case FU_P_USAGE:
            r->phase = FU_P_DONE;
            evbuffer_add(dst, r->pre, r->pre_len);
            evbuffer_add(dst, "],", 2);
            fu_add_usage(dst, r->ptok, r->ctok);
            evbuffer_add(dst, "}\n\n", 3);
            break;
        case FU_P_DONE:
            r->phase = FU_P_END;
            if (r->no_done)
                return 0;
            evbuffer_add(dst, "data: [DONE]\n\n", 14);
            break;
        case FU_P_END:
        default:
            return 0;
        }
        r->events++;
        return 1;
    }
}

/* Moves everything in data to out as one HTTP chunk (unframed when not chunked). */
static void fu_add_chunk(struct evbuffer *out, struct evbuffer *data, int chunked)
{
    size_t len = evbuffer_get_length(data);
    if (len == 0)
        return;
    if (chunked)
        evbuffer_add_printf(out, "%zx\r\n", len);
    evbuffer_add_buffer(out, data);
    if (chunked)
        evbuffer_add(out, "\r\n", 2);
}

/* The stream reached its cut point: hang or disconnect. */
static void fu_cut(struct fu_conn *c)
{
    struct fu_resp *r = c->resp;
    if (r->cut == FU_CUT_STALL) {
        c->state = FU_HUNG;
        fu_set_lowmark(c, 0);
        return;
    }
    fu_record_event(c, "disconnected");
    c->keepalive = 0;
    fu_resp_free(c->resp);
    c->resp = NULL;
    fu_enter_closing(c);
}

static void fu_end_stream(struct fu_conn *c)
{
    if (c->resp->chunked)
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
    fu_finish(c);
}

/* Appends lazily generated virtual words to the output until it passes the low-water mark.
 * Returns 1 when all words have been written. */
static int fu_lazy_words(struct fu_resp *r, struct evbuffer *out)
{
    char buf[FU_WORD_BATCH + 32];
    while (evbuffer_get_length(out) < FU_LOW_WATER) {
        size_t n = 0;
        while (r->itok < r->nwords && n < FU_WORD_BATCH) {
            n += fu_fmt_word(buf + n, r->itok);
            if (r->itok + 1 < r->nwords)
                buf[n++] = ' ';
            r->itok++;
        }
        if (n)
            evbuffer_add(out, buf, n);
        if (r->itok >= r->nwords)
            return 1;
    }
    return 0;
}

/* Writes more of the current streaming response, as flow control allows. */
static void fu_pump(struct fu_conn *c)
{
    struct fu_resp *r = c->resp;
    struct evbuffer *out = bufferevent_get_output(c->bev);

    if (r->mode == FU_M_LAZY) {
        if (!fu_lazy_words(r, out))
            return;
        evbuffer_add(out, r->pre, r->pre_len);
        fu_finish(c);
        return;
    }

    if (!r->paced) {
        struct evbuffer *ev = r->staging;
        while (evbuffer_get_length(out) < FU_LOW_WATER) {
            int rc = fu_gen_next(r, ev);
            if (rc < 0) {
                fu_cut(c);
                return;
            }
            if (rc == 0) {
                fu_end_stream(c);
                return;
            }
            fu_add_chunk(out, ev, r->chunked);
        }
        return;
    }

    /* paced: one unit (a piece of split bytes, or one event) per write */
    if (r->pace_wait)
        return;
    int rc = 1;
    if (r->split > 0) {
        while (evbuffer_get_length(r->staging) < (size_t)r->split) {
            rc = fu_gen_next(r, r->staging);
            if (rc <= 0)
                break;
        }
        size_t len = evbuffer_get_length(r->staging);
        if (len > 0) {
            if (len > (size_t)r->split)
                len = (size_t)r->split;
            if (r->chunked)
                evbuffer_add_printf(out, "%zx\r\n", len);
            evbuffer_remove_buffer(r->staging, out, len);
            if (r->chunked)
                evbuffer_add(out, "\r\n", 2);
            r->pace_wait = 1;
            r->units++;
            return;
        }
    } else {
        rc = fu_gen_next(r, r->staging);
        if (rc > 0) {
            fu_add_chunk(out, r->staging, r->chunked);
            r->pace_wait = 1;
            r->units++;
            return;
        }
    }
    if (rc < 0)
        fu_cut(c);
    else
        fu_end_stream(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Directives                                                                                 */

static void fu_dir_init(struct fu_directives *d)
{
    d->status = d->stall = d->split = d->delay = d->stall_after = d->disconnect_after = -1;
    d->words = d->bad_json = d->no_done = d->garbage = d->unhex = d->late = -1;
    d->invalid = 0;
    d->bad[0] = '\0';
}

static void fu_dir_set(struct fu_directives *d, const char *kv, size_t n)
{
    const char *eq = memchr(kv, '=', n);
    size_t kl = eq ? (size_t)(eq - kv) : n;
    long long v = eq ? fu_parse_uint(eq + 1, n - kl - 1) : -1;
    static const struct {
        const char *key;
        size_t off;
        long long min, max;
    } keys[] = {
        {"status", offsetof(struct fu_directives, status), 400, 599},
        {"stall", offsetof(struct fu_directives, stall), 0, FU_MAX_MS},
        {"split", offsetof(struct fu_directives, split), 1, FU_MAX_SPLIT},
        {"delay", offsetof(struct fu_directives, delay), 0, FU_MAX_MS},
        {"stall_after", offsetof(struct fu_directives, stall_after), 0, LLONG_MAX / 2},
        {"disconnect_after", offsetof(struct fu_directives, disconnect_after), 0, LLONG_MAX / 2},
        {"words", offsetof(struct fu_directives, words), 0, FU_MAX_WORDS},
        {"bad_json", offsetof(struct fu_directives, bad_json), 0, 1},
        {"late", offsetof(struct fu_directives, late), 0, 1},
        {"no_done", offsetof(struct fu_directives, no_done), 0, 1},
        {"garbage", offsetof(struct fu_directives, garbage), 0, 1},
        {"unhex", offsetof(struct fu_directives, unhex), 0, 1},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strlen(keys[i].key) != kl || memcmp(keys[i].key, kv, kl) != 0)
            continue;
        if (v < keys[i].min || v > keys[i].max)
            break;
        *(long long *)(void *)((char *)d + keys[i].off) = v;
        return;
    }
    if (!d->invalid) {
        d->invalid = 1;
        snprintf(d->bad, sizeof(d->bad), "%.*s", (int)(n > 48 ? 48 : n), kv);
    }
}

/* Starts a request's directives from the server's defaults (set with the "directives"
 * control). */
static void fu_dir_start(struct fu_server *s, struct fu_directives *d)
{
    *d = s->defaults;
}

/* Removes [[fake:K=V,...]] directives from s[0..n), collecting them into d, and trims the
 * result. Returns a malloc'd string (length in *out_len), or NULL when out of memory. */
static char *fu_strip_directives(const char *s, size_t n, struct fu_directives *d, size_t *out_len)
{
    static const char open[] = "[[fake:";
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t k = 0, i = 0;
    while (i < n) {
        const char *hit = memmem(s + i, n - i, open, 7);
        size_t upto = hit ? (size_t)(hit - s) : n;
        if (upto > i) { /* plain text up to the next directive */
            memcpy(o + k, s + i, upto - i);
            k += upto - i;
            i = upto;
            continue;
        }
        /* a directive starts at i */
        {
            const char *inner = s + i + 7;
            size_t rest = n - i - 7;
            const char *end = NULL;
            for (size_t j = 0; j + 1 < rest; j++) {
                if (inner[j] == ']' && inner[j + 1] == ']') {
                    end = inner + j;
                    break;
                }
            }
            if (end) {
                size_t il = (size_t)(end - inner), a = 0;
                while (a <= il) {
                    size_t b = a;
                    while (b < il && inner[b] != ',')
                        b++;
                    size_t x = a, y = b;
                    while (x < y && fu_is_space((unsigned char)inner[x]))
                        x++;
                    while (y > x && fu_is_space((unsigned char)inner[y - 1]))
                        y--;
                    if (y > x)
                        fu_dir_set(d, inner + x, y - x);
                    a = b + 1;
                }
                i = (size_t)(end - s) + 2;
                /* "a [[fake:x=1]] b" -> "a b" */
                if ((k == 0 || fu_is_space((unsigned char)o[k - 1])) && i < n &&
                    fu_is_space((unsigned char)s[i]))
                    i++;
                continue;
            }
        }
        o[k++] = s[i++];
    }
    size_t a = 0;
    while (a < k && fu_is_space((unsigned char)o[a]))
        a++;
    while (k > a && fu_is_space((unsigned char)o[k - 1]))
        k--;
    memmove(o, o + a, k - a);
    k -= a;
    o[k] = '\0';
    *out_len = k;
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON loading                                                                               */

/* The gateway's own strict parser (src/core/json.c) builds the jansson values: jansson's
 * loader needs about 30 us for a 2 KB chat request, which alone would cap the fake near
 * 30k requests/s. */

/* With unhex=1 the answer is the echo decoded from hex digits (spaces ignored): how tests make
 * the "model" say something the request did not contain in readable form. */
static void fu_unhex(const struct fu_directives *d, char *s, size_t *len)
{
    if (d->unhex != 1 || !s)
        return;
    size_t o = 0;
    int hi = -1;
    for (size_t i = 0; i < *len; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (v < 0)
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            s[o++] = (char)(hi << 4 | v);
            hi = -1;
        }
    }
    *len = o;
}

static json_t *fu_json_load(const char *s, size_t n, char *err, size_t errsize)
{
    struct sg_json_error je;
    json_t *v = sg_json_parse(s, n, 0, &je);
    if (!v)
        snprintf(err, errsize, "%s at byte %zu", je.text ? je.text : "parse error", je.offset);
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Endpoints                                                                                  */

static void fu_new_id(struct fu_server *s, const char *prefix, char *buf, size_t size)
{
    snprintf(buf, size, "%s%08x%012llx", prefix, s->id_salt, ++s->counter);
}

/* Common preamble of POST endpoints: global failure, then JSON parsing. Returns the parsed
 * object, or NULL when a response has been sent. */
static json_t *fu_api_json(struct fu_conn *c, const char *body, size_t len)
{
    if (c->srv->fail_status) {
        fu_send_injected(c, c->srv->fail_status, 0);
        return NULL;
    }
    char err[128];
    json_t *root = fu_json_load(body, len, err, sizeof(err));
    if (!root) {
        char msg[200];
        snprintf(msg, sizeof(msg), "malformed JSON body: %s", err);
        fu_send_error(c, 400, NULL, "invalid_json", msg, 0);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fu_send_error(c, 400, NULL, "invalid_json", "request body must be a JSON object", 0);
        return NULL;
    }
    return root;
}

/* Adds the word count of a message's content (see fu_content_text) to *words. Returns 0, or -1
 * when the content has an unexpected shape. */
static int fu_content_words(json_t *content, uint64_t *words)
{
    if (!content || json_is_null(content))
        return 0;
    if (json_is_string(content)) {
        *words += fu_count_words(json_string_value(content), json_string_length(content));
        return 0;
    }
    if (!json_is_array(content))
        return -1;
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *type = json_object_get(part, "type");
        json_t *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type))
            return -1;
        if (strcmp(json_string_value(type), "text") != 0)
            continue;
        if (!json_is_string(text))
            return -1;
        *words += fu_count_words(json_string_value(text), json_string_length(text));
    }
    return 0;
}

/* Appends the text of a message's content (string, or array of text parts joined by "\n") to
 * b. Returns 0, or -1 when the content has an unexpected shape. */
static int fu_content_text(json_t *content, struct evbuffer *b)
{
    if (!content || json_is_null(content))
        return 0;
    if (json_is_string(content)) {
        evbuffer_add(b, json_string_value(content), json_string_length(content));
        return 0;
    }
    if (!json_is_array(content))
        return -1;
    size_t i, nparts = 0;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        if (!json_is_object(part))
            return -1;
        json_t *type = json_object_get(part, "type");
        json_t *text = json_object_get(part, "text");
        if (!json_is_string(type))
            return -1;
        if (strcmp(json_string_value(type), "text") != 0)
            continue; /* images and other parts carry no text */
        if (!json_is_string(text))
            return -1;
        if (nparts++)
            evbuffer_add(b, "\n", 1);
        evbuffer_add(b, json_string_value(text), json_string_length(text));
    }
    return 0;
}

static int fu_check_dirs(struct fu_conn *c, struct fu_directives *d)
{
    if (!d->invalid)
        return 0;
    char msg[128];
    snprintf(msg, sizeof(msg), "invalid fake directive: %s", d->bad);
    fu_send_error(c, 400, NULL, "invalid_directive", msg, 0);
    return -1;
}

/* Builds the fixed "data: {"id":..,"object":..,"created":..,"model":..,"choices":[" prefix. */
static char *fu_sse_prefix(const char *id, const char *object, long long created, json_t *model,
                           size_t *len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return NULL;
    evbuffer_add_printf(b, "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":", id,
                        object, created);
    fu_json_str(b, json_string_value(model), json_string_length(model));
    evbuffer_add(b, ",\"choices\":[", 12);
    char *s = fu_evbuffer_strdup(b, len);
    evbuffer_free(b);
    return s;
}

/* Generates a chat or text completion. echo is the user text (directives already removed);
 * words >= 0 replaces TEXT with virtual words. Takes ownership of nothing. */
static void fu_completion(struct fu_conn *c, int chat, json_t *model, const char *echo,
                          size_t echo_len, uint64_t ptok, int stream, int include_usage,
                          const struct fu_directives *d)
{
    struct fu_server *s = c->srv;
    long long stall = d->stall > 0 ? d->stall : 0;
    if (d->status > 0) {
        fu_send_injected(c, (int)d->status, stall);
        return;
    }
    if (!stream && d->garbage == 1) {
        evbuffer_add(s->scratch, "not json", 8);
        fu_send(c, 200, "application/json", 0, stall);
        return;
    }

    char id[64];
    fu_new_id(s, chat ? "chatcmpl-" : "cmpl-", id, sizeof(id));
    long long created = (long long)time(NULL);
    int virt = d->words >= 0;
    char *text = NULL;
    size_t text_len = 0;
    if (!virt) {
        text_len = 1 + s->name_len + 2 + echo_len;
        text = malloc(text_len + 1);
        if (!text) {
            fu_send_error(c, 500, NULL, NULL, "out of memory", 0);
            return;
        }
        text[0] = '[';
        memcpy(text + 1, s->name, s->name_len);
        memcpy(text + 1 + s->name_len, "] ", 2);
        memcpy(text + 3 + s->name_len, echo, echo_len);
        text[text_len] = '\0';
    }
    uint64_t ctok = virt ? (uint64_t)d->words : fu_count_words(text, text_len);

    if (!stream && !virt) {
        struct evbuffer *b = s->scratch;
        evbuffer_add_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":", id,
                            chat ? "chat.completion" : "text_completion", created);
        fu_json_str(b, json_string_value(model), json_string_length(model));
        if (chat) {
            evbuffer_add_printf(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                   "\"content\":");
            fu_json_str(b, text, text_len);
            evbuffer_add_printf(b, "},\"finish_reason\":\"stop\"}],");
        } else {
            evbuffer_add_printf(b, ",\"choices\":[{\"index\":0,\"text\":");
            fu_json_str(b, text, text_len);
            evbuffer_add_printf(b, ",\"finish_reason\":\"stop\",\"logprobs\":null}],");
        }
        fu_add_usage(b, ptok, ctok);
        evbuffer_add(b, "}", 1);
        free(text);
        fu_send(c, 200, "application/json", 0, stall);
        return;
    }

    struct fu_resp *r = calloc(1, sizeof(*r));
    if (!r || !(r->head = evbuffer_new()) || !(r->staging = evbuffer_new())) {
        fu_resp_free(r);
        free(text);
        fu_send_error(c, 500, NULL, NULL, "out of memory", 0);
        return;
    }
    r->stall_ms = stall;
    r->chat = chat;
    r->text = text;
    r->text_len = text_len;
    r->virt = virt;
    r->nwords = virt ? (uint64_t)d->words : 0;
    r->ptok = ptok;
    r->ctok = ctok;

    if (!stream) {
        /* words=N without streaming: exact Content-Length, body generated lazily */
        struct evbuffer *pre = r->staging;
        evbuffer_add_printf(pre, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":", id,
                            chat ? "chat.completion" : "text_completion", created);
        fu_json_str(pre, json_string_value(model), json_string_length(model));
        if (chat)
            evbuffer_add_printf(pre, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                                     "\"assistant\",\"content\":\"");
        else
            evbuffer_add_printf(pre, ",\"choices\":[{\"index\":0,\"text\":\"");
        struct evbuffer *suf = evbuffer_new();
        if (!suf) {
            fu_resp_free(r);
            fu_send_error(c, 500, NULL, NULL, "out of memory", 0);
            return;
        }
        if (chat)
            evbuffer_add_printf(suf, "\"},\"finish_reason\":\"stop\"}],");
        else
            evbuffer_add_printf(suf, "\",\"finish_reason\":\"stop\",\"logprobs\":null}],");
        fu_add_usage(suf, ptok, ctok);
        evbuffer_add(suf, "}", 1);
        /* words: "w<i>" for each i, single spaces between */
        uint64_t wbytes = r->nwords ? r->nwords - 1 : 0; /* spaces */
        for (uint64_t lo = 0, hi = 10, digits = 1; lo < r->nwords; lo = hi, hi *= 10, digits++)
            wbytes += ((hi < r->nwords ? hi : r->nwords) - lo) * (1 + digits);
        long long clen = (long long)(evbuffer_get_length(pre) + wbytes + evbuffer_get_length(suf));
        r->mode = FU_M_LAZY;
        fu_add_head(c, r->head, 200, "application/json", clen, 0);
        evbuffer_add_buffer(r->head, pre);
        r->pre = fu_evbuffer_strdup(suf, &r->pre_len);
        evbuffer_free(suf);
        if (!r->pre) {
            fu_resp_free(r);
            evbuffer_drain(s->scratch, evbuffer_get_length(s->scratch));
            c->keepalive = 0;
            fu_enter_closing(c);
            return;
        }
        fu_start(c, r);
        return;
    }

    r->mode = FU_M_SSE;
    r->pre = fu_sse_prefix(id, chat ? "chat.completion.chunk" : "text_completion", created, model,
                           &r->pre_len);
    if (!r->pre) {
        fu_resp_free(r);
        fu_send_error(c, 500, NULL, NULL, "out of memory", 0);
        return;
    }
    if (virt) {
        r->ntok = r->nwords;
    } else {
        size_t pos = 0, st, len;
        while (fu_next_token(text, text_len, &pos, &st, &len))
            r->ntok++;
    }
    r->phase = FU_P_ROLE;
    r->include_usage = include_usage;
    r->bad_json = d->bad_json == 1;
    r->late = d->late == 1;
    r->no_done = d->no_done == 1;
    r->split = d->split > 0 ? d->split : 0;
    r->delay_ms = d->delay > 0 ? d->delay : 0;
    r->paced = r->split > 0 || r->delay_ms > 0;
    if (d->stall_after >= 0) {
        r->cut = FU_CUT_STALL;
        r->cut_at = d->stall_after;
    } else if (d->disconnect_after >= 0) {
        r->cut = FU_CUT_DISCONNECT;
        r->cut_at = d->disconnect_after;
    }
    r->chunked = !c->http10;
    if (c->http10)
        c->keepalive = 0;
    fu_add_head(c, r->head, 200, "text/event-stream", r->chunked ? -1 : -2, 0);
    fu_start(c, r);
}

static void fu_chat(struct fu_conn *c, const char *body, size_t len)
{
    json_t *root = fu_api_json(c, body, len);
    if (!root)
        return;
    json_t *model = json_object_get(root, "model");
    json_t *messages = json_object_get(root, "messages");
    json_t *stream = json_object_get(root, "stream");
    json_t *opts = json_object_get(root, "stream_options");
    const char *bad = NULL;
    if (!json_is_string(model))
        bad = "'model' must be a string";
    else if (!json_is_array(messages) || json_array_size(messages) == 0)
        bad = "'messages' must be a non-empty array";
    else if (stream && !json_is_boolean(stream) && !json_is_null(stream))
        bad = "'stream' must be a boolean";
    if (bad) {
        fu_send_error(c, 400, NULL, "invalid_request", bad, 0);
        json_decref(root);
        return;
    }
    uint64_t ptok = 0;
    size_t i;
    json_t *msg, *user = NULL;
    json_array_foreach(messages, i, msg)
    {
        json_t *role = json_object_get(msg, "role");
        if (!json_is_object(msg) || !json_is_string(role)) {
            bad = "each message needs a string 'role'";
            break;
        }
        json_t *content = json_object_get(msg, "content");
        if (fu_content_words(content, &ptok) < 0) {
            bad = "message 'content' must be a string or an array of parts";
            break;
        }
        if (strcmp(json_string_value(role), "user") == 0)
            user = content;
    }
    struct evbuffer *last = NULL;
    if (!bad && user && !json_is_string(user)) {
        last = evbuffer_new();
        if (last)
            fu_content_text(user, last);
    }
    if (bad) {
        fu_send_error(c, 400, NULL, "invalid_request", bad, 0);
    } else {
        struct fu_directives d;
        fu_dir_start(c->srv, &d);
        size_t ul = 0, el = 0;
        const char *ut = "";
        if (json_is_string(user)) {
            ut = json_string_value(user);
            ul = json_string_length(user);
        } else if (last && (ul = evbuffer_get_length(last)) > 0) {
            ut = (const char *)evbuffer_pullup(last, -1);
        }
        char *echo = fu_strip_directives(ut, ul, &d, &el);
        fu_unhex(&d, echo, &el);
        json_t *inc = json_is_object(opts) ? json_object_get(opts, "include_usage") : NULL;
        if (!echo)
            fu_send_error(c, 500, NULL, NULL, "out of memory", 0);
        else if (fu_check_dirs(c, &d) == 0)
            fu_completion(c, 1, model, echo, el, ptok, json_is_true(stream), json_is_true(inc), &d);
        free(echo);
    }
    if (last)
        evbuffer_free(last);
    json_decref(root);
}

static void fu_completions(struct fu_conn *c, const char *body, size_t len)
{
    json_t *root = fu_api_json(c, body, len);
    if (!root)
        return;
    json_t *model = json_object_get(root, "model");
    json_t *prompt = json_object_get(root, "prompt");
    json_t *stream = json_object_get(root, "stream");
    json_t *opts = json_object_get(root, "stream_options");
    if (json_is_array(prompt))
        prompt = json_array_get(prompt, 0);
    const char *bad = NULL;
    if (!json_is_string(model))
        bad = "'model' must be a string";
    else if (!json_is_string(prompt))
        bad = "'prompt' must be a string or a non-empty array of strings";
    else if (stream && !json_is_boolean(stream) && !json_is_null(stream))
        bad = "'stream' must be a boolean";
    if (bad) {
        fu_send_error(c, 400, NULL, "invalid_request", bad, 0);
        json_decref(root);
        return;
    }
    const char *p = json_string_value(prompt);
    size_t pl = json_string_length(prompt), el = 0;
    struct fu_directives d;
    fu_dir_start(c->srv, &d);
    char *echo = fu_strip_directives(p, pl, &d, &el);
    fu_unhex(&d, echo, &el);
    json_t *inc = json_is_object(opts) ? json_object_get(opts, "include_usage") : NULL;
    if (!echo)
        fu_send_error(c, 500, NULL, NULL, "out of memory", 0);
    else if (fu_check_dirs(c, &d) == 0)
        fu_completion(c, 0, model, echo, el, fu_count_words(p, pl), json_is_true(stream),
                      json_is_true(inc), &d);
    free(echo);
    json_decref(root);
}

/* Deterministic unit vector for a text: SHA-256 seeds a splitmix64 generator. */
static void fu_embed_vector(const char *t, size_t n, float *v, int dim)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(t, n, md, &mdlen, EVP_sha256(), NULL) != 1)
        memset(md, 0, sizeof(md));
    uint64_t x = 0;
    for (int i = 0; i < 32; i++)
        x = (x << 8 | (x >> 56)) ^ md[i];
    double norm = 0;
    for (int i = 0; i < dim; i++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        double f = (double)(z >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
        v[i] = (float)f;
        norm += f * f;
    }
    norm = sqrt(norm);
    for (int i = 0; i < dim; i++)
        v[i] = norm > 0 ? (float)(v[i] / norm) : 0.0f;
}

static void fu_embeddings(struct fu_conn *c, const char *body, size_t len)
{
    struct fu_server *s = c->srv;
    json_t *root = fu_api_json(c, body, len);
    if (!root)
        return;
    json_t *model = json_object_get(root, "model");
    json_t *input = json_object_get(root, "input");
    json_t *fmt = json_object_get(root, "encoding_format");
    const char *bad = NULL;
    int b64 = 0;
    if (!json_is_string(model))
        bad = "'model' must be a string";
    else if (!json_is_string(input) && !(json_is_array(input) && json_array_size(input) > 0))
        bad = "'input' must be a string or a non-empty array of strings";
    else if (fmt && !json_is_null(fmt)) {
        if (json_is_string(fmt) && strcmp(json_string_value(fmt), "base64") == 0)
            b64 = 1;
        else if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "float") != 0)
            bad = "'encoding_format' must be \"float\" or \"base64\"";
    }
    size_t n = json_is_array(input) ? json_array_size(input) : 1;
    struct fu_directives d;
    fu_dir_init(&d);
    uint64_t words = 0;
    for (size_t i = 0; !bad && i < n; i++) {
        json_t *it = json_is_array(input) ? json_array_get(input, i) : input;
        if (!json_is_string(it)) {
            bad = "'input' must be a string or a non-empty array of strings";
            break;
        }
        size_t el;
        char *e = fu_strip_directives(json_string_value(it), json_string_length(it), &d, &el);
        free(e);
        words += fu_count_words(json_string_value(it), json_string_length(it));
    }
    if (bad) {
        fu_send_error(c, 400, NULL, "invalid_request", bad, 0);
        json_decref(root);
        return;
    }
    if (fu_check_dirs(c, &d) < 0) {
        json_decref(root);
        return;
    }
    long long stall = d.stall > 0 ? d.stall : 0;
    if (d.status > 0) {
        fu_send_injected(c, (int)d.status, stall);
        json_decref(root);
        return;
    }
    if (d.garbage == 1) {
        evbuffer_add(s->scratch, "not json", 8);
        fu_send(c, 200, "application/json", 0, stall);
        json_decref(root);
        return;
    }
    float *v = malloc(sizeof(float) * (size_t)s->dim);
    unsigned char *raw = b64 ? malloc(4 * (size_t)s->dim) : NULL;
    char *enc = b64 ? malloc(4 * (((size_t)s->dim * 4 + 2) / 3) + 1) : NULL;
    if (!v || (b64 && (!raw || !enc))) {
        free(v);
        free(raw);
        free(enc);
        json_decref(root);
        fu_send_error(c, 500, NULL, NULL, "out of memory", 0);
        return;
    }
    struct evbuffer *b = s->scratch;
    evbuffer_add(b, "{\"object\":\"list\",\"data\":[", 25);
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_is_array(input) ? json_array_get(input, i) : input;
        fu_embed_vector(json_string_value(it), json_string_length(it), v, s->dim);
        evbuffer_add_printf(
            b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        if (b64) {
            for (int k = 0; k < s->dim; k++) {
                uint32_t u;
                memcpy(&u, &v[k], 4);
                for (int j = 0; j < 4; j++)
                    raw[4 * k + j] = (unsigned char)(u >> (8 * j)); /* little-endian */
            }
            int el = EVP_EncodeBlock((unsigned char *)enc, raw, 4 * s->dim);
            evbuffer_add(b, "\"", 1);
            evbuffer_add(b, enc, (size_t)(el > 0 ? el : 0));
            evbuffer_add(b, "\"", 1);
        } else {
            evbuffer_add(b, "[", 1);
            for (int k = 0; k < s->dim; k++)
                evbuffer_add_printf(b, k ? ",%.7g" : "%.7g", (double)v[k]);
            evbuffer_add(b, "]", 1);
        }
        evbuffer_add(b, "}", 1);
    }
    evbuffer_add(b, "],\"model\":", 10);
    fu_json_str(b, json_string_value(model), json_string_length(model));
    evbuffer_add_printf(b,
                        ",\"usage\":{\"prompt_tokens\":%" PRIu64 ",\"total_tokens\":%" PRIu64 "}}",
                        words, words);
    free(v);
    free(raw);
    free(enc);
    json_decref(root);
    fu_send(c, 200, "application/json", 0, stall);
}

static void fu_control(struct fu_conn *c, const char *body, size_t len)
{
    struct fu_server *s = c->srv;
    char err[128];
    json_t *root = fu_json_load(body, len, err, sizeof(err));
    if (!json_is_object(root)) {
        json_decref(root);
        fu_send_error(c, 400, NULL, "invalid_json", "control body must be a JSON object", 0);
        return;
    }
    int health = -1, fail = -1;
    const char *bad = NULL, *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "health") == 0) {
            const char *h = json_string_value(val);
            if (h && strcmp(h, "down") == 0)
                health = 1;
            else if (h && strcmp(h, "up") == 0)
                health = 0;
            else
                bad = "'health' must be \"up\" or \"down\"";
        } else if (strcmp(key, "fail") == 0) {
            json_int_t f = json_is_integer(val) ? json_integer_value(val) : -1;
            if (f == 0 || (f >= 400 && f <= 599))
                fail = (int)f;
            else
                bad = "'fail' must be 0 or a status from 400 to 599";
        } else if (strcmp(key, "directives") == 0) {
            /* "k=v,k=v": defaults for every following request; "" clears them. */
            const char *t = json_string_value(val);
            if (!t) {
                bad = "'directives' must be a string";
                continue;
            }
            struct fu_directives d;
            fu_dir_init(&d);
            for (const char *q = t; *q;) {
                const char *e = strchr(q, ',');
                size_t kl = e ? (size_t)(e - q) : strlen(q);
                if (kl)
                    fu_dir_set(&d, q, kl);
                q += kl + (e ? 1 : 0);
            }
            if (d.invalid)
                bad = "invalid directive in 'directives'";
            else
                s->defaults = d;
        } else {
            bad = "unknown control key (known: health, fail, directives)";
        }
    }
    json_decref(root);
    if (bad) {
        fu_send_error(c, 400, NULL, "invalid_request", bad, 0);
        return;
    }
    if (health >= 0)
        s->health_down = health;
    if (fail >= 0)
        s->fail_status = fail;
    evbuffer_add(s->scratch, "{\"ok\":true}", 11);
    fu_send(c, 200, "application/json", 0, 0);
}

static void fu_models(struct fu_conn *c)
{
    struct fu_server *s = c->srv;
    if (s->fail_status) {
        fu_send_injected(c, s->fail_status, 0);
        return;
    }
    if (s->health_down) {
        fu_send_error(c, 503, NULL, "unavailable", "fake upstream is marked down", 0);
        return;
    }
    struct evbuffer *b = s->scratch;
    evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[{\"id\":\"fake-model\",\"object\":"
                           "\"model\",\"created\":0,\"owned_by\":");
    fu_json_str(b, s->name, s->name_len);
    evbuffer_add(b, "}]}", 3);
    fu_send(c, 200, "application/json", 0, 0);
}

static void fu_health(struct fu_conn *c)
{
    struct fu_server *s = c->srv;
    if (s->health_down) {
        evbuffer_add(s->scratch, "{\"status\":\"down\"}", 17);
        fu_send(c, 503, "application/json", 1, 0);
        return;
    }
    evbuffer_add(s->scratch, "{\"status\":\"ok\"}", 15);
    fu_send(c, 200, "application/json", 0, 0);
}

static void fu_route(struct fu_conn *c, const char *body, size_t len)
{
    const char *t = c->target;
    size_t pl = strcspn(t, "?#");
    int get = strcmp(c->method, "GET") == 0, post = strcmp(c->method, "POST") == 0;
    static const struct {
        const char *path;
        int post;
    } routes[] = {
        {"/v1/chat/completions", 1}, {"/v1/completions", 1}, {"/v1/embeddings", 1},
        {"/__fake/control", 1},      {"/v1/models", 0},      {"/health", 0},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strlen(routes[i].path) != pl || memcmp(routes[i].path, t, pl) != 0)
            continue;
        if (routes[i].post ? !post : !get) {
            fu_send_error(c, 405, NULL, "method_not_allowed", "method not allowed on this path", 0);
            return;
        }
        switch (i) {
        case 0:
            fu_chat(c, body, len);
            return;
        case 1:
            fu_completions(c, body, len);
            return;
        case 2:
            fu_embeddings(c, body, len);
            return;
        case 3:
            fu_control(c, body, len);
            return;
        case 4:
            fu_models(c);
            return;
        default:
            fu_health(c);
            return;
        }
    }
    if (c->srv->fail_status && pl >= 4 && memcmp(t, "/v1/", 4) == 0) {
        fu_send_injected(c, c->srv->fail_status, 0);
        return;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "unknown path: %.*s", (int)(pl > 100 ? 100 : pl), t);
    fu_send_error(c, 404, "invalid_request_error", "not_found", msg, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP request parsing                                                                       */

static int fu_has_token(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(v, tok, tl) == 0)
            return 1;
        v += n;
    }
    return 0;
}

/* Parses the request head if it is complete. Returns 1 when parsed, 0 when more input is
 * needed, -1 when an error response has been queued (the connection is closing). */
static int fu_parse_head(struct fu_conn *c, struct evbuffer *in)
{
    /* tolerate empty lines before a request line (RFC 9112 section 2.2) */
    for (;;) {
        unsigned char two[2];
        ev_ssize_t got = evbuffer_copyout(in, two, 2);
        if (got >= 1 && two[0] == '\n')
            evbuffer_drain(in, 1);
        else if (got == 2 && two[0] == '\r' && two[1] == '\n')
            evbuffer_drain(in, 2);
        else
            break;
    }
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(in) > FU_MAX_HEAD) {
            fu_send_fatal(c, 431, "headers_too_large", "request head too large");
            return -1;
        }
        return 0;
    }
    size_t hl = (size_t)end.pos + 4;
    if (hl > FU_MAX_HEAD) {
        fu_send_fatal(c, 431, "headers_too_large", "request head too large");
        return -1;
    }
    if (hl + 1 > c->head_cap) {
        size_t cap = c->head_cap ? c->head_cap : 1024;
        while (cap < hl + 1)
            cap *= 2;
        char *h = realloc(c->head, cap);
        if (!h) {
            fu_send_fatal(c, 500, NULL, "out of memory");
            return -1;
        }
        c->head = h;
        c->head_cap = cap;
    }
    evbuffer_remove(in, c->head, hl);
    c->head[hl - 2] = '\0'; /* ends the last header line's CRLF */
    c->nhdr = 0;
    c->content_length = 0;
    c->expect_continue = 0;
    c->method = c->target = NULL;

    /* request line */
    char *p = c->head;
    char *eol = strstr(p, "\r\n");
    *eol = '\0';
    char *sp1 = strchr(p, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1 || strchr(sp2 + 1, ' ')) {
        fu_send_fatal(c, 400, "bad_request", "malformed request line");
        return -1;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    c->method = p;
    c->target = sp1 + 1;
    const char *ver = sp2 + 1;
    if (strcmp(ver, "HTTP/1.1") == 0) {
        c->http10 = 0;
    } else if (strcmp(ver, "HTTP/1.0") == 0) {
        c->http10 = 1;
    } else {
        fu_send_fatal(c, 505, "bad_request", "unsupported HTTP version");
        return -1;
    }
    c->keepalive = !c->http10;

    int have_cl = 0;
    p = eol + 2;
    while (*p) {
        eol = strstr(p, "\r\n");
        if (eol)
            *eol = '\0';
        if (*p == ' ' || *p == '\t') {
            fu_send_fatal(c, 400, "bad_request", "obsolete header line folding");
            return -1;
        }
        char *colon = strchr(p, ':');
        if (!colon || colon == p || c->nhdr >= FU_MAX_HEADERS) {
            fu_send_fatal(c, colon ? 431 : 400, "bad_request",
                          colon ? "too many headers" : "malformed header line");
            return -1;
        }
        *colon = '\0';
        for (char *q = p; *q; q++) {
            if (*q == ' ' || *q == '\t' || (unsigned char)*q < 0x21) {
                fu_send_fatal(c, 400, "bad_request", "malformed header name");
                return -1;
            }
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q - 'A' + 'a');
        }
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        c->hdr[c->nhdr].name = p;
        c->hdr[c->nhdr].value = v;
        c->nhdr++;

        if (strcmp(p, "content-length") == 0) {
            long long n = fu_parse_uint(v, vl);
            if (n < 0 || (have_cl && (size_t)n != c->content_length)) {
                fu_send_fatal(c, 400, "bad_request", "invalid Content-Length");
                return -1;
            }
            have_cl = 1;
            c->content_length = (size_t)n;
            if (n > FU_MAX_BODY) {
                fu_send_fatal(c, 413, "request_too_large", "request body exceeds 16 MiB");
                return -1;
            }
        } else if (strcmp(p, "transfer-encoding") == 0) {
            fu_send_fatal(c, 400, "bad_request",
                          "Transfer-Encoding in requests is not supported; send Content-Length");
            return -1;
        } else if (strcmp(p, "connection") == 0) {
            if (fu_has_token(v, "close"))
                c->keepalive = 0;
            else if (c->http10 && fu_has_token(v, "keep-alive"))
                c->keepalive = 1;
        } else if (strcmp(p, "expect") == 0) {
            c->expect_continue = strcasecmp(v, "100-continue") == 0;
        }
        if (!eol)
            break;
        p = eol + 2;
    }
    c->have_head = 1;
    c->continue_sent = 0;
    return 1;
}

static void fu_process_input(struct fu_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->in_process = 1;
    while (c->state == FU_IDLE) {
        if (!c->have_head && fu_parse_head(c, in) <= 0)
            break;
        size_t cl = c->content_length;
        if (evbuffer_get_length(in) < cl) {
            if (c->expect_continue && !c->continue_sent && !c->http10) {
                evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
                c->continue_sent = 1;
            }
            break;
        }
        const char *body = cl ? (const char *)evbuffer_pullup(in, (ev_ssize_t)cl) : "";
        c->have_head = 0;
        if (c->srv->record)
            fu_record_request(c, body, cl);
        fu_route(c, body, cl);
        evbuffer_drain(in, cl);
    }
    c->in_process = 0;
    if (c->read_paused && c->state == FU_IDLE) {
        c->read_paused = 0;
        bufferevent_enable(c->bev, EV_READ);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* libevent callbacks                                                                         */

static void fu_read_cb(struct bufferevent *bev, void *arg)
{
    struct fu_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    switch (c->state) {
    case FU_IDLE:
        fu_process_input(c);
        break;
    case FU_LINGER:
        evbuffer_drain(in, evbuffer_get_length(in));
        break;
    default:
        /* busy: keep reading to notice a disconnect, but bound what piles up */
        if (evbuffer_get_length(in) > FU_MAX_BUSY_INPUT && !c->read_paused) {
            c->read_paused = 1;
            bufferevent_disable(bev, EV_READ);
        }
        break;
    }
}

static void fu_write_cb(struct bufferevent *bev, void *arg)
{
    struct fu_conn *c = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    switch (c->state) {
    case FU_STREAMING:
        if (c->resp->paced) {
            if (c->resp->pace_wait == 1 && left == 0) {
                c->resp->pace_wait = 2;
                /* the first unit follows the head after one loop turn, later ones after delay */
                fu_arm_timer(c, c->resp->units ? c->resp->delay_ms : 0);
            }
        } else {
            fu_pump(c);
        }
        break;
    case FU_CLOSING:
        if (left == 0)
            fu_start_linger(c);
        break;
    default:
        break;
    }
}

static void fu_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct fu_conn *c = arg;
    (void)bev;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return;
    if (c->state == FU_STALLED || c->state == FU_STREAMING || c->state == FU_HUNG)
        fu_record_event(c, "aborted");
    fu_conn_free(c);
}

static void fu_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fu_conn *c = arg;
    (void)fd;
    (void)what;
    switch (c->state) {
    case FU_STALLED:
        fu_begin(c);
        break;
    case FU_STREAMING:
        if (c->resp->paced && c->resp->pace_wait == 2) {
            c->resp->pace_wait = 0;
            fu_pump(c);
        }
        break;
    case FU_CLOSING:
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            fu_start_linger(c);
        return;
    case FU_LINGER:
        fu_conn_free(c);
        return;
    default:
        return;
    }
    if (c->state == FU_IDLE && !c->in_process)
        fu_process_input(c);
}

static void fu_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *arg)
{
    struct fu_server *s = arg;
    (void)l;
    (void)sa;
    (void)salen;
    if (s->is_tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    struct fu_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    c->state = FU_IDLE;
    if (s->ssl) {
        SSL *ssl = SSL_new(s->ssl);
        if (ssl)
            c->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    c->timer = evtimer_new(s->base, fu_timer_cb, c);
    if (!c->bev || !c->timer) {
        if (!c->bev)
            evutil_closesocket(fd);
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->timer)
            event_free(c->timer);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    bufferevent_setcb(c->bev, fu_read_cb, fu_write_cb, fu_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void fu_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fu_server *s = arg;
    (void)fd;
    (void)what;
    evconnlistener_enable(s->listener);
}

static void fu_accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct fu_server *s = arg;
    int err = EVUTIL_SOCKET_ERROR();
    fprintf(stderr, "sg-fake-upstream: accept: %s\n", evutil_socket_error_to_string(err));
    /* out of descriptors and the like: pause accepting for a moment instead of spinning */
    evconnlistener_disable(l);
    struct timeval tv = {0, 100000};
    evtimer_add(s->ev_accept_retry, &tv);
}

static void fu_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct fu_server *s = arg;
    (void)sig;
    (void)what;
    event_base_loopbreak(s->base);
}

/* ------------------------------------------------------------------------------------------ */
/* Setup                                                                                      */

static void fu_usage(FILE *f)
{
    fprintf(f, "usage: sg-fake-upstream [--listen HOST:PORT | --unix PATH] [--name NAME]\n"
               "                        [--record FILE] [--tls-cert FILE --tls-key FILE] "
               "[--dim N]\n"
               "Fake OpenAI-compatible upstream for Sovgate tests; see "
               "tests/fake_upstream/README.md.\n");
}

static int fu_listen_tcp(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
        fprintf(stderr, "sg-fake-upstream: --listen wants HOST:PORT, got '%s'\n", spec);
        return -1;
    }
    size_t hl = (size_t)(colon - spec);
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "sg-fake-upstream: --listen %s: %s\n", spec, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        fprintf(stderr, "sg-fake-upstream: listen on %s: %s\n", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int fu_listen_unix(const char *path)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    size_t pl = strlen(path);
    if (pl == 0 || pl >= sizeof(sun.sun_path)) {
        fprintf(stderr, "sg-fake-upstream: --unix path too long\n");
        return -1;
    }
    memcpy(sun.sun_path, path, pl + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "sg-fake-upstream: %s exists and is not a socket\n", path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1024) < 0) {
        fprintf(stderr, "sg-fake-upstream: listen on unix:%s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static SSL_CTX *fu_tls_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        unsigned long e = ERR_get_error();
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "sg-fake-upstream: TLS setup (%s, %s): %s\n", cert, key, buf);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL, *unix_path = NULL, *name = "fake", *record = NULL;
    const char *cert = NULL, *key = NULL;
    long dim = 8;
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"unix", required_argument, NULL, 'u'},
        {"name", required_argument, NULL, 'n'},
        {"record", required_argument, NULL, 'r'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"dim", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'l':
            listen_spec = optarg;
            break;
        case 'u':
            unix_path = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'r':
            record = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'd': {
            long long v = fu_parse_uint(optarg, strlen(optarg));
            if (v < 1 || v > FU_MAX_DIM) {
                fprintf(stderr, "sg-fake-upstream: --dim must be 1..%d\n", FU_MAX_DIM);
                return 2;
            }
            dim = (long)v;
            break;
        }
        case 'h':
            fu_usage(stdout);
            return 0;
        default:
            fu_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (listen_spec && unix_path) || (!cert != !key)) {
        fu_usage(stderr);
        return 2;
    }
    size_t nl = strlen(name);
    json_t *probe = json_string(name);
    int name_ok = probe != NULL && nl > 0 && nl <= FU_MAX_NAME;
    json_decref(probe);
    for (size_t i = 0; name_ok && i < nl; i++)
        name_ok = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f;
    if (!name_ok) {
        fprintf(stderr, "sg-fake-upstream: --name must be 1..%d printable UTF-8 bytes\n",
                FU_MAX_NAME);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    struct fu_server srv;
    memset(&srv, 0, sizeof(srv));
    fu_dir_init(&srv.defaults);
    srv.name = name;
    srv.name_len = nl;
    srv.dim = (int)dim;
    srv.id_salt = (unsigned)getpid() ^ (unsigned)time(NULL);
    int rc = 1;

    if (record) {
        srv.record = fopen(record, "a");
        if (!srv.record) {
            fprintf(stderr, "sg-fake-upstream: --record %s: %s\n", record, strerror(errno));
            return 1;
        }
    }
    if (cert && !(srv.ssl = fu_tls_ctx(cert, key)))
        goto out;

    int fd = unix_path ? fu_listen_unix(unix_path)
                       : fu_listen_tcp(listen_spec ? listen_spec : "127.0.0.1:0");
    if (fd < 0)
        goto out;
    srv.is_tcp = unix_path == NULL;
    srv.unix_path = unix_path;
    evutil_make_socket_nonblocking(fd);

    srv.base = event_base_new();
    srv.scratch = evbuffer_new();
    if (!srv.base || !srv.scratch) {
        close(fd);
        goto out;
    }
    srv.listener = evconnlistener_new(srv.base, fu_accept_cb, &srv,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    srv.ev_term = evsignal_new(srv.base, SIGTERM, fu_signal_cb, &srv);
    srv.ev_int = evsignal_new(srv.base, SIGINT, fu_signal_cb, &srv);
    srv.ev_accept_retry = evtimer_new(srv.base, fu_accept_retry_cb, &srv);
    if (!srv.listener || !srv.ev_term || !srv.ev_int || !srv.ev_accept_retry) {
        if (!srv.listener)
            close(fd);
        goto out;
    }
    evconnlistener_set_error_cb(srv.listener, fu_accept_error_cb);
    evsignal_add(srv.ev_term, NULL);
    evsignal_add(srv.ev_int, NULL);

    if (unix_path) {
        printf("READY unix:%s\n", unix_path);
    } else {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        printf("READY %d\n", port);
    }
    fflush(stdout);

    event_base_dispatch(srv.base);
    rc = 0;

out:
    while (srv.conns)
        fu_conn_free(srv.conns);
    if (srv.listener)
        evconnlistener_free(srv.listener);
    if (srv.ev_term)
        event_free(srv.ev_term);
    if (srv.ev_int)
        event_free(srv.ev_int);
    if (srv.ev_accept_retry)
        event_free(srv.ev_accept_retry);
    if (srv.scratch)
        evbuffer_free(srv.scratch);
    if (srv.base)
        event_base_free(srv.base);
    if (srv.ssl)
        SSL_CTX_free(srv.ssl);
    if (srv.record)
        fclose(srv.record);
    if (unix_path && rc == 0)
        unlink(unix_path);
    return rc;
}
