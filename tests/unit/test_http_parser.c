/* Unit tests of the strict HTTP/1.1 request parser and the chunked body decoder,
 * including the request smuggling shapes the parser must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/parser.h"
#include "http/server.h"

static int parse(const char *s, struct sg_http_head *h, int *status)
{
    struct sg_error err = {0};
    return sg_http_parse_head(s, strlen(s), h, status, &err);
}

/* Expects the head to be refused with `code`. */
static void refused(const char *s, int code)
{
    struct sg_http_head h;
    int status = 0;
    assert_int_equal(parse(s, &h, &status), SG_EPROTO);
    assert_int_equal(status, code);
}

static void test_simple_get(void **state)
{
    (void)state;
    struct sg_http_head h;
    int status;
    assert_int_equal(
        parse("GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nX-Thing:  v a l  \r\n\r\n", &h, &status),
        0);
    assert_true(sg_http_ieq(h.method, h.method_len, "GET"));
    assert_int_equal(h.path_len, strlen("/v1/models"));
    assert_memory_equal(h.path, "/v1/models", h.path_len);
    assert_int_equal(h.target_len, strlen("/v1/models?x=1"));
    assert_int_equal(h.minor, 1);
    assert_true(h.keep_alive);
    assert_int_equal(h.body, SG_HTTP_BODY_NONE);
    const struct sg_http_header *x = sg_http_find_header(&h, "x-thing");
    assert_non_null(x);
    /* Surrounding whitespace trimmed, inner whitespace kept. */
    assert_int_equal(x->value_len, 5);
    assert_memory_equal(x->value, "v a l", 5);
}

static void test_post_content_length(void **state)
{
    (void)state;
    struct sg_http_head h;
    int status;
    assert_int_equal(parse("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"
                           "Content-Length: 42\r\nConnection: close\r\n\r\n",
                           &h, &status),
                     0);
    assert_int_equal(h.body, SG_HTTP_BODY_LENGTH);
    assert_int_equal(h.content_length, 42);
    assert_false(h.keep_alive);
}

static void test_http10_keepalive(void **state)
{
    (void)state;
    struct sg_http_head h;
    int status;
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &h, &status), 0);
    assert_false(h.keep_alive); /* 1.0 defaults to close, and needs no Host */
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h, &status), 0);
    assert_true(h.keep_alive);
    assert_int_equal(
        parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &h, &status), 0);
    assert_false(h.keep_alive);
}

static void test_chunked_head(void **state)
{
    (void)state;
    struct sg_http_head h;
    int status;
    assert_int_equal(
        parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &h, &status), 0);
    assert_int_equal(h.body, SG_HTTP_BODY_CHUNKED);
}

static void test_leading_crlf_ignored(void **state)
{
    (void)state;
    struct sg_http_head h;
    int status;
    assert_int_equal(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &h, &status), 0);
}

static void test_expect(void **state)
{
    (void)state;
    struct sg_http_head h;
    int status;
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                           "Expect: 100-continue\r\n\r\n",
                           &h, &status),
                     0);
    assert_true(h.expect_continue);
    refused("POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417);
    /* An HTTP/1.0 client knows no expectations: the field is ignored (RFC 9110 10.1.1),
     * neither refused with 417 nor answered with an interim 100 it cannot read. */
    assert_int_equal(
        parse("POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", &h, &status),
        0);
    assert_false(h.expect_continue);
    assert_int_equal(parse("GET / HTTP/1.0\r\nExpect: something\r\n\r\n", &h, &status), 0);
}

static void test_smuggling_refused(void **state)
{
    (void)state;
    /* CL.TE and TE.CL: both framings at once */
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
            400);
    /* duplicate and list-valued Content-Length, even when equal */
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400);
    /* codings other than chunked, duplicate TE, TE in HTTP/1.0 */
    refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
            "chunked\r\n\r\n",
            400);
    refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    /* whitespace before the colon, obsolete folding */
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400);
    /* bare LF and bare CR line ends */
    refused("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400);
    /* a Content-Length that does not fit 64 bits */
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413);
}

static void test_malformed(void **state)
{
    (void)state;
    refused("GET / HTTP/1.1\r\n\r\n", 400);                       /* no Host */
    refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400); /* two Hosts */
    refused("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);           /* double space */
    refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    refused("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400);
    refused("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* not a token */
    refused("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a\r\nX-Y: a\x01b\r\n\r\n", 400); /* control char */
    refused("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
    /* a NUL byte inside a header value */
    static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    struct sg_http_head h;
    int status;
    struct sg_error err = {0};
    assert_int_equal(sg_http_parse_head(nul, sizeof(nul) - 1, &h, &status, &err), SG_EPROTO);
    assert_int_equal(status, 400);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    char buf[8192];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < SG_HTTP_MAX_HEADERS; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "X-%d: y\r\n", i);
    snprintf(buf + o, sizeof(buf) - o, "\r\n");
    refused(buf, 431);
}

/* ---- absolute-form request targets (RFC 9112 3.2.2) ---- */

/* Parses "METHOD target HTTP/1.1" with a Host field; returns 0 or SG_EPROTO. */
static int parse_target(const char *method, const char *target, struct sg_http_head *h, char *buf,
                        size_t cap, struct sg_error *err)
{
    int status = 0;
    int n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: ignored.example\r\n\r\n", method, target);
    assert_true(n > 0 && (size_t)n < cap);
    int rc = sg_http_parse_head(buf, (size_t)n, h, &status, err);
    if (rc != 0)
        assert_int_equal(status, 400);
    return rc;
}

static void check_absolute(const char *target, const char *authority, const char *origin)
{
    char b1[512], b2[512];
    struct sg_http_head a, o;
    struct sg_error err = {0};
    if (parse_target("POST", target, &a, b1, sizeof(b1), &err) != 0)
        fail_msg("%s refused: %s", target, err.msg);
    assert_int_equal(parse_target("POST", origin, &o, b2, sizeof(b2), &err), 0);
    /* the target is kept as received */
    assert_int_equal(a.target_len, strlen(target));
    assert_memory_equal(a.target, target, a.target_len);
    assert_non_null(a.authority);
    assert_int_equal(a.authority_len, strlen(authority));
    assert_memory_equal(a.authority, authority, a.authority_len);
    assert_null(o.authority);
    /* path and query exactly those of the origin-form request */
    assert_int_equal(a.path_len, o.path_len);
    assert_memory_equal(a.path, o.path, a.path_len);
    assert_int_equal(a.query == NULL, o.query == NULL);
    assert_int_equal(a.query_len, o.query_len);
    if (a.query)
        assert_memory_equal(a.query, o.query, a.query_len);
}

static void test_absolute_form(void **state)
{
    (void)state;
    check_absolute("http://gateway.example:8443/v1/chat/completions", "gateway.example:8443",
                   "/v1/chat/completions");
    check_absolute("https://gateway.example/v1/models?x=1&key=k", "gateway.example",
                   "/v1/models?x=1&key=k");
    check_absolute("HTTP://h", "h", "/"); /* the scheme is case-insensitive */
    check_absolute("HtTpS://H.example/v1/models", "H.example", "/v1/models");
    check_absolute("http://h?x=1", "h", "/?x=1"); /* empty path: "/" */
    check_absolute("http://h?", "h", "/?");
    check_absolute("http://h/", "h", "/");
    check_absolute("http://127.0.0.1:80/v1/embeddings", "127.0.0.1:80", "/v1/embeddings");
    check_absolute("http://[::1]:8443/v1/models", "[::1]:8443", "/v1/models");
    check_absolute("http://[2001:db8::ffff:192.0.2.1]/healthz", "[2001:db8::ffff:192.0.2.1]",
                   "/healthz");
    check_absolute("http://h:/v1/models", "h:", "/v1/models"); /* empty port: the default */
    check_absolute("http://h:65535/", "h:65535", "/");
    check_absolute("http://h:00080/", "h:00080", "/");
    check_absolute("http://my-host_1.example~/a@b/c", "my-host_1.example~", "/a@b/c");
    /* the path is taken as it is: no normalization, so it routes (or 404s) exactly as the
     * origin-form target would */
    check_absolute("http://x/..//v1/models", "x", "/..//v1/models");
    check_absolute("http://x//v1/models", "x", "//v1/models");
    check_absolute("http://x/v1/%6dodels", "x", "/v1/%6dodels");
    check_absolute("http://x/v1beta/models/m:generateContent?key=K&alt=sse", "x",
                   "/v1beta/models/m:generateContent?key=K&alt=sse");

    /* the Host field is still required in HTTP/1.1 (RFC 9112 3.2), but its value is not
     * used; HTTP/1.0 needs none */
    struct sg_http_head h;
    int status;
    refused("GET http://h/v1/models HTTP/1.1\r\n\r\n", 400);
    refused("GET http://h/v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_int_equal(parse("GET http://h/healthz HTTP/1.0\r\n\r\n", &h, &status), 0);
    assert_memory_equal(h.path, "/healthz", h.path_len);
    assert_int_equal(parse("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", &h, &status), 0);
    assert_null(h.authority);
    assert_null(h.query);
}

static void absolute_refused(const char *target, const char *why)
{
    char buf[512];
    struct sg_http_head h;
    struct sg_error err = {0};
    if (parse_target("GET", target, &h, buf, sizeof(buf), &err) == 0)
        fail_msg("%s accepted", target);
    if (!strstr(err.msg, why))
        fail_msg("%s: \"%s\", not \"%s\"", target, err.msg, why);
    /* the message names the problem, never the client's bytes */
    assert_null(strstr(err.msg, "pw"));
    assert_null(strstr(err.msg, "evil"));
}

static void test_absolute_form_refused(void **state)
{
    (void)state;
    absolute_refused("ftp://h/v1/models", "scheme");
    absolute_refused("ws://h/v1/models", "scheme");
    absolute_refused("httpx://h/", "scheme");
    absolute_refused("file:///etc/passwd", "scheme");
    absolute_refused("mailto:evil@example.com", "absolute path");
    absolute_refused("urn:x:y", "absolute path");
    absolute_refused("1http://h/", "absolute path");
    absolute_refused("v1/models", "absolute path");
    absolute_refused("h:443", "absolute path"); /* authority-form outside CONNECT */
    absolute_refused("*", "asterisk");
    absolute_refused("http://user:pw@h/v1/models", "userinfo");
    absolute_refused("http://user@h/", "userinfo");
    absolute_refused("http://@h/", "userinfo");
    absolute_refused("http://evil@", "userinfo");
    absolute_refused("http:/v1/models", "missing authority");
    absolute_refused("http:v1/models", "missing authority");
    absolute_refused("http:", "missing authority");
    absolute_refused("http:/", "missing authority");
    absolute_refused("http:///v1/models", "missing host");
    absolute_refused("http://", "missing host");
    absolute_refused("http://?x", "missing host");
    absolute_refused("http://:80/", "missing host");
    absolute_refused("http://h:99999999/", "port");
    absolute_refused("http://h:65536/", "port");
    absolute_refused("http://h:18446744073709551617/", "port");
    absolute_refused("http://h:-1/", "port");
    absolute_refused("http://h:80:90/", "port");
    absolute_refused("http://h:8o/", "port");
    absolute_refused("http://[::1/", "IPv6");
    absolute_refused("http://[::1", "IPv6");
    absolute_refused("http://[]/", "IPv6");
    absolute_refused("http://[::1]x/", "host");
    absolute_refused("http://[::1]]/", "host");
    absolute_refused("http://[fe80::1%25eth0]/", "IPv6"); /* zone id */
    absolute_refused("http://[v1.fe]/", "IPv6");          /* IPvFuture */
    absolute_refused("http://[1.2.3.4]/", "IPv6");
    absolute_refused("http://[gggg::1]/", "IPv6");
    absolute_refused("http://[::1]evil/", "host");
    absolute_refused("http://h%2fevil/", "host");
    absolute_refused("http://h\\evil/", "host");
    absolute_refused("http://h;evil/", "host");
    absolute_refused("http://h,evil/", "host");
    absolute_refused("http://h/v1/models#frag", "fragment");
    absolute_refused("http://h#/v1/models", "fragment");
    absolute_refused("/v1/models#frag", "fragment");

    /* authority-form (CONNECT) and asterisk-form are not served */
    refused("CONNECT gateway.example:443 HTTP/1.1\r\nHost: gateway.example:443\r\n\r\n", 400);
    refused("CONNECT http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    /* control characters, spaces and non-ASCII bytes anywhere in the target */
    refused("GET http://h/v1/\x01models HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET http://h\x7f/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET http://h\xc3\xa4/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET http://h /v1/models HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET http://h/v1/models\tx HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    static const char nul[] = "GET http://h\0/v1/models HTTP/1.1\r\nHost: h\r\n\r\n";
    struct sg_http_head h;
    int status;
    struct sg_error err = {0};
    assert_int_equal(sg_http_parse_head(nul, sizeof(nul) - 1, &h, &status, &err), SG_EPROTO);
    assert_int_equal(status, 400);
}

/* Every accepted target keeps the invariants routing relies on, whatever byte is put at
 * whatever place of an absolute-form target (and wherever it is cut). */
static void check_invariants(const char *buf, size_t n, const struct sg_http_head *h)
{
    const char *end = buf + n;
    assert_true(h->target >= buf && h->target + h->target_len <= end);
    assert_true(h->path_len > 0 && h->path[0] == '/');
    assert_true((h->path >= h->target && h->path + h->path_len <= h->target + h->target_len) ||
                (h->authority && h->path_len == 1));
    assert_null(memchr(h->path, '?', h->path_len));
    assert_null(memchr(h->target, '#', h->target_len));
    if (h->query)
        assert_true(h->query > h->target && h->query[-1] == '?' &&
                    h->query + h->query_len == h->target + h->target_len);
    if (h->authority) {
        assert_true(h->authority > h->target &&
                    h->authority + h->authority_len <= h->target + h->target_len);
        assert_true(h->authority_len > 0);
        assert_null(memchr(h->authority, '@', h->authority_len));
        assert_null(memchr(h->authority, '/', h->authority_len));
        assert_null(memchr(h->authority, '?', h->authority_len));
        assert_true(sg_http_ieq(h->target, 7, "http://") || sg_http_ieq(h->target, 8, "https://"));
    } else {
        assert_true(h->target[0] == '/' && h->path == h->target);
    }
}

static void test_absolute_form_mutations(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "https://user:pw@[::1]:8443/v1/models?key=a#f",
        "http://gateway.example:8443/v1/chat/completions?x",
    };
    static const char subst[] = "@#?/:[].%\\ \x01\x7f\x80"
                                "aA0";
    char target[128], buf[256];
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
        size_t len = strlen(seeds[s]);
        for (size_t i = 0; i <= len; i++) {
            for (size_t k = 0; k <= sizeof(subst) - 1; k++) {
                /* k < count: substitute byte i; k == count: cut the target at i */
                memcpy(target, seeds[s], len + 1);
                if (k < sizeof(subst) - 1 && i < len)
                    target[i] = subst[k];
                else
                    target[i] = '\0';
                int n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
                struct sg_http_head h;
                int status = 0;
                struct sg_error err = {0};
                if (sg_http_parse_head(buf, (size_t)n, &h, &status, &err) == 0)
                    check_invariants(buf, (size_t)n, &h);
                else
                    assert_int_equal(status, 400);
            }
        }
    }
}

/* ---- chunked ---- */

static const char chunked_body[] = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                                   "0\r\nTrailer: x\r\n\r\nNEXT";
static const char chunked_expected[] = "Wikipedia in\r\n\r\nchunks.";

static void test_chunked_whole(void **state)
{
    (void)state;
    struct sg_http_chunked c = {0};
    struct sg_buf out;
    sg_buf_init(&out, 1024);
    size_t n = sizeof(chunked_body) - 1;
    ssize_t k = sg_http_chunked_feed(&c, chunked_body, n, &out);
    assert_true(c.done);
    assert_int_equal(k, (ssize_t)(n - 4)); /* "NEXT" belongs to the next request */
    assert_int_equal(out.len, strlen(chunked_expected));
    assert_memory_equal(out.data, chunked_expected, out.len);
    sg_buf_free(&out);
}

static void test_chunked_split_everywhere(void **state)
{
    (void)state;
    size_t n = sizeof(chunked_body) - 1 - 4;
    for (size_t cut = 0; cut <= n; cut++) {
        struct sg_http_chunked c = {0};
        struct sg_buf out;
        sg_buf_init(&out, 1024);
        ssize_t a = sg_http_chunked_feed(&c, chunked_body, cut, &out);
        assert_int_equal(a, (ssize_t)cut);
        /* Then byte by byte for the rest. */
        for (size_t i = cut; i < n; i++)
            assert_int_equal(sg_http_chunked_feed(&c, chunked_body + i, 1, &out), 1);
        assert_true(c.done);
        assert_memory_equal(out.data, chunked_expected, strlen(chunked_expected));
        sg_buf_free(&out);
    }
}

static ssize_t chunked_all(const char *s, size_t cap)
{
    struct sg_http_chunked c = {0};
    struct sg_buf out;
    sg_buf_init(&out, cap);
    ssize_t k = sg_http_chunked_feed(&c, s, strlen(s), &out);
    sg_buf_free(&out);
    return k;
}

static void test_chunked_malformed(void **state)
{
    (void)state;
    assert_int_equal(chunked_all("zz\r\n", 100), SG_EPROTO);        /* not hex */
    assert_int_equal(chunked_all("\r\n", 100), SG_EPROTO);          /* no size */
    assert_int_equal(chunked_all("3\r\nabcX\r\n", 100), SG_EPROTO); /* data too long */
    assert_int_equal(chunked_all("3\nabc\r\n", 100), SG_EPROTO);    /* bare LF */
    assert_int_equal(chunked_all("3\r\nabc\r\n0\r\nX\n", 100), SG_EPROTO);
    assert_int_equal(chunked_all("ffffffffffffffffff\r\n", 100), SG_ETOOBIG); /* overflow */
    assert_int_equal(chunked_all("1000000000000000\r\n", 100), SG_ETOOBIG);   /* 16 digits */
    /* leading zeros are legal and do not count toward the 15 digits */
    const char *padded = "0000000000000005\r\nhello\r\n0000\r\n\r\n";
    assert_int_equal(chunked_all(padded, 100), (ssize_t)strlen(padded));
    char zeros[80];
    memset(zeros, '0', 65);
    memcpy(zeros + 65, "5\r\n", 4);
    assert_int_equal(chunked_all(zeros, 100), SG_ETOOBIG); /* a size line of 66 digits */
    assert_int_equal(chunked_all("10\r\n0123456789abcdef\r\n0\r\n\r\n", 8), SG_ETOOBIG); /* cap */
}

/* Chunk-size lines and trailers are held to the grammar of RFC 9112 7.1: after the size
 * and optional whitespace only ";" (an extension) or CRLF may follow, so that "1 2" is not
 * read as size 1 here and as 0x12 by a lenient parser in front; control bytes are refused
 * in extensions and trailer fields as they are in the head. */
static void test_chunked_strict_lines(void **state)
{
    (void)state;
    const char *ok[] = {"1;a=b\r\nx\r\n0\r\n\r\n", "1 ;a=\"q r\"\r\nx\r\n0\r\n\r\n",
                        "1\t; a\r\nx\r\n0\r\n\r\n", "1\r\nx\r\n0\r\nT: v\r\nU: w\tz\r\n\r\n"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_int_equal(chunked_all(ok[i], 100), (ssize_t)strlen(ok[i]));
    assert_int_equal(chunked_all("1 2\r\nx\r\n0\r\n\r\n", 100), SG_EPROTO);     /* "1 2" */
    assert_int_equal(chunked_all("1 x\r\nx\r\n0\r\n\r\n", 100), SG_EPROTO);     /* junk */
    assert_int_equal(chunked_all("1;\x01\r\nx\r\n0\r\n\r\n", 100), SG_EPROTO);  /* control */
    assert_int_equal(chunked_all("1;a\x7f\r\nx\r\n0\r\n\r\n", 100), SG_EPROTO); /* DEL */
    assert_int_equal(chunked_all("1\r\nx\r\n0\r\nT: \x02\r\n\r\n", 100), SG_EPROTO);
    assert_int_equal(chunked_all("1\r\nx\r\n0\r\nT\r\n\r\n", 100), SG_EPROTO); /* no colon */
    assert_int_equal(chunked_all("1\r\nx\r\n0\r\nT : v\r\n\r\n", 100), SG_EPROTO);
    /* The trailer section as a whole is bounded (not only each line): an endless stream of
     * short trailer fields is refused instead of read until the body deadline. */
    struct sg_http_chunked c = {.meta_max = SG_HTTP_CHUNK_META_MAX};
    struct sg_buf out;
    sg_buf_init(&out, 100);
    assert_int_equal(sg_http_chunked_feed(&c, "0\r\n", 3, &out), 3);
    ssize_t k = 0;
    for (int i = 0; i < 100000 && k >= 0; i++)
        k = sg_http_chunked_feed(&c, "X-T: 1\r\n", 8, &out);
    assert_int_equal(k, SG_ETOOBIG);
    sg_buf_free(&out);
    /* So are the extensions of all chunks together: 1-byte chunks each with a long
     * extension cost far more reading than the body cap suggests. */
    c = (struct sg_http_chunked){.meta_max = SG_HTTP_CHUNK_META_MAX};
    sg_buf_init(&out, 1u << 20);
    char line[200];
    memset(line, 'e', sizeof(line));
    memcpy(line, "1;", 2);
    memcpy(line + sizeof(line) - 5, "\r\nx\r\n", 5);
    k = 0;
    for (int i = 0; i < 100000 && k >= 0; i++)
        k = sg_http_chunked_feed(&c, line, sizeof(line), &out);
    assert_int_equal(k, SG_ETOOBIG);
    assert_true(out.len < 10000);
    sg_buf_free(&out);
}

/* ---- responses ---- */

static int parse_resp(const char *s, struct sg_http_response_head *h)
{
    struct sg_error err = {0};
    return sg_http_parse_response_head(s, strlen(s), h, &err);
}

static void test_response_heads(void **state)
{
    (void)state;
    struct sg_http_response_head h;
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 12\r\n\r\n",
                                &h),
                     0);
    assert_int_equal(h.status, 200);
    assert_int_equal(h.body, SG_HTTP_BODY_LENGTH);
    assert_int_equal(h.content_length, 12);
    assert_true(h.keep_alive);
    assert_false(h.close_delimited);
    const struct sg_http_header *ct = sg_http_find_header_in(h.headers, h.nheaders, "content-type");
    assert_non_null(ct);
    assert_memory_equal(ct->value, "application/json", 16);

    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 0);
    assert_int_equal(h.body, SG_HTTP_BODY_CHUNKED);
    assert_true(h.keep_alive);
    /* chunked framing in HTTP/1.0 is faulty: read, but the connection is not reused */
    assert_int_equal(parse_resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                "Connection: keep-alive\r\n\r\n",
                                &h),
                     0);
    assert_int_equal(h.body, SG_HTTP_BODY_CHUNKED);
    assert_false(h.keep_alive);
    /* No length: the body runs until the server closes, and the connection is not reused. */
    assert_int_equal(parse_resp("HTTP/1.0 200 OK\r\n\r\n", &h), 0);
    assert_true(h.close_delimited);
    assert_false(h.keep_alive);
    assert_int_equal(parse_resp("HTTP/1.1 204 No Content\r\n\r\n", &h), 0);
    assert_int_equal(h.body, SG_HTTP_BODY_NONE);
    assert_int_equal(parse_resp("HTTP/1.1 100 Continue\r\n\r\n", &h), 0);
    assert_int_equal(h.body, SG_HTTP_BODY_NONE);
    assert_int_equal(parse_resp("HTTP/1.1 503\r\nRetry-After: 3\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n",
                                &h),
                     0);
    assert_int_equal(h.status, 503);
    assert_false(h.keep_alive);
    assert_int_equal(h.body, SG_HTTP_BODY_NONE);

    /* Framing ambiguities and garbage are refused. */
    assert_int_equal(
        parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &h),
        SG_EPROTO);
    assert_int_equal(
        parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                   &h),
        SG_EPROTO);
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &h),
                     SG_EPROTO);
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", &h), SG_EPROTO);
    assert_int_equal(parse_resp("HTTP/1.1 2000 OK\r\n\r\n", &h), SG_EPROTO);
    assert_int_equal(parse_resp("HTTP/2 200\r\n\r\n", &h), SG_EPROTO);
    assert_int_equal(parse_resp("HTTP/1.1 20x OK\r\n\r\n", &h), SG_EPROTO);
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\nX: y\r\n\r\n", &h), SG_EPROTO);
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", &h), SG_EPROTO);
    assert_int_equal(parse_resp("HTTP/1.1 099 Odd\r\n\r\n", &h), SG_EPROTO);
}

/* Errors the server answers itself carry the OpenAI type of who caused them: the gateway
 * failing (500) is a server_error, whatever the client sent is an invalid_request_error. */
static void test_error_types(void **state)
{
    (void)state;
    assert_string_equal(sg_http_error_type(500), "server_error");
    static const int client[] = {400, 408, 413, 417, 431, 501, 505};
    for (size_t i = 0; i < sizeof(client) / sizeof(client[0]); i++)
        assert_string_equal(sg_http_error_type(client[i]), "invalid_request_error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_http10_keepalive),
        cmocka_unit_test(test_chunked_head),
        cmocka_unit_test(test_leading_crlf_ignored),
        cmocka_unit_test(test_expect),
        cmocka_unit_test(test_smuggling_refused),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_absolute_form_refused),
        cmocka_unit_test(test_absolute_form_mutations),
        cmocka_unit_test(test_chunked_whole),
        cmocka_unit_test(test_chunked_split_everywhere),
        cmocka_unit_test(test_chunked_malformed),
        cmocka_unit_test(test_chunked_strict_lines),
        cmocka_unit_test(test_response_heads),
        cmocka_unit_test(test_error_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
