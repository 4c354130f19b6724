/* Unit tests of the Prometheus exposition: label values are escaped and valid UTF-8, and
 * the series cap folds only NEW series into "_overflow" (series that exist keep counting). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "metrics/metrics.h"

static char *render(struct sg_metrics *m)
{
    struct sg_buf b;
    sg_buf_init(&b, 64u << 20);
    assert_int_equal(sg_metrics_render(m, &b), 0);
    return sg_buf_steal(&b);
}

/* True when `s` is valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : 9;
        if (n == 9 || c == 0xC0 || c == 0xC1 || c > 0xF4)
            return false;
        for (size_t i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n + 1;
    }
    return true;
}

static void test_escaping(void **state)
{
    (void)state;
    struct sg_metrics *m = sg_metrics_new(1);
    assert_non_null(m);
    struct sg_metrics_shard *s = sg_metrics_shard(m, 0);
    sg_metrics_add(s, SG_M_LIMITED, 1, SG_LABELS({"client", "a\"b\\c\nd"}, {"limit", "x"}));
    /* Client names come from the keys database too: any bytes, invalid UTF-8 included. */
    sg_metrics_add(s, SG_M_LIMITED, 1, SG_LABELS({"client", "bad\xff\xfe-\xc3"}, {"limit", "y"}));
    sg_metrics_add(s, SG_M_LIMITED, 1, SG_LABELS({"client", "M\xc3\xbcller"}, {"limit", "z"}));
    char *out = render(m);
    assert_non_null(strstr(out, "sovgate_limited_requests_total{client=\"a\\\"b\\\\c\\nd\","
                                "limit=\"x\"} 1\n"));
    assert_non_null(strstr(out, "sovgate_limited_requests_total{client=\"M\xc3\xbcller\","
                                "limit=\"z\"} 1\n"));
    if (!utf8_ok(out))
        fail_msg("the exposition is not valid UTF-8:\n%s", out);
    free(out);
    sg_metrics_free(m);
}

static void test_overflow_keeps_existing_series(void **state)
{
    (void)state;
    struct sg_metrics *m = sg_metrics_new(2);
    assert_non_null(m);
    struct sg_metrics_shard *s = sg_metrics_shard(m, 0);
    sg_metrics_add(
        s, SG_M_REQUESTS, 1,
        SG_LABELS({"route", "/v1/chat/completions"}, {"status", "200"}, {"client", "shop"}));
    char v[32];
    for (int i = 0; i < SG_METRICS_MAX_SERIES + 100; i++) {
        snprintf(v, sizeof(v), "c%d", i);
        sg_metrics_add(s, SG_M_LIMITED, 1, SG_LABELS({"client", v}, {"limit", "x"}));
    }
    /* The first series existed before the cap was reached: it goes on counting. */
    sg_metrics_add(
        s, SG_M_REQUESTS, 1,
        SG_LABELS({"route", "/v1/chat/completions"}, {"status", "200"}, {"client", "shop"}));
    /* The same series in another shard merges into it. */
    sg_metrics_add(
        sg_metrics_shard(m, 1), SG_M_REQUESTS, 1,
        SG_LABELS({"route", "/v1/chat/completions"}, {"status", "200"}, {"client", "shop"}));
    char *out = render(m);
    if (!strstr(out, "sovgate_requests_total{route=\"/v1/chat/completions\",status=\"200\","
                     "client=\"shop\"} 3\n"))
        fail_msg("the existing series stopped counting:\n%.2000s",
                 strstr(out, "sovgate_requests_total"));
    /* New series beyond the cap fold into one overflow series per family. */
    assert_non_null(strstr(out, "sovgate_limited_requests_total{overflow=\"_overflow\"}"));
    free(out);
    sg_metrics_free(m);
}

/* A long first value (client names from the keys database have no length limit) must not
 * push the second label past the end of the rendered label set. */
static void test_long_values_fit(void **state)
{
    (void)state;
    struct sg_metrics *m = sg_metrics_new(1);
    assert_non_null(m);
    char v[1024];
    for (size_t len = 400; len < sizeof(v); len++) {
        memset(v, 'a', len);
        v[len] = '\0';
        sg_metrics_add(sg_metrics_shard(m, 0), SG_M_LIMITED, 1,
                       SG_LABELS({"client", v}, {"limit", "requests_per_minute"}));
    }
    char *out = render(m);
    /* every series line is complete: its label set closes before the value */
    for (char *line = strstr(out, "\nsovgate_limited_requests_total{"); line;
         line = strstr(line + 1, "\nsovgate_limited_requests_total{")) {
        char *end = strchr(line + 1, '\n');
        assert_non_null(end);
        char *close = strstr(line, "\"} ");
        assert_true(close && close < end);
        assert_true(strspn(close + 3, "0123456789") == (size_t)(end - close - 3));
    }
    free(out);
    sg_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_overflow_keeps_existing_series),
        cmocka_unit_test(test_long_values_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
