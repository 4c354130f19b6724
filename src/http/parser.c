/* Strict HTTP/1.1 request head parser and chunked body decoder. */
#include "http/parser.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_vchar_or_obs(unsigned char c)
{
    return (c >= 0x21 && c != 0x7f);
}

bool sg_http_ieq(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];
        if (!b)
            return false;
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a + 32);
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b + 32);
        if (a != b)
            return false;
    }
    return lit[i] == '\0';
}

const struct sg_http_header *sg_http_find_header_in(const struct sg_http_header *hs, size_t n,
                                                    const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (sg_http_ieq(hs[i].name, hs[i].name_len, name))
            return &hs[i];
    return NULL;
}

const struct sg_http_header *sg_http_find_header(const struct sg_http_head *h, const char *name)
{
    return sg_http_find_header_in(h->headers, h->nheaders, name);
}

static int fail(int *status, int code, struct sg_error *err, const char *msg)
{
    *status = code;
    sg_error_set(err, SG_EPROTO, "%s", msg);
    return SG_EPROTO;
}

/* Finds the end of the line starting at `p`: returns the index of its CR, which must be
 * followed by LF; -1 on a bare LF or CR or when no CRLF is found before `end`. */
static ptrdiff_t line_end(const char *p, const char *end)
{
    for (const char *q = p; q < end; q++) {
        if (*q == '\r')
            return (q + 1 < end && q[1] == '\n') ? q - p : -1;
        if (*q == '\n')
            return -1;
    }
    return -1;
}

/* Walks a comma-separated token list, calling back for each trimmed element. */
static void each_token(const char *v, size_t n, void (*cb)(void *, const char *, size_t), void *arg)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s)
            cb(arg, v + s, e - s);
        i++;
    }
}

struct conn_flags {
    bool close, keep_alive;
};

static void conn_token(void *arg, const char *t, size_t n)
{
    struct conn_flags *f = arg;
    if (sg_http_ieq(t, n, "close"))
        f->close = true;
    else if (sg_http_ieq(t, n, "keep-alive"))
        f->keep_alive = true;
}

/* RFC 3986 unreserved: the characters of a DNS name or an IPv4 address (and '_', '~'). */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool is_scheme_char(unsigned char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

/* Checks the authority of an absolute-form target: host [ ":" port ], the host a name or
 * IPv4 address of unreserved characters or an IPv6 literal in brackets, the port at most
 * 65535 (empty means the scheme's default, RFC 3986 3.2.3). Userinfo was refused before.
 * Returns NULL or the reason to refuse. */
static const char *check_authority(const char *a, size_t n)
{
    const char *end = a + n, *h = a;
    if (n == 0)
        return "missing host in request target";
    if (*h == '[') {
        const char *rb = memchr(h, ']', n);
        char lit[INET6_ADDRSTRLEN];
        struct in6_addr addr;
        size_t l = rb ? (size_t)(rb - h - 1) : 0;
        if (!rb || l == 0 || l >= sizeof(lit))
            return "invalid IPv6 address in request target";
        memcpy(lit, h + 1, l);
        lit[l] = '\0';
        if (inet_pton(AF_INET6, lit, &addr) != 1) /* also refuses zone ids, IPvFuture */
            return "invalid IPv6 address in request target";
        h = rb + 1;
    } else {
        while (h < end && *h != ':') {
            if (!is_unreserved((unsigned char)*h))
                return "invalid host in request target";
            h++;
        }
        if (h == a)
            return "missing host in request target";
    }
    if (h == end)
        return NULL;
    if (*h != ':')
        return "invalid host in request target";
    unsigned port = 0;
    for (h++; h < end; h++) {
        if (*h < '0' || *h > '9')
            return "invalid port in request target";
        port = port * 10 + (unsigned)(*h - '0');
        if (port > 65535)
            return "invalid port in request target";
    }
    return NULL;
}

/* Parses the request-target `t` (`n` bytes, all visible ASCII) into `out`: origin-form
 * (RFC 9112 3.2.1), or absolute-form (3.2.2) with scheme http or https, whose path and
 * query are then exactly those of the equivalent origin-form target. Returns NULL or the
 * reason to refuse: a fragment, another scheme, a missing or malformed authority, userinfo
 * (credentials would reach logs), the authority-form and the asterisk-form. */
static const char *parse_target(const char *t, size_t n, struct sg_http_head *out)
{
    const char *end = t + n, *p = t;
    if (memchr(t, '#', n))
        return "fragment in request target";
    out->target = t;
    out->target_len = n;
    if (*t != '/') {
        if (n == 1 && *t == '*')
            return "asterisk-form request target is not supported";
        if (sg_http_ieq(out->method, out->method_len, "CONNECT"))
            return "CONNECT (authority-form request target) is not supported";
        /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
        while (p < end && is_scheme_char((unsigned char)*p, p == t))
            p++;
        if (p == t || p == end || *p != ':')
            return "request target must be an absolute path or an http(s) URI";
        bool http =
            sg_http_ieq(t, (size_t)(p - t), "http") || sg_http_ieq(t, (size_t)(p - t), "https");
        bool slashes = end - p >= 3 && p[1] == '/' && p[2] == '/';
        if (!http)
            return slashes ? "unsupported URI scheme in request target (only http and https)"
                           : "request target must be an absolute path or an http(s) URI";
        if (!slashes)
            return "missing authority in request target";
        const char *a = p + 3;
        p = a;
        while (p < end && *p != '/' && *p != '?')
            p++;
        if (memchr(a, '@', (size_t)(p - a)))
            return "userinfo in request target is not allowed";
        const char *why = check_authority(a, (size_t)(p - a));
        if (why)
            return why;
        out->authority = a;
        out->authority_len = (size_t)(p - a);
    }
    const char *q = memchr(p, '?', (size_t)(end - p));
    out->path = p;
    out->path_len = (size_t)((q ? q : end) - p);
    if (out->path_len == 0) {
        out->path = "/"; /* an absolute-form target's empty path (RFC 9112 3.2.2) */
        out->path_len = 1;
    }
    if (q) {
        out->query = q + 1;
        out->query_len = (size_t)(end - q - 1);
    }
    return NULL;
}

int sg_http_parse_head(const char *buf, size_t n, struct sg_http_head *out, int *status,
                       struct sg_error *err)
{
    const char *p = buf, *end = buf + n;
    memset(out, 0, sizeof(*out));
    *status = 0;

    /* RFC 9112 2.2: ignore empty lines before the request line. */
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;

    ptrdiff_t ll = line_end(p, end);
    if (ll <= 0)
        return fail(status, 400, err, "malformed request line");
    const char *le = p + ll;

    /* method */
    const char *m = p;
    while (p < le && is_tchar((unsigned char)*p))
        p++;
    if (p == m || p >= le || *p != ' ')
        return fail(status, 400, err, "malformed request method");
    out->method = m;
    out->method_len = (size_t)(p - m);
    p++;

    /* request-target: origin-form or absolute-form */
    const char *t = p;
    while (p < le && *p != ' ') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x21 || c > 0x7e)
            return fail(status, 400, err, "invalid character in request target");
        p++;
    }
    if (p == t || p >= le)
        return fail(status, 400, err, "malformed request target");
    const char *why = parse_target(t, (size_t)(p - t), out);
    if (why)
        return fail(status, 400, err, why);
    p++;

    /* HTTP-version */
    size_t vlen = (size_t)(le - p);
    if (vlen != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
        p[7] < '0' || p[7] > '9')
        return fail(status, 400, err, "malformed HTTP version");
    if (p[5] != '1')
        return fail(status, 505, err, "HTTP version not supported");
    out->minor = p[7] - '0';
    if (out->minor > 1)
        out->minor = 1; /* HTTP/1.x with x > 1: treat as 1.1 (RFC 9110 2.5) */
    p = le + 2;

    /* header fields */
    int ncl = 0, nte = 0, nhost = 0;
    bool te_chunked = false;
    struct conn_flags cf = {false, false};
    for (;;) {
        ll = line_end(p, end);
        if (ll < 0)
            return fail(status, 400, err, "malformed header line");
        if (ll == 0)
            break;
        le = p + ll;
        if (*p == ' ' || *p == '\t')
            return fail(status, 400, err, "obsolete header line folding is not allowed");
        const char *name = p;
        while (p < le && is_tchar((unsigned char)*p))
            p++;
        if (p == name || p >= le || *p != ':')
            return fail(status, 400, err, "malformed header field name");
        size_t name_len = (size_t)(p - name);
        p++;
        while (p < le && (*p == ' ' || *p == '\t'))
            p++;
        const char *val = p, *vend = p;
        for (; p < le; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == ' ' || c == '\t')
                continue;
            if (!is_vchar_or_obs(c))
                return fail(status, 400, err, "invalid character in header field value");
            vend = p + 1;
        }
        if (out->nheaders == SG_HTTP_MAX_HEADERS)
            return fail(status, 431, err, "too many header fields");
        struct sg_http_header *h = &out->headers[out->nheaders++];
        h->name = name;
        h->name_len = name_len;
        h->value = val;
        h->value_len = (size_t)(vend - val);

        if (sg_http_ieq(name, name_len, "content-length")) {
            if (++ncl > 1)
                return fail(status, 400, err, "duplicate Content-Length");
            if (h->value_len == 0)
                return fail(status, 400, err, "invalid Content-Length");
            uint64_t v = 0;
            for (size_t i = 0; i < h->value_len; i++) {
                unsigned char c = (unsigned char)val[i];
                if (c < '0' || c > '9')
                    return fail(status, 400, err, "invalid Content-Length");
                if (v > (UINT64_MAX - 9) / 10)
                    return fail(status, 413, err, "Content-Length too large");
                v = v * 10 + (c - '0');
            }
            out->content_length = v;
        } else if (sg_http_ieq(name, name_len, "transfer-encoding")) {
            if (++nte > 1)
                return fail(status, 400, err, "duplicate Transfer-Encoding");
            if (!sg_http_ieq(val, h->value_len, "chunked"))
                return fail(status, 501, err, "only the chunked transfer coding is supported");
            te_chunked = true;
        } else if (sg_http_ieq(name, name_len, "host")) {
            if (++nhost > 1)
                return fail(status, 400, err, "duplicate Host");
        } else if (sg_http_ieq(name, name_len, "connection")) {
            each_token(val, h->value_len, conn_token, &cf);
        } else if (sg_http_ieq(name, name_len, "expect") && out->minor == 1) {
            /* An HTTP/1.0 request's Expect is ignored (RFC 9110 10.1.1): its client could
             * not read an interim 100 response. */
            if (!sg_http_ieq(val, h->value_len, "100-continue"))
                return fail(status, 417, err, "unsupported expectation");
            out->expect_continue = true;
        }
        p = le + 2;
    }
    if (p + 2 != end)
        return fail(status, 400, err, "malformed request head");

    if (te_chunked && ncl)
        return fail(status, 400, err, "both Content-Length and Transfer-Encoding");
    if (te_chunked && out->minor == 0)
        return fail(status, 400, err, "Transfer-Encoding in an HTTP/1.0 request");
    if (out->minor == 1 && nhost == 0)
        return fail(status, 400, err, "missing Host header");
    out->body = te_chunked ? SG_HTTP_BODY_CHUNKED : ncl ? SG_HTTP_BODY_LENGTH : SG_HTTP_BODY_NONE;
    if (out->body == SG_HTTP_BODY_LENGTH && out->content_length == 0)
        out->body = SG_HTTP_BODY_NONE;
    out->keep_alive = out->minor == 1 ? !cf.close : (cf.keep_alive && !cf.close);
    return 0;
}

/* Chunked decoder states. */
enum {
    CH_SIZE = 0, /* hex digits of the chunk size */
    CH_SIZE_WS,  /* whitespace after the size: only ";" or CR may follow */
    CH_EXT,      /* chunk extension up to CR */
    CH_SIZE_LF,  /* LF after the size line's CR */
    CH_DATA,
    CH_DATA_CR, /* CR after chunk data */
    CH_DATA_LF,
    CH_TRAILER,      /* start of a trailer line (or the final CRLF) */
    CH_TRAILER_NAME, /* inside a trailer field name */
    CH_TRAILER_IN,   /* inside a trailer field value */
    CH_TRAILER_LF,   /* LF ending a trailer line */
    CH_END_LF,       /* LF of the final empty line */
    CH_DONE
};

#define SG_CHUNK_LINE_MAX 4096
/* What a chunk extension or a trailer field value may hold: SP, HTAB, VCHAR and obs-text
 * (quoted strings included); other control bytes are refused as in the head. */
static bool chunk_meta_ok(unsigned char c)
{
    return c == ' ' || c == '\t' || is_vchar_or_obs(c);
}

/* Counts one byte of an extension or trailer line: true when the line, or all of them
 * together (where the caller set a bound), are too long. */
static bool chunk_meta_over(struct sg_http_chunked *c)
{
    c->meta_len++;
    return ++c->line_len > SG_CHUNK_LINE_MAX || (c->meta_max && c->meta_len > c->meta_max);
}

ssize_t sg_http_chunked_feed(struct sg_http_chunked *c, const char *in, size_t n,
                             struct sg_buf *out)
{
    size_t i = 0;
    while (i < n && c->state != CH_DONE) {
        unsigned char ch = (unsigned char)in[i];
        switch (c->state) {
        case CH_SIZE: {
            int v = -1;
            if (ch >= '0' && ch <= '9')
                v = ch - '0';
            else if (ch >= 'a' && ch <= 'f')
                v = ch - 'a' + 10;
            else if (ch >= 'A' && ch <= 'F')
                v = ch - 'A' + 10;
            if (v >= 0) {
                /* at most 15 significant digits (leading zeros are legal and do not count),
                 * and a size line of at most 64 */
                if (++c->digits > 64 || c->remaining >> 56)
                    return SG_ETOOBIG;
                c->remaining = c->remaining << 4 | (uint64_t)v;
                i++;
                break;
            }
            if (c->digits == 0)
                return SG_EPROTO;
            c->line_len = 0;
            c->state = CH_SIZE_WS; /* the same byte again, as what follows the size */
            break;
        }
        case CH_SIZE_WS:
            /* chunk-ext = *( BWS ";" ... ): after the size and whitespace comes ";" or
             * the line end, nothing else ("1 2" is not a size) */
            if (ch == ';') {
                c->state = CH_EXT;
            } else if (ch == ' ' || ch == '\t') {
                c->state = CH_SIZE_WS;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
                i++;
                break;
            } else {
                return SG_EPROTO;
            }
            if (chunk_meta_over(c))
                return SG_ETOOBIG;
            i++;
            break;
        case CH_EXT:
            if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else if (!chunk_meta_ok(ch)) {
                return SG_EPROTO;
            } else if (chunk_meta_over(c)) {
                return SG_ETOOBIG;
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return SG_EPROTO;
            i++;
            c->digits = 0;
            c->state = c->remaining ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t take = n - i;
            if (take > c->remaining)
                take = (size_t)c->remaining;
            int rc = sg_buf_append(out, in + i, take);
            if (rc)
                return rc;
            i += take;
            c->remaining -= take;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (ch != '\r')
                return SG_EPROTO;
            c->state = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return SG_EPROTO;
            c->state = CH_SIZE;
            i++;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_END_LF;
            } else if (is_tchar(ch)) {
                c->state = CH_TRAILER_NAME;
                c->line_len = 0;
                break; /* counted and consumed as part of the name */
            } else {
                return SG_EPROTO;
            }
            i++;
            break;
        case CH_TRAILER_NAME:
        case CH_TRAILER_IN:
            /* Trailer fields are read and discarded (never merged into the head), but must
             * still be fields: a token, a colon, a value without control bytes. */
            if (ch == '\r' && c->state == CH_TRAILER_IN)
                c->state = CH_TRAILER_LF;
            else if (c->state == CH_TRAILER_NAME && ch == ':')
                c->state = CH_TRAILER_IN;
            else if (c->state == CH_TRAILER_NAME ? !is_tchar(ch) : !chunk_meta_ok(ch))
                return SG_EPROTO;
            if (ch != '\r' && chunk_meta_over(c))
                return SG_ETOOBIG;
            i++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n')
                return SG_EPROTO;
            c->state = CH_TRAILER;
            i++;
            break;
        case CH_END_LF:
            if (ch != '\n')
                return SG_EPROTO;
            c->state = CH_DONE;
            c->done = true;
            i++;
            break;
        default:
            return SG_EPROTO;
        }
    }
    return (ssize_t)i;
}

/* ---- responses ---- */

static int rfail(struct sg_error *err, const char *msg)
{
    sg_error_set(err, SG_EPROTO, "%s", msg);
    return SG_EPROTO;
}

int sg_http_parse_response_head(const char *buf, size_t n, struct sg_http_response_head *out,
                                struct sg_error *err)
{
    const char *p = buf, *end = buf + n;
    memset(out, 0, sizeof(*out));
    ptrdiff_t ll = line_end(p, end);
    /* "HTTP/1.x SSS" followed by a space and a reason (possibly empty) or the line end */
    if (ll < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return rfail(err, "malformed status line");
    out->minor = p[7] - '0';
    for (int i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9')
            return rfail(err, "malformed status code");
    out->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (out->status < 100 || (ll > 12 && p[12] != ' '))
        return rfail(err, "malformed status line");
    p += ll + 2;
    int ncl = 0, nte = 0;
    bool chunked = false;
    struct conn_flags cf = {false, false};
    for (;;) {
        ll = line_end(p, end);
        if (ll < 0)
            return rfail(err, "malformed header line");
        if (ll == 0)
            break;
        const char *le = p + ll;
        if (*p == ' ' || *p == '\t')
            return rfail(err, "obsolete header line folding");
        const char *name = p;
        while (p < le && is_tchar((unsigned char)*p))
            p++;
        if (p == name || p >= le || *p != ':')
            return rfail(err, "malformed header field name");
        size_t name_len = (size_t)(p - name);
        p++;
        while (p < le && (*p == ' ' || *p == '\t'))
            p++;
        const char *val = p, *vend = p;
        for (; p < le; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == ' ' || c == '\t')
                continue;
            if (!is_vchar_or_obs(c))
                return rfail(err, "invalid character in header field value");
            vend = p + 1;
        }
        if (out->nheaders == SG_HTTP_MAX_HEADERS)
            return rfail(err, "too many header fields");
        struct sg_http_header *h = &out->headers[out->nheaders++];
        *h = (struct sg_http_header){name, name_len, val, (size_t)(vend - val)};
        if (sg_http_ieq(name, name_len, "content-length")) {
            if (++ncl > 1 || h->value_len == 0 || h->value_len > 18)
                return rfail(err, "invalid Content-Length");
            uint64_t v = 0;
            for (size_t i = 0; i < h->value_len; i++) {
                if (val[i] < '0' || val[i] > '9')
                    return rfail(err, "invalid Content-Length");
                v = v * 10 + (uint64_t)(val[i] - '0');
            }
            out->content_length = v;
        } else if (sg_http_ieq(name, name_len, "transfer-encoding")) {
            if (++nte > 1 || !sg_http_ieq(val, h->value_len, "chunked"))
                return rfail(err, "unsupported Transfer-Encoding");
            chunked = true;
        } else if (sg_http_ieq(name, name_len, "connection")) {
            each_token(val, h->value_len, conn_token, &cf);
        }
        p = le + 2;
    }
    if (p + 2 != end)
        return rfail(err, "malformed response head");
    if (chunked && ncl)
        return rfail(err, "both Content-Length and Transfer-Encoding");
    out->keep_alive = out->minor == 1 ? !cf.close : (cf.keep_alive && !cf.close);
    if (out->status < 200 || out->status == 204 || out->status == 304) {
        out->body = SG_HTTP_BODY_NONE;
    } else if (chunked) {
        out->body = SG_HTTP_BODY_CHUNKED;
        /* chunked framing in an HTTP/1.0 answer is faulty (RFC 9112, 6.1): read it, but do
         * not trust the connection with another request */
        if (out->minor == 0)
            out->keep_alive = false;
    } else if (ncl) {
        out->body = out->content_length ? SG_HTTP_BODY_LENGTH : SG_HTTP_BODY_NONE;
    } else {
        out->body = SG_HTTP_BODY_LENGTH;
        out->close_delimited = true;
        out->keep_alive = false;
    }
    return 0;
}
