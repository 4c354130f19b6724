/* The registry of backend health states (route/backend.h): sg_backend_state_get returns a
 * new reference, the same state for the same name and URL while anyone holds one; the last
 * sg_backend_state_put unlinks and frees it, so a later get starts afresh (UNKNOWN) and the
 * registry holds only what is referenced. Several threads getting and putting at once (run
 * under ASan in the sanitizer build) neither leak nor touch a freed state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/log.h"
#include "route/backend.h"

static int setup(void **state)
{
    (void)state;
    sg_log_set_level(SG_LOG_ERROR); /* health transitions are logged at info and warn */
    assert_int_equal(sg_backend_registry_count(), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* Every test puts what it got: nothing is left for the exit path to free. */
    assert_int_equal(sg_backend_registry_count(), 0);
    assert_int_equal(sg_backend_registry_free(), 0);
    return 0;
}

static void test_get_put_counting(void **state)
{
    (void)state;
    struct sg_backend_state *a = sg_backend_state_get("b1", "http://10.0.0.1:8000");
    assert_non_null(a);
    assert_int_equal(sg_backend_registry_count(), 1);
    assert_int_equal(sg_backend_health(a), SG_HEALTH_UNKNOWN);
    assert_string_equal(sg_backend_state_name(a), "b1");

    /* the same name and URL: the same state, no new entry */
    struct sg_backend_state *a2 = sg_backend_state_get("b1", "http://10.0.0.1:8000");
    assert_ptr_equal(a2, a);
    assert_ptr_equal(sg_backend_state_ref(a), a);
    assert_int_equal(sg_backend_registry_count(), 1);

    /* another URL or another name: another state */
    struct sg_backend_state *b = sg_backend_state_get("b1", "http://10.0.0.2:8000");
    struct sg_backend_state *c = sg_backend_state_get("b2", "http://10.0.0.1:8000");
    assert_non_null(b);
    assert_non_null(c);
    assert_ptr_not_equal(b, a);
    assert_ptr_not_equal(c, a);
    assert_ptr_not_equal(c, b);
    assert_int_equal(sg_backend_registry_count(), 3);

    /* three references to `a`: it stays until the third put */
    sg_backend_state_put(a);
    sg_backend_state_put(a2);
    assert_int_equal(sg_backend_registry_count(), 3);
    assert_string_equal(sg_backend_state_name(a), "b1"); /* still valid */
    sg_backend_state_put(a);
    assert_int_equal(sg_backend_registry_count(), 2);
    sg_backend_state_put(b);
    sg_backend_state_put(c);
    assert_int_equal(sg_backend_registry_count(), 0);
    sg_backend_state_put(NULL); /* accepted */
    assert_null(sg_backend_state_ref(NULL));
}

/* What a reload does: the new holder takes its reference before the old one releases, so a
 * backend marked down stays down. */
static void test_state_survives_while_referenced(void **state)
{
    (void)state;
    struct sg_backend_state *old = sg_backend_state_get("b1", "http://h:1");
    sg_backend_set_health(old, SG_HEALTH_DOWN, "test");
    sg_backend_set_backoff(old, 4000);
    sg_backend_set_alt_socket(old, true);
    struct sg_backend_state *cur = sg_backend_state_get("b1", "http://h:1");
    sg_backend_state_put(old);
    assert_ptr_equal(cur, old);
    assert_int_equal(sg_backend_health(cur), SG_HEALTH_DOWN);
    assert_false(sg_backend_routable(cur));
    assert_int_equal(sg_backend_backoff(cur), 4000);
    assert_true(sg_backend_alt_socket(cur));
    assert_int_equal(sg_backend_registry_count(), 1);
    sg_backend_state_put(cur);
}

/* Once the last reference is gone the state is gone: a later get is a fresh UNKNOWN state
 * with nothing of the old one's health, backoff or socket. */
static void test_freed_with_last_reference(void **state)
{
    (void)state;
    struct sg_backend_state *s = sg_backend_state_get("b1", "http://h:1");
    sg_backend_set_health(s, SG_HEALTH_DOWN, "test");
    sg_backend_set_backoff(s, 8000);
    sg_backend_schedule(s, 123456789);
    sg_backend_set_alt_socket(s, true);
    sg_backend_state_put(s);
    assert_int_equal(sg_backend_registry_count(), 0);

    s = sg_backend_state_get("b1", "http://h:1");
    assert_non_null(s);
    assert_int_equal(sg_backend_registry_count(), 1);
    assert_int_equal(sg_backend_health(s), SG_HEALTH_UNKNOWN);
    assert_true(sg_backend_routable(s));
    assert_int_equal(sg_backend_backoff(s), 0);
    assert_int_equal(sg_backend_next_check(s), 0);
    assert_false(sg_backend_alt_socket(s));
    sg_backend_state_put(s);
}

/* Many reloads with a new backend each time: the registry holds only the current ones. */
static void test_bounded_over_many_generations(void **state)
{
    (void)state;
    char name[32], url[64];
    struct sg_backend_state *keep = sg_backend_state_get("steady", "http://h:1");
    struct sg_backend_state *prev[2] = {sg_backend_state_ref(keep), NULL};
    for (int gen = 0; gen < 1000; gen++) {
        snprintf(name, sizeof(name), "b%d", gen);
        snprintf(url, sizeof(url), "http://h:%d", 2000 + gen % 7);
        struct sg_backend_state *cur[2] = {sg_backend_state_get("steady", "http://h:1"),
                                           sg_backend_state_get(name, url)};
        assert_ptr_equal(cur[0], keep);
        sg_backend_state_put(prev[0]);
        sg_backend_state_put(prev[1]);
        prev[0] = cur[0];
        prev[1] = cur[1];
        assert_int_equal(sg_backend_registry_count(), 2);
    }
    sg_backend_state_put(prev[0]);
    sg_backend_state_put(prev[1]);
    sg_backend_state_put(keep);
}

/* The exit path frees what a holder failed to release, and says how much. */
static void test_registry_free_frees_leftovers(void **state)
{
    (void)state;
    sg_log_set_level(
        (enum sg_log_level)(SG_LOG_ERROR + 1)); /* the warning is expected: keep the output clean */
    assert_non_null(sg_backend_state_get("x", "http://h:1"));
    assert_non_null(sg_backend_state_get("y", "http://h:1"));
    assert_int_equal(sg_backend_registry_count(), 2);
    assert_int_equal(sg_backend_registry_free(), 2); /* LSan: nothing leaks */
    assert_int_equal(sg_backend_registry_count(), 0);
    sg_log_set_level(SG_LOG_ERROR);
}

/* ---- threads ---- */

#define NTHREADS 8
#define ITERS 20000
#define NNAMES 32

struct stress {
    struct sg_backend_state *anchor; /* held by the main thread for the whole run */
    atomic_int start;
    atomic_int errors;
};

static void *stress_main(void *arg)
{
    struct stress *st = arg;
    unsigned seed = (unsigned)(uintptr_t)pthread_self();
    while (!atomic_load(&st->start))
        ;
    char name[16];
    struct sg_backend_state *held[4] = {0};
    for (int i = 0; i < ITERS; i++) {
        unsigned r = (unsigned)rand_r(&seed);
        int k = (int)(r % NNAMES);
        snprintf(name, sizeof(name), "n%d", k);
        struct sg_backend_state *s = sg_backend_state_get(name, "http://h:1");
        if (!s || strcmp(sg_backend_state_name(s), name) != 0 ||
            sg_backend_registry_count() > NNAMES + 1)
            atomic_fetch_add(&st->errors, 1);
        /* hot-path reads and writes on a state some other thread may be putting */
        (void)sg_backend_routable(s);
        if (r & 0x100)
            sg_backend_set_health(s, (r & 0x200) ? SG_HEALTH_UP : SG_HEALTH_DOWN, "stress");
        sg_backend_schedule(s, r);
        /* sometimes keep it a while (a snapshot living on), sometimes take a second
         * reference (the health checker's copy) */
        int slot = (int)((r >> 12) % 4);
        sg_backend_state_put(held[slot]);
        held[slot] = (r & 0x400) ? sg_backend_state_ref(s) : NULL;
        sg_backend_state_put(s);
        /* the anchored state is never replaced while the main thread holds it */
        if ((r & 0xf000) == 0) {
            struct sg_backend_state *a = sg_backend_state_get("anchor", "http://h:1");
            if (a != st->anchor)
                atomic_fetch_add(&st->errors, 1);
            (void)sg_backend_health(a);
            sg_backend_state_put(a);
        }
    }
    for (int i = 0; i < 4; i++)
        sg_backend_state_put(held[i]);
    return NULL;
}

static void test_concurrent_get_put(void **state)
{
    (void)state;
    struct stress st = {0};
    st.anchor = sg_backend_state_get("anchor", "http://h:1");
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, stress_main, &st), 0);
    atomic_store(&st.start, 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&st.errors), 0);
    assert_int_equal(sg_backend_registry_count(), 1); /* the anchor */
    sg_backend_state_put(st.anchor);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_put_counting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_survives_while_referenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freed_with_last_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_over_many_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_free_frees_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_get_put, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
