/* HTTP/1.1 upstream client on libevent bufferevents. A transfer owns a connection from
 * the moment its request is written until its answer is complete; complete keep-alive
 * connections go back to an idle pool keyed by target. A reused connection that the
 * server had already closed is detected by an end of file before any answer byte, and the
 * request is sent again once on a new connection. */
#include "http/upstream.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "http/parser.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SG_UP_MAX_ADDRS 8
#define SG_UP_HEAD_MAX (64 * 1024)
#define SG_UP_IDLE_MAX 64               /* idle connections kept per target and loop */
#define SG_UP_IDLE_US (30ull * 1000000) /* idle connections older than this are closed */

struct sg_upstream_target {
    atomic_int refs;
    bool tls, host_is_ip;
    char *host;        /* for SNI and certificate checks, without brackets */
    char *host_header; /* as in the URL: host, host:port, [v6]:port */
    char *prefix;      /* path prefix, "" when none */
    char *unix_path;
    char *key;  /* pool key: scheme, addresses, Host and CA bundle */
    char *desc; /* for logs */
    struct sockaddr_storage addrs[SG_UP_MAX_ADDRS];
    socklen_t addrlens[SG_UP_MAX_ADDRS];
    int naddrs;
    SSL_CTX *ssl_ctx;
    uint8_t (*pins)[32]; /* SPKI SHA-256 pins, or NULL */
    size_t npins;
};

/* The ex_data slot of an SSL_CTX that points at its target (for the pin check). */
static int target_idx = -1;
static pthread_once_t target_idx_once = PTHREAD_ONCE_INIT;

static void make_target_idx(void)
{
    target_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* The chain verified: the leaf's public key must also be pinned, when pins are set. */
static int verify_pin(int ok, X509_STORE_CTX *x)
{
    if (!ok || X509_STORE_CTX_get_error_depth(x) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct sg_upstream_target *t =
        ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), target_idx) : NULL;
    if (!t || !t->npins)
        return ok;
    X509 *leaf = X509_STORE_CTX_get_current_cert(x);
    unsigned char *der = NULL;
    int len = leaf ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der) : -1;
    bool match = false;
    if (len > 0) {
        uint8_t h[SG_SHA256_LEN];
        sg_sha256(der, (size_t)len, h);
        for (size_t i = 0; i < t->npins && !match; i++)
            match = memcmp(h, t->pins[i], 32) == 0;
    }
    OPENSSL_free(der);
    if (!match)
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
    return match;
}

int sg_upstream_target_pin(struct sg_upstream_target *t, const uint8_t (*pins)[32], size_t n)
{
    if (!n)
        return 0;
    t->pins = malloc(n * 32);
    if (!t->pins)
        return SG_ENOMEM;
    memcpy(t->pins, pins, n * 32);
    t->npins = n;
    /* targets with other pins (or none) must never share pooled connections: a connection
     * checked against one pin set is not checked against another (the key names the whole
     * set, not its first pin) */
    size_t kl = strlen(t->key) + 2 * 32 + 8;
    char *k = malloc(kl);
    if (!k)
        return SG_ENOMEM;
    uint8_t set[32];
    char hex[65];
    sg_sha256(pins, n * 32, set);
    sg_hex_encode(set, 32, hex);
    snprintf(k, kl, "%s|pins:%s", t->key, hex);
    free(t->key);
    t->key = k;
    return 0;
}

struct sg_upstream_headers {
    char *block; /* "Name: value\r\n" lines */
    size_t len;
};

struct uconn {
    struct sg_upstream *u;
    struct sg_upstream_target *t; /* reference held */
    struct bufferevent *bev;
    struct uconn *prev, *next; /* idle list */
    struct sg_upstream_xfer *x;
    uint64_t idle_since;
    int addr;
    bool connected, reused, idle;
};

enum xphase { X_HEAD, X_BODY };

struct sg_upstream_xfer {
    struct sg_upstream *u;
    struct uconn *c;
    struct sg_upstream_target *t; /* reference held */
    struct sg_upstream_callbacks cb;
    void *arg;
    struct sg_upstream_xfer *prev, *next;
    struct sg_buf request; /* kept for one resend on a fresh connection */
    enum xphase phase;
    enum sg_http_body_kind body;
    bool close_delimited, keep_alive;
    uint64_t remaining;
    struct sg_http_chunked chunked;
    bool got_bytes, paused, retried;
    struct event *stall, *total;
    uint32_t connect_ms, stall_ms;
};

struct sg_upstream {
    struct event_base *base;
    struct uconn *idle;
    size_t nidle;
    struct sg_upstream_xfer *xfers;
    size_t active;
    struct event *sweep;
    struct sg_buf scratch; /* de-chunked body bytes on their way to on_data */
};

/* ---- targets ---- */

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void target_free(struct sg_upstream_target *t)
{
    if (!t)
        return;
    free(t->host);
    free(t->host_header);
    free(t->prefix);
    free(t->unix_path);
    free(t->key);
    free(t->desc);
    if (t->ssl_ctx)
        SSL_CTX_free(t->ssl_ctx);
    free(t->pins);
    free(t);
}

void sg_upstream_target_ref(struct sg_upstream_target *t)
{
    atomic_fetch_add(&t->refs, 1);
}

void sg_upstream_target_unref(struct sg_upstream_target *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1)
        target_free(t);
}

const char *sg_upstream_target_describe(const struct sg_upstream_target *t)
{
    return t->desc;
}

static const char *ssl_errstr(void)
{
    static _Thread_local char buf[200];
    unsigned long e = ERR_get_error();
    if (!e)
        return "unknown TLS error";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

static int target_fail(struct sg_upstream_target *t, int rc)
{
    target_free(t);
    return rc;
}

/* Resolves the host now: the addresses stay fixed until the target is replaced. */
static int resolve(struct sg_upstream_target *t, const char *url, const char *port,
                   struct sg_buf *d, struct sg_error *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(t->host, port, &hints, &res);
    if (gai != 0)
        return sg_error_set(err, SG_EUNAVAIL, "cannot resolve %s: %s", url, gai_strerror(gai));
    for (struct addrinfo *a = res; a && t->naddrs < SG_UP_MAX_ADDRS; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        memcpy(&t->addrs[t->naddrs], a->ai_addr, a->ai_addrlen);
        t->addrlens[t->naddrs] = a->ai_addrlen;
        char ip[INET6_ADDRSTRLEN] = "?";
        const void *src = a->ai_family == AF_INET
                              ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                              : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
        inet_ntop(a->ai_family, src, ip, sizeof(ip));
        bool v6 = a->ai_family == AF_INET6;
        sg_buf_printf(d, "%s%s%s%s:%s", t->naddrs ? ", " : "", v6 ? "[" : "", ip, v6 ? "]" : "",
                      port);
        t->naddrs++;
    }
    freeaddrinfo(res);
    if (t->naddrs == 0)
        return sg_error_set(err, SG_EUNAVAIL, "no address for %s", url);
    return 0;
}

/* The SHA-256 of a file's content in hex (64 digits), or "-" when it cannot be read (the
 * TLS set-up that reads it next says why). */
static void file_digest_hex(const char *path, char hex[65])
{
    hex[0] = '-';
    hex[1] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char buf[16384], md[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    size_t n;
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        ok = EVP_DigestUpdate(c, buf, n);
    if (ok && !ferror(f) && EVP_DigestFinal_ex(c, md, &ml) && ml == 32)
        sg_hex_encode(md, 32, hex);
    EVP_MD_CTX_free(c);
    fclose(f);
}

int sg_upstream_target_new(const char *base_url, const char *unix_path, const char *ca_file,
                           struct sg_upstream_target **out, struct sg_error *err)
{
    *out = NULL;
    struct sg_upstream_target *t = calloc(1, sizeof(*t));
    if (!t)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    atomic_init(&t->refs, 1);
    const char *p;
    if (strncmp(base_url, "http://", 7) == 0) {
        p = base_url + 7;
    } else if (strncmp(base_url, "https://", 8) == 0) {
        p = base_url + 8;
        t->tls = true;
    } else {
        return target_fail(t,
                           sg_error_set(err, SG_EINVAL, "URL must start with http:// or https://"));
    }
    const char *slash = strchr(p, '/');
    size_t hp_len = slash ? (size_t)(slash - p) : strlen(p);
    t->host_header = dupn(p, hp_len);
    t->prefix = slash ? dupn(slash, strlen(slash)) : dupn("", 0);
    const char *host = p, *port = NULL;
    size_t hlen;
    if (*p == '[') {
        const char *rb = memchr(p, ']', hp_len);
        if (!rb)
            return target_fail(t, sg_error_set(err, SG_EINVAL, "malformed IPv6 address in URL"));
        host = p + 1;
        hlen = (size_t)(rb - host);
        if (rb + 1 < p + hp_len) {
            if (rb[1] != ':')
                return target_fail(t, sg_error_set(err, SG_EINVAL, "malformed URL"));
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', hp_len);
        hlen = colon ? (size_t)(colon - p) : hp_len;
        if (colon)
            port = colon + 1;
    }
    char portbuf[8];
    size_t plen = port ? (size_t)(p + hp_len - port) : 0;
    if (port && (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen))
        return target_fail(t, sg_error_set(err, SG_EINVAL, "malformed port in URL"));
    if (port)
        snprintf(portbuf, sizeof(portbuf), "%.*s", (int)plen, port);
    else
        snprintf(portbuf, sizeof(portbuf), "%s", t->tls ? "443" : "80");
    if (hlen == 0)
        return target_fail(t, sg_error_set(err, SG_EINVAL, "missing host in URL"));
    t->host = dupn(host, hlen);
    if (!t->host || !t->host_header || !t->prefix)
        return target_fail(t, sg_error_set(err, SG_ENOMEM, "out of memory"));
    struct in6_addr a6;
    t->host_is_ip = inet_pton(AF_INET, t->host, &a6) == 1 || inet_pton(AF_INET6, t->host, &a6) == 1;

    struct sg_buf d;
    sg_buf_init(&d, 4096);
    if (unix_path) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&t->addrs[0];
        size_t n = strlen(unix_path);
        if (n >= sizeof(sun->sun_path)) {
            sg_buf_free(&d);
            return target_fail(t, sg_error_set(err, SG_EINVAL, "Unix socket path too long"));
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, unix_path, n + 1);
        t->addrlens[0] = (socklen_t)sizeof(*sun);
        t->naddrs = 1;
        t->unix_path = dupn(unix_path, n);
        sg_buf_printf(&d, "unix:%s", unix_path);
    } else {
        int rc = resolve(t, base_url, portbuf, &d, err);
        if (rc) {
            sg_buf_free(&d);
            return target_fail(t, rc);
        }
    }
    t->desc = sg_buf_steal(&d);
    /* the CA bundle by its content too: after a reload that changed the file, connections
     * verified against the old one are not reused */
    char ca_hex[65] = "";
    if (ca_file)
        file_digest_hex(ca_file, ca_hex);
    size_t klen = (t->desc ? strlen(t->desc) : 0) + strlen(t->host_header) +
                  (ca_file ? strlen(ca_file) : 0) + sizeof(ca_hex) + 16;
    if (!t->desc || !(t->key = malloc(klen)))
        return target_fail(t, sg_error_set(err, SG_ENOMEM, "out of memory"));
    snprintf(t->key, klen, "%s|%s|%s|%s|%s", t->tls ? "tls" : "tcp", t->desc, t->host_header,
             ca_file ? ca_file : "", ca_hex);
    if (t->tls) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
            return target_fail(
                t, sg_error_set(err, SG_ECRYPTO, "cannot create TLS context: %s", ssl_errstr()));
        t->ssl_ctx = ctx;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        pthread_once(&target_idx_once, make_target_idx);
        SSL_CTX_set_ex_data(ctx, target_idx, t);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_pin);
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        static const unsigned char alpn[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
        int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1)
            return target_fail(t, sg_error_set(err, SG_ECRYPTO, "cannot load CA bundle %s: %s",
                                               ca_file ? ca_file : "(system)", ssl_errstr()));
    }
    *out = t;
    return 0;
}

/* ---- header blocks ---- */

struct sg_upstream_headers *sg_upstream_headers_new(const char *credential, bool stream)
{
    struct sg_upstream_headers *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    struct sg_buf b;
    sg_buf_init(&b, 70000);
    int rc =
        sg_buf_puts(&b, stream ? "Accept: text/event-stream\r\n" : "Accept: application/json\r\n");
    if (!rc && credential)
        rc = sg_buf_printf(&b, "Authorization: Bearer %s\r\n", credential);
    if (rc) {
        if (b.data)
            sg_secure_zero(b.data, b.len);
        sg_buf_free(&b);
        free(h);
        return NULL;
    }
    h->len = b.len;
    h->block = sg_buf_steal(&b);
    return h;
}

void sg_upstream_headers_free(struct sg_upstream_headers *h)
{
    if (!h)
        return;
    if (h->block) {
        sg_secure_zero(h->block, h->len);
        free(h->block);
    }
    free(h);
}

/* ---- connections ---- */

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static bool process(struct sg_upstream_xfer *x);

static void idle_remove(struct uconn *c)
{
    struct sg_upstream *u = c->u;
    if (!c->idle)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        u->idle = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->idle = false;
    u->nidle--;
}

static void conn_close(struct uconn *c)
{
    idle_remove(c);
    if (c->bev)
        bufferevent_free(c->bev);
    sg_upstream_target_unref(c->t);
    free(c);
}

static struct uconn *conn_new(struct sg_upstream *u, struct sg_upstream_target *t, int addr,
                              struct sg_error *err)
{
    struct uconn *c = calloc(1, sizeof(*c));
    if (!c) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        return NULL;
    }
    c->u = u;
    c->t = t;
    c->addr = addr;
    sg_upstream_target_ref(t);
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    if (t->tls) {
        SSL *ssl = SSL_new(t->ssl_ctx);
        if (!ssl) {
            sg_error_set(err, SG_ECRYPTO, "cannot create TLS session: %s", ssl_errstr());
            conn_close(c);
            return NULL;
        }
        if (t->host_is_ip) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host);
        } else {
            SSL_set_tlsext_host_name(ssl, t->host);
            SSL_set1_host(ssl, t->host);
        }
        c->bev = bufferevent_openssl_socket_new(u->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, opts);
        if (!c->bev)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(u->base, -1, opts);
    }
    if (!c->bev) {
        sg_error_set(err, SG_ENOMEM, "cannot create a connection");
        conn_close(c);
        return NULL;
    }
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&t->addrs[addr],
                                   (int)t->addrlens[addr]) != 0) {
        sg_error_set(err, SG_EUNAVAIL, "cannot connect to %s: %s", t->desc,
                     strerror(EVUTIL_SOCKET_ERROR()));
        conn_close(c);
        return NULL;
    }
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0 && !t->unix_path) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return c;
}

/* An idle connection to the same place (most recently used first), or NULL. */
static struct uconn *idle_take(struct sg_upstream *u, const struct sg_upstream_target *t)
{
    for (struct uconn *c = u->idle; c; c = c->next) {
        if (c->t == t || strcmp(c->t->key, t->key) == 0) {
            idle_remove(c);
            c->reused = true;
            return c;
        }
    }
    return NULL;
}

static void idle_put(struct uconn *c)
{
    struct sg_upstream *u = c->u;
    size_t same = 0;
    for (struct uconn *o = u->idle; o; o = o->next)
        same += o->t == c->t;
    if (same >= SG_UP_IDLE_MAX) {
        conn_close(c);
        return;
    }
    c->x = NULL;
    c->idle = true;
    c->idle_since = sg_clock_us();
    c->prev = NULL;
    c->next = u->idle;
    if (u->idle)
        u->idle->prev = c;
    u->idle = c;
    u->nidle++;
    bufferevent_enable(c->bev, EV_READ); /* to notice the server closing it */
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sg_upstream *u = arg;
    uint64_t now = sg_clock_us();
    struct uconn *c = u->idle;
    while (c) {
        struct uconn *next = c->next;
        if (now - c->idle_since > SG_UP_IDLE_US)
            conn_close(c);
        c = next;
    }
}

/* ---- transfers ---- */

static void xfer_free(struct sg_upstream_xfer *x)
{
    struct sg_upstream *u = x->u;
    if (x->prev)
        x->prev->next = x->next;
    else
        u->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    u->active--;
    if (x->stall)
        event_free(x->stall);
    if (x->total)
        event_free(x->total);
    sg_buf_free(&x->request);
    sg_upstream_target_unref(x->t);
    free(x);
}

/* Ends the transfer: the connection goes back to the pool when the answer was complete
 * and it may be reused, else it is closed; then on_done is called. */
static void finish(struct sg_upstream_xfer *x, int result, bool aborted, const char *msg)
{
    struct uconn *c = x->c;
    if (c) {
        c->x = NULL;
        x->c = NULL;
        bool reusable = result == 0 && x->keep_alive && !x->close_delimited &&
                        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
        if (reusable)
            idle_put(c);
        else
            conn_close(c);
    }
    char copy[256];
    sg_strlcpy(copy, sizeof(copy), msg ? msg : "", SIZE_MAX);
    struct sg_upstream_callbacks cb = x->cb;
    void *arg = x->arg;
    xfer_free(x);
    cb.on_done(arg, result, aborted, copy);
}

static void arm(struct event *ev, uint32_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static void arm_stall(struct sg_upstream_xfer *x)
{
    if (x->paused)
        return;
    uint32_t ms = x->c && x->c->connected ? x->stall_ms : x->connect_ms;
    if (ms)
        arm(x->stall, ms);
    else
        evtimer_del(x->stall);
}

static bool try_again(struct sg_upstream_xfer *x);

static void on_stall(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sg_upstream_xfer *x = arg;
    char msg[128];
    bool connecting = x->c && !x->c->connected;
    /* a connect that times out moves on to the target's next address, as one that fails
     * does (an address that drops packets, like a broken IPv6 route listed first) */
    if (connecting && x->c->addr + 1 < x->t->naddrs && try_again(x))
        return;
    if (connecting)
        snprintf(msg, sizeof(msg), "connecting to %s timed out after %u ms", x->t->desc,
                 x->connect_ms);
    else
        snprintf(msg, sizeof(msg), "no data from the backend for %u ms", x->stall_ms);
    finish(x, connecting ? SG_EUNAVAIL : SG_ETIMEOUT, false, msg);
}

static void on_total(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, SG_ETIMEOUT, false, "the backend did not finish in time");
}

/* Attaches the transfer to a connection (pooled or new) and writes the request. */
static int attach(struct sg_upstream_xfer *x, int addr, bool allow_idle, struct sg_error *err)
{
    struct uconn *c = allow_idle ? idle_take(x->u, x->t) : NULL;
    if (!c && !(c = conn_new(x->u, x->t, addr, err)))
        return err->code ? err->code : SG_EIO;
    c->x = x;
    x->c = c;
    x->phase = X_HEAD;
    x->got_bytes = false;
    /* (EV_WRITE stays enabled from the connection's creation: enabling it again would add
     * and remove the write event for nothing.) */
    bufferevent_enable(c->bev, EV_READ);
    /* On a connected plaintext connection with nothing queued, write at once; the rest
     * (and everything on new or TLS connections) goes through the bufferevent. */
    const char *p = x->request.data;
    size_t left = x->request.len;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (c->connected && !c->t->tls && evbuffer_get_length(out) == 0) {
        ssize_t w = send(bufferevent_getfd(c->bev), p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            left -= (size_t)w;
        }
    }
    if (left && bufferevent_write(c->bev, p, left) != 0)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    arm_stall(x);
    return 0;
}

/* The connection failed before any answer: resend on a fresh connection when the failure
 * was a stale pooled connection, or try the target's next address. Returns true when the
 * transfer was handled (going on, or finished); false when the caller must report. */
static bool try_again(struct sg_upstream_xfer *x)
{
    struct uconn *c = x->c;
    bool stale = c->reused && !x->got_bytes && !x->retried;
    bool next = !c->connected && c->addr + 1 < x->t->naddrs;
    if (!stale && !next)
        return false;
    int addr = stale ? 0 : c->addr + 1;
    if (stale)
        x->retried = true;
    c->x = NULL;
    x->c = NULL;
    conn_close(c);
    struct sg_error err = {0};
    if (attach(x, addr, false, &err) != 0) {
        if (x->c) {
            x->c->x = NULL;
            conn_close(x->c);
            x->c = NULL;
        }
        finish(x, SG_EUNAVAIL, false, err.msg);
    }
    return true;
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct uconn *c = arg;
    struct sg_upstream_xfer *x = c->x;
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = true;
        if (x)
            arm_stall(x);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (!x) { /* an idle connection was closed by the server */
        conn_close(c);
        return;
    }
    if ((what & BEV_EVENT_EOF) && x->phase == X_BODY && x->close_delimited) {
        /* Deliver what is left; the end of file ends the body. */
        if (!process(x) && !x->paused)
            finish(x, 0, false, NULL);
        return;
    }
    if (try_again(x))
        return;
    char msg[256];
    int result = SG_EPROTO;
    if (!c->connected) {
        result = SG_EUNAVAIL;
        int sockerr = EVUTIL_SOCKET_ERROR();
        unsigned long tls = c->t->tls ? bufferevent_get_openssl_error(bev) : 0;
        SSL *ssl = c->t->tls ? bufferevent_openssl_get_ssl(bev) : NULL;
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (vr == X509_V_ERR_APPLICATION_VERIFICATION && c->t->npins)
            snprintf(msg, sizeof(msg), "TLS key of %s does not match its pin_sha256", c->t->desc);
        else if (vr != X509_V_OK)
            snprintf(msg, sizeof(msg), "TLS certificate of %s not accepted: %s", c->t->desc,
                     X509_verify_cert_error_string(vr));
        else if (tls && ERR_SYSTEM_ERROR(tls))
            snprintf(msg, sizeof(msg), "cannot connect to %s: %s", c->t->desc,
                     strerror(ERR_GET_REASON(tls)));
        else if (tls)
            snprintf(msg, sizeof(msg), "TLS handshake with %s failed: %s", c->t->desc,
                     ERR_reason_error_string(tls) ? ERR_reason_error_string(tls) : "error");
        else
            snprintf(msg, sizeof(msg), "cannot connect to %s: %s", c->t->desc,
                     strerror(sockerr ? sockerr : ECONNREFUSED));
    } else {
        snprintf(msg, sizeof(msg), "the backend closed the connection %s",
                 x->got_bytes ? "before the answer was complete" : "without answering");
    }
    finish(x, result, false, msg);
}

/* Reads the response head; returns 1 when the body phase began (or an interim head was
 * skipped), 0 when more input is needed, -1 when the transfer finished. */
static int read_head(struct sg_upstream_xfer *x, struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0 || (size_t)end.pos + 4 > SG_UP_HEAD_MAX) {
        if (end.pos >= 0 || evbuffer_get_length(in) > SG_UP_HEAD_MAX) {
            finish(x, SG_EPROTO, false, "the backend's response head is too large");
            return -1;
        }
        return 0;
    }
    size_t n = (size_t)end.pos + 4;
    const char *head = (const char *)evbuffer_pullup(in, (ssize_t)n);
    struct sg_http_response_head rh;
    struct sg_error err = {0};
    if (!head || sg_http_parse_response_head(head, n, &rh, &err) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "malformed response from the backend: %s", err.msg);
        finish(x, SG_EPROTO, false, msg);
        return -1;
    }
    char ct[256] = "", ra[32] = "";
    const struct sg_http_header *h;
    if ((h = sg_http_find_header_in(rh.headers, rh.nheaders, "content-type")))
        sg_strlcpy(ct, sizeof(ct), h->value, h->value_len);
    if ((h = sg_http_find_header_in(rh.headers, rh.nheaders, "retry-after")))
        sg_strlcpy(ra, sizeof(ra), h->value, h->value_len);
    evbuffer_drain(in, n);
    if (rh.status < 200)
        return 1; /* an interim answer (100 Continue): the real head follows */
    x->body = rh.body;
    x->remaining = rh.content_length;
    x->close_delimited = rh.close_delimited;
    x->keep_alive = rh.keep_alive;
    memset(&x->chunked, 0, sizeof(x->chunked));
    x->phase = X_BODY;
    if (x->cb.on_status(x->arg, rh.status, ct[0] ? ct : NULL, ra[0] ? ra : NULL) < 0) {
        finish(x, SG_EIO, true, "aborted");
        return -1;
    }
    if (x->body == SG_HTTP_BODY_NONE) {
        finish(x, 0, false, NULL);
        return -1;
    }
    return 1;
}

static int deliver(struct sg_upstream_xfer *x, const char *p, size_t n)
{
    if (n && x->cb.on_data(x->arg, p, n) < 0) {
        finish(x, SG_EIO, true, "aborted");
        return -1;
    }
    return 0;
}

/* Runs the response state machine over the buffered input. Returns true when the
 * transfer finished (and is freed). */
static bool process(struct sg_upstream_xfer *x)
{
    struct evbuffer *in = bufferevent_get_input(x->c->bev);
    while (!x->paused) {
        if (evbuffer_get_length(in) == 0)
            return false;
        x->got_bytes = true;
        if (x->phase == X_HEAD) {
            int r = read_head(x, in);
            if (r < 0)
                return true;
            if (r == 0)
                return false;
            continue;
        }
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            return false;
        if (x->body == SG_HTTP_BODY_CHUNKED) {
            struct sg_buf *s = &x->u->scratch;
            sg_buf_reset(s);
            ssize_t k = sg_http_chunked_feed(&x->chunked, v.iov_base, v.iov_len, s);
            if (k < 0) {
                finish(x, SG_EPROTO, false, "malformed chunked answer from the backend");
                return true;
            }
            evbuffer_drain(in, (size_t)k);
            if (deliver(x, s->data, s->len) < 0)
                return true;
            if (x->chunked.done) {
                finish(x, 0, false, NULL);
                return true;
            }
            continue;
        }
        size_t take = v.iov_len;
        if (!x->close_delimited && take > x->remaining)
            take = (size_t)x->remaining;
        /* Deliver before draining: the callback reads the bytes in place. */
        if (deliver(x, v.iov_base, take) < 0)
            return true;
        evbuffer_drain(in, take);
        if (!x->close_delimited) {
            x->remaining -= take;
            if (x->remaining == 0) {
                finish(x, 0, false, NULL);
                return true;
            }
        }
    }
    return false;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct uconn *c = arg;
    struct sg_upstream_xfer *x = c->x;
    if (!x) {
        conn_close(c); /* bytes on an idle connection: the server broke the protocol */
        return;
    }
    arm_stall(x);
    process(x);
}

int sg_upstream_start(struct sg_upstream *u, const struct sg_upstream_opts *o,
                      const struct sg_upstream_callbacks *cb, void *arg,
                      struct sg_upstream_xfer **out, struct sg_error *err)
{
    struct sg_upstream_xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    x->u = u;
    x->cb = *cb;
    x->arg = arg;
    x->t = (struct sg_upstream_target *)o->target;
    sg_upstream_target_ref(x->t);
    x->connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 5000;
    x->stall_ms = o->stall_timeout_ms;
    x->next = u->xfers;
    if (u->xfers)
        u->xfers->prev = x;
    u->xfers = x;
    u->active++;
    bool post = !o->method || strcmp(o->method, "GET") != 0;
    /* The whole request in one buffer: one write, and kept for a resend. */
    sg_buf_init(&x->request, (size_t)1 << 31);
    int rc = sg_buf_reserve(&x->request, 512 + strlen(x->t->prefix) + strlen(o->path) +
                                             (o->headers ? o->headers->len : 0) + o->body_len);
    rc = rc ? rc : sg_buf_puts(&x->request, post ? "POST " : "GET ");
    rc = rc ? rc : sg_buf_puts(&x->request, x->t->prefix);
    rc = rc ? rc : sg_buf_puts(&x->request, o->path);
    rc = rc ? rc : sg_buf_puts(&x->request, " HTTP/1.1\r\nHost: ");
    rc = rc ? rc : sg_buf_puts(&x->request, x->t->host_header);
    rc = rc ? rc : sg_buf_puts(&x->request, "\r\n");
    if (o->headers)
        rc = rc ? rc : sg_buf_append(&x->request, o->headers->block, o->headers->len);
    if (post) {
        rc = rc ? rc
                : sg_buf_puts(&x->request, "Content-Type: application/json\r\nContent-Length: ");
        rc = rc ? rc : sg_buf_put_u64(&x->request, o->body_len);
        rc = rc ? rc : sg_buf_puts(&x->request, "\r\n\r\n");
        rc = rc ? rc : sg_buf_append(&x->request, o->body, o->body_len);
    } else {
        rc = rc ? rc : sg_buf_puts(&x->request, "\r\n");
    }
    x->stall = evtimer_new(u->base, on_stall, x);
    if (o->total_timeout_ms && (x->total = evtimer_new(u->base, on_total, x)))
        arm(x->total, o->total_timeout_ms);
    if (rc || !x->stall || (o->total_timeout_ms && !x->total)) {
        xfer_free(x);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    if ((rc = attach(x, 0, true, err)) != 0) {
        if (x->c) {
            x->c->x = NULL;
            conn_close(x->c);
        }
        xfer_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

void sg_upstream_pause(struct sg_upstream_xfer *x)
{
    if (x->paused || !x->c)
        return;
    x->paused = true;
    evtimer_del(x->stall); /* a slow client is not a stalled backend */
    bufferevent_disable(x->c->bev, EV_READ);
}

void sg_upstream_resume(struct sg_upstream_xfer *x)
{
    if (!x->paused || !x->c)
        return;
    x->paused = false;
    arm_stall(x);
    bufferevent_enable(x->c->bev, EV_READ);
    /* Buffered bytes are delivered from the loop, never from inside this call. */
    if (evbuffer_get_length(bufferevent_get_input(x->c->bev)))
        bufferevent_trigger(x->c->bev, EV_READ,
                            BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void sg_upstream_cancel(struct sg_upstream_xfer *x)
{
    if (x->c) {
        x->c->x = NULL;
        conn_close(x->c); /* mid-answer: the connection cannot be reused */
        x->c = NULL;
    }
    xfer_free(x);
}

size_t sg_upstream_active(const struct sg_upstream *u)
{
    return u->active;
}

size_t sg_upstream_idle(const struct sg_upstream *u)
{
    return u->nidle;
}

struct sg_upstream *sg_upstream_new(struct event_base *base)
{
    struct sg_upstream *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->base = base;
    sg_buf_init(&u->scratch, 1u << 20);
    u->sweep = event_new(base, -1, EV_PERSIST, on_sweep, u);
    if (!u->sweep) {
        free(u);
        return NULL;
    }
    arm(u->sweep, 5000);
    return u;
}

void sg_upstream_free(struct sg_upstream *u)
{
    if (!u)
        return;
    while (u->xfers)
        sg_upstream_cancel(u->xfers);
    while (u->idle)
        conn_close(u->idle);
    event_free(u->sweep);
    sg_buf_free(&u->scratch);
    free(u);
}
