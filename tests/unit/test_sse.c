/* Unit tests of the SSE parser (split at every byte, all line-end styles) and writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "http/sse.h"

/* Collects events as "type|data" lines into a buffer. */
static int collect(void *arg, const char *event, const char *data, size_t len)
{
    struct sg_buf *b = arg;
    assert_int_equal(strlen(data), len); /* NUL-terminated at len */
    sg_buf_printf(b, "%s|", event);
    sg_buf_append(b, data, len);
    sg_buf_puts(b, "\n");
    return 0;
}

/* An OpenAI-like stream with every feature: BOM, comments, CRLF/CR/LF line ends,
 * multi-line data, an event type, id/retry fields, and a field with no space. */
static const char stream[] = "\xEF\xBB\xBF: keep-alive comment\r\n"
                             "data: {\"a\":1}\r\n\r\n"
                             "data:{\"b\":2}\n\n"
                             "event: ping\rdata: x\rdata: y\r\r"
                             "id: 7\nretry: 100\ndata: [DONE]\n\n"
                             "data\n\n";
static const char expected[] = "|{\"a\":1}\n"
                               "|{\"b\":2}\n"
                               "ping|x\ny\n"
                               "|[DONE]\n"
                               "|\n";

static void test_whole(void **state)
{
    (void)state;
    struct sg_sse_parser p;
    struct sg_buf out;
    sg_sse_init(&p, 4096);
    sg_buf_init(&out, 4096);
    assert_int_equal(sg_sse_feed(&p, stream, sizeof(stream) - 1, collect, &out), 0);
    assert_string_equal(out.data, expected);
    assert_false(sg_sse_pending(&p));
    sg_sse_free(&p);
    sg_buf_free(&out);
}

static void test_split_at_every_byte(void **state)
{
    (void)state;
    size_t n = sizeof(stream) - 1;
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            struct sg_sse_parser p;
            struct sg_buf out;
            sg_sse_init(&p, 4096);
            sg_buf_init(&out, 4096);
            assert_int_equal(sg_sse_feed(&p, stream, a, collect, &out), 0);
            assert_int_equal(sg_sse_feed(&p, stream + a, b - a, collect, &out), 0);
            assert_int_equal(sg_sse_feed(&p, stream + b, n - b, collect, &out), 0);
            if (strcmp(out.data ? out.data : "", expected) != 0)
                fail_msg("split at %zu and %zu gave:\n%s", a, b, out.data ? out.data : "");
            sg_sse_free(&p);
            sg_buf_free(&out);
        }
    }
}

static void test_one_byte_at_a_time(void **state)
{
    (void)state;
    struct sg_sse_parser p;
    struct sg_buf out;
    sg_sse_init(&p, 4096);
    sg_buf_init(&out, 4096);
    for (size_t i = 0; i < sizeof(stream) - 1; i++)
        assert_int_equal(sg_sse_feed(&p, stream + i, 1, collect, &out), 0);
    assert_string_equal(out.data, expected);
    sg_sse_free(&p);
    sg_buf_free(&out);
}

static void test_incomplete_is_pending(void **state)
{
    (void)state;
    struct sg_sse_parser p;
    struct sg_buf out;
    sg_sse_init(&p, 4096);
    sg_buf_init(&out, 4096);
    assert_int_equal(sg_sse_feed(&p, "data: {\"a\"", 10, collect, &out), 0);
    assert_true(sg_sse_pending(&p));
    assert_null(out.data); /* nothing dispatched */
    assert_int_equal(sg_sse_feed(&p, ":1}\n", 4, collect, &out), 0);
    assert_true(sg_sse_pending(&p)); /* data without the blank line is still pending */
    sg_sse_free(&p);
    sg_buf_free(&out);
}

static void test_event_cap(void **state)
{
    (void)state;
    struct sg_sse_parser p;
    struct sg_buf out;
    char big[300];
    memset(big, 'x', sizeof(big));
    sg_sse_init(&p, 128);
    sg_buf_init(&out, 4096);
    assert_int_equal(sg_sse_feed(&p, "data: ", 6, collect, &out), 0);
    assert_int_equal(sg_sse_feed(&p, big, sizeof(big), collect, &out), SG_ETOOBIG);
    sg_sse_free(&p);
    /* Many small data lines that together exceed the cap. */
    sg_sse_init(&p, 128);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = sg_sse_feed(&p, "data: 0123456789\n", 17, collect, &out);
    assert_int_equal(rc, SG_ETOOBIG);
    sg_sse_free(&p);
    sg_buf_free(&out);
}

static int stop_at_second(void *arg, const char *event, const char *data, size_t len)
{
    (void)event;
    (void)data;
    (void)len;
    int *n = arg;
    return ++*n == 2 ? 42 : 0;
}

static void test_callback_stops(void **state)
{
    (void)state;
    struct sg_sse_parser p;
    int n = 0;
    sg_sse_init(&p, 4096);
    assert_int_equal(sg_sse_feed(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27, stop_at_second, &n),
                     42);
    assert_int_equal(n, 2);
    sg_sse_free(&p);
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    static const char *payloads[] = {"{\"x\":1}", "a\nb", "a\r\nb\rc", "", "trailing\n"};
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        struct sg_buf w, out, exp;
        sg_buf_init(&w, 4096);
        sg_buf_init(&out, 4096);
        sg_buf_init(&exp, 4096);
        assert_int_equal(sg_sse_write(&w, i == 1 ? "evt" : NULL, payloads[i], strlen(payloads[i])),
                         0);
        struct sg_sse_parser p;
        sg_sse_init(&p, 4096);
        assert_int_equal(sg_sse_feed(&p, w.data, w.len, collect, &out), 0);
        /* Line breaks of any style come back as LF. */
        char norm[64];
        size_t o = 0;
        for (const char *s = payloads[i]; *s; s++) {
            if (*s == '\r') {
                norm[o++] = '\n';
                if (s[1] == '\n')
                    s++;
            } else {
                norm[o++] = *s;
            }
        }
        norm[o] = '\0';
        sg_buf_printf(&exp, "%s|%s\n", i == 1 ? "evt" : "", norm);
        assert_string_equal(out.data, exp.data);
        sg_sse_free(&p);
        sg_buf_free(&w);
        sg_buf_free(&out);
        sg_buf_free(&exp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_incomplete_is_pending),
        cmocka_unit_test(test_event_cap),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_writer_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
