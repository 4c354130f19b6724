/* Unit tests of src/guard/limits.c: token buckets (exact refill, bounded debt, waits),
 * in-flight counts across a reload, and the exfiltration guard's two windows. Every call
 * takes an explicit time, so each scenario is deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/limits.h"

#define MIN_MS 60000u

/* Linked with -Wl,--wrap=strdup (tests/unit/CMakeLists.txt): while fail_strdup is set,
 * strdup fails as it would out of memory, so the limiter cannot create a client's state. */
static bool fail_strdup;
char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);
char *__wrap_strdup(const char *s)
{
    return fail_strdup ? NULL : __real_strdup(s);
}

/* A configuration with `guard` (YAML text at the top level, after the basics). */
static struct sg_config *load(const char *guard)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "listen: {address: \"127.0.0.1:0\", plaintext: true}\n"
             "backends: [{name: a, url: \"http://127.0.0.1:1\"}]\n"
             "routes: [{model: m, backends: [a]}]\n%s",
             guard);
    struct sg_config *cfg = NULL;
    struct sg_config_diags d = {0};
    int rc = sg_config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    assert_int_equal(rc, 0);
    return cfg;
}

/* Admits one request of `client` at `now` and gives its hold back; true when admitted. */
static bool admit_once(struct sg_limiter *l, const struct sg_config *cfg, const char *client,
                       uint64_t now, struct sg_limit_refusal *why)
{
    struct sg_limit_lease lease;
    if (!sg_limiter_admit(l, cfg, client, now, &lease, why))
        return false;
    sg_limiter_release(l, &lease);
    return true;
}

/* Sends `n` personal values first, first + 1, ... for `client` at `now`. */
static bool personal(struct sg_limiter *l, const struct sg_config *cfg, uint64_t first, size_t n,
                     uint64_t now, struct sg_limit_refusal *why)
{
    uint64_t d[256];
    assert_true(n <= 256);
    for (size_t i = 0; i < n; i++)
        d[i] = (first + i) << 1; /* distinct after the guard's "| 1" */
    struct sg_limit_lease lease;
    assert_true(sg_limiter_admit(l, cfg, "shop", now, &lease, why));
    bool ok = sg_limiter_personal(l, cfg, &lease, d, n, now, why);
    sg_limiter_release(l, &lease);
    return ok;
}

static const char guard_personal[] = "guard:\n"
                                     "  clients:\n"
                                     "    - {name: shop, distinct_personal: 100, window: 60s}\n";

/* Values seen again in a window are carried into it: re-sending set A at the end of one
 * window and 100 new values at the start of the next is 200 distinct values in 1 ms. */
static void test_personal_window_border(void **state)
{
    (void)state;
    struct sg_config *cfg = load(guard_personal);
    struct sg_limiter *l = sg_limiter_new();
    struct sg_limit_refusal why;
    assert_true(personal(l, cfg, 1000, 100, 1, &why));               /* window 0: A */
    assert_true(personal(l, cfg, 1000, 100, 1 + MIN_MS, &why));      /* window 1 opens: A */
    assert_true(personal(l, cfg, 1000, 100, 2 * MIN_MS, &why));      /* its last ms: A */
    assert_false(personal(l, cfg, 5000, 100, 2 * MIN_MS + 1, &why)); /* window 2: B */
    assert_string_equal(why.limit, "distinct_personal");
    assert_true(personal(l, cfg, 1000, 100, 2 * MIN_MS + 1, &why)); /* A still passes */
    sg_limiter_free(l);
    sg_config_free(cfg);
}

/* Retry-After is the real wait: the end of the window when dropping the previous
 * window's values is enough, else the end of the next one. */
static void test_personal_retry_after(void **state)
{
    (void)state;
    struct sg_config *cfg = load(guard_personal);
    struct sg_limiter *l = sg_limiter_new();
    struct sg_limit_refusal why;
    /* 100 values at 1 ms; one more late in the window fits only once they are gone */
    assert_true(personal(l, cfg, 1000, 100, 1, &why));
    assert_false(personal(l, cfg, 5000, 1, 59001, &why));
    assert_int_equal(why.retry_after, 61); /* 1 + 2 min - 59001 ms */
    assert_false(personal(l, cfg, 5000, 1, 120000, &why));
    assert_int_equal(why.retry_after, 1);
    assert_true(personal(l, cfg, 5000, 1, 120001, &why));
    sg_limiter_free(l);

    /* 50 in window 0, 50 in window 1: 10 more fit once window 0's are dropped */
    l = sg_limiter_new();
    assert_true(personal(l, cfg, 1000, 50, 1, &why));
    assert_true(personal(l, cfg, 2000, 50, 1 + MIN_MS, &why));
    assert_false(personal(l, cfg, 3000, 10, 119001, &why));
    assert_int_equal(why.retry_after, 1);
    assert_true(personal(l, cfg, 3000, 10, 120001, &why));
    sg_limiter_free(l);
    sg_config_free(cfg);
}

static const char guard_tpm[] = "guard:\n"
                                "  clients:\n"
                                "    - {name: shop, tokens_per_minute: 1000}\n";

/* Absurd usage puts the client in debt for at most one hour of its rate; the wait says so
 * and is never more than an hour. */
static void check_huge_usage(int64_t n)
{
    struct sg_config *cfg = load(guard_tpm);
    struct sg_limiter *l = sg_limiter_new();
    struct sg_limit_refusal why;
    struct sg_limit_lease lease;
    assert_true(sg_limiter_admit(l, cfg, "shop", 1, &lease, &why));
    sg_limiter_tokens(l, cfg, &lease, n, 1);
    sg_limiter_tokens(l, cfg, &lease, n, 1); /* twice: the debt stays bounded */
    sg_limiter_release(l, &lease);
    assert_false(admit_once(l, cfg, "shop", 2, &why));
    assert_string_equal(why.limit, "tokens_per_minute");
    assert_true(why.retry_after >= 3599 && why.retry_after <= 3600);
    assert_false(admit_once(l, cfg, "shop", 1 + 3600 * 1000, &why));
    assert_true(admit_once(l, cfg, "shop", 2 + 3600 * 1000, &why)); /* one token back */
    sg_limiter_free(l);
    sg_config_free(cfg);
}

static void test_usage_huge(void **state)
{
    (void)state;
    check_huge_usage(10000000000000000LL); /* 1e16 */
    check_huge_usage(INT64_MAX);
}

/* Negative usage gives nothing back. */
static void test_usage_negative(void **state)
{
    (void)state;
    struct sg_config *cfg = load(guard_tpm);
    struct sg_limiter *l = sg_limiter_new();
    struct sg_limit_refusal why;
    struct sg_limit_lease lease;
    assert_true(sg_limiter_admit(l, cfg, "shop", 1, &lease, &why));
    sg_limiter_tokens(l, cfg, &lease, 1001, 1); /* one token of debt */
    sg_limiter_tokens(l, cfg, &lease, -5000, 1);
    sg_limiter_tokens(l, cfg, &lease, INT64_MIN, 1);
    sg_limiter_release(l, &lease);
    assert_false(admit_once(l, cfg, "shop", 2, &why));
    assert_string_equal(why.limit, "tokens_per_minute");
    sg_limiter_free(l);
    sg_config_free(cfg);
}

/* Usage numbers from a backend are range-checked before any arithmetic. */
static void test_usage_tokens(void **state)
{
    (void)state;
    assert_int_equal(sg_limit_usage_tokens(30, 10, 20), 30);
    assert_int_equal(sg_limit_usage_tokens(0, 10, 20), 30);
    assert_int_equal(sg_limit_usage_tokens(-5, 10, 20), 30);
    assert_int_equal(sg_limit_usage_tokens(0, -10, 20), 20);
    assert_int_equal(sg_limit_usage_tokens(INT64_MIN, INT64_MIN, INT64_MIN), 0);
    assert_int_equal(sg_limit_usage_tokens(0, INT64_MAX, INT64_MAX), SG_LIMIT_TOKENS_MAX);
    assert_int_equal(sg_limit_usage_tokens(10000000000000000LL, 0, 0), SG_LIMIT_TOKENS_MAX);
    assert_int_equal(sg_limit_prompt_estimate(0), 1);
    assert_int_equal(sg_limit_prompt_estimate(7), 1);
    assert_int_equal(sg_limit_prompt_estimate(4000), 1000);
    assert_int_equal(sg_limit_prompt_estimate(SIZE_MAX), SG_LIMIT_TOKENS_MAX);
}

/* Refill is exact: with an attempt every millisecond for 10 minutes, a bucket of 119 per
 * minute admits its 119 and then 119 a minute. */
static void test_refill_exact(void **state)
{
    (void)state;
    struct sg_config *cfg = load("guard:\n"
                                 "  clients:\n"
                                 "    - {name: shop, requests_per_minute: 119}\n");
    struct sg_limiter *l = sg_limiter_new();
    struct sg_limit_refusal why;
    unsigned admitted = 0;
    for (uint64_t t = 1; t <= 10 * MIN_MS; t++)
        admitted += admit_once(l, cfg, "shop", t, &why);
    assert_in_range(admitted, 119 + 1190 - 1, 119 + 1190);
    sg_limiter_free(l);
    sg_config_free(cfg);
}

/* The largest rate the configuration takes (1e9 a minute) neither overflows nor loses
 * anything, after a long idle time too. */
static void test_refill_largest_rate(void **state)
{
    (void)state;
    struct sg_config *cfg = load("guard:\n"
                                 "  clients:\n"
                                 "    - {name: shop, tokens_per_minute: 1000000000}\n");
    struct sg_limiter *l = sg_limiter_new();
    struct sg_limit_refusal why;
    struct sg_limit_lease lease;
    assert_true(sg_limiter_admit(l, cfg, "shop", 1, &lease, &why));
    sg_limiter_tokens(l, cfg, &lease, INT64_MAX, 1);
    sg_limiter_release(l, &lease);
    assert_false(admit_once(l, cfg, "shop", 1 + 3600 * 1000, &why));
    assert_int_equal(why.retry_after, 1);
    assert_true(admit_once(l, cfg, "shop", 2 + 3600 * 1000, &why));
    assert_true(admit_once(l, cfg, "shop", UINT64_MAX / 2, &why)); /* years idle */
    sg_limiter_free(l);
    sg_config_free(cfg);
}

/* A global concurrency cap added by a reload counts the requests already in flight. */
static void test_global_cap_after_reload(void **state)
{
    (void)state;
    struct sg_config *a = load("");
    struct sg_config *b = load("guard: {global: {concurrent: 2}}\n");
    struct sg_limiter *l = sg_limiter_new();
    struct sg_limit_refusal why;
    struct sg_limit_lease held[3];
    for (int i = 0; i < 3; i++)
        assert_true(sg_limiter_admit(l, a, i ? "shop" : NULL, 1, &held[i], &why));
    assert_false(admit_once(l, b, "shop", 2, &why));
    assert_string_equal(why.limit, "global_concurrent");
    sg_limiter_release(l, &held[0]);
    assert_false(admit_once(l, b, NULL, 3, &why));
    sg_limiter_release(l, &held[1]);
    assert_true(admit_once(l, b, "shop", 4, &why));
    sg_limiter_release(l, &held[2]);
    sg_limiter_release(l, &held[2]); /* a released lease is a no-op */
    struct sg_limit_lease two[2];
    assert_true(sg_limiter_admit(l, b, "shop", 5, &two[0], &why));
    assert_true(sg_limiter_admit(l, b, "shop", 5, &two[1], &why));
    assert_false(admit_once(l, b, "shop", 5, &why));
    sg_limiter_release(l, &two[0]);
    sg_limiter_release(l, &two[1]);
    sg_limiter_free(l);
    sg_config_free(a);
    sg_config_free(b);
}

/* Out of memory, a client whose state cannot be created is refused ("unavailable"), not
 * admitted without its limits; nothing is held or leaked, and once memory is back the
 * client is admitted and its limits apply. */
static void test_state_alloc_failure(void **state)
{
    (void)state;
    struct sg_config *cfg = load("guard:\n"
                                 "  global: {concurrent: 1}\n"
                                 "  clients:\n"
                                 "    - {name: shop, requests_per_minute: 1, concurrent: 1,\n"
                                 "       distinct_personal: 1, window: 60s}\n");
    struct sg_limiter *l = sg_limiter_new();
    struct sg_limit_refusal why = {0};
    struct sg_limit_lease lease;
    fail_strdup = true;
    bool admitted = sg_limiter_admit(l, cfg, "shop", 1, &lease, &why);
    fail_strdup = false;
    if (admitted)
        sg_limiter_release(l, &lease);
    assert_false(admitted);
    assert_string_equal(why.limit, "unavailable");
    assert_int_equal(why.retry_after, 1);
    assert_null(lease.st);
    assert_false(lease.concurrent || lease.global_concurrent);
    /* the global in-flight count was not taken: the global cap of 1 still admits one */
    assert_true(admit_once(l, cfg, NULL, 2, &why));
    /* memory is back: the client is admitted, and its own limits apply */
    assert_true(sg_limiter_admit(l, cfg, "shop", 3, &lease, &why));
    uint64_t d[2] = {2, 4};
    assert_false(sg_limiter_personal(l, cfg, &lease, d, 2, 3, &why));
    assert_string_equal(why.limit, "distinct_personal");
    sg_limiter_release(l, &lease);
    assert_false(admit_once(l, cfg, "shop", 4, &why));
    assert_string_equal(why.limit, "requests_per_minute");
    sg_limiter_free(l);
    sg_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_personal_window_border),
        cmocka_unit_test(test_personal_retry_after),
        cmocka_unit_test(test_usage_huge),
        cmocka_unit_test(test_usage_negative),
        cmocka_unit_test(test_usage_tokens),
        cmocka_unit_test(test_refill_exact),
        cmocka_unit_test(test_refill_largest_rate),
        cmocka_unit_test(test_global_cap_after_reload),
        cmocka_unit_test(test_state_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
