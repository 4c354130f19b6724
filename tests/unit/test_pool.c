/* The thread-caching allocator: blocks hold what was asked for, freed blocks are served
 * again, pool blocks and malloc blocks are interchangeable, realloc keeps the content, and
 * blocks freed on a thread that exits go back to malloc (the ASan build's leak check
 * fails this test otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>
#include <pthread.h>

#include "core/buf.h"
#include "core/pool.h"

static const size_t sizes[] = {0,    1,     31,    32,    33,    100,    511,
                               512,  513,   1000,  1024,  1025,  2048,   3000,
                               4097, 16384, 40000, 65536, 65537, 131072, 200000};

static void test_sizes(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) { /* the later rounds are served from the cache */
        void *p[sizeof(sizes) / sizeof(sizes[0])];
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            p[i] = sg_pool_alloc(sizes[i]);
            assert_non_null(p[i]);
            assert_true(malloc_usable_size(p[i]) >= sizes[i]);
            memset(p[i], (int)i, sizes[i]);
        }
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            for (size_t k = 0; k < sizes[i]; k++)
                assert_int_equal(((unsigned char *)p[i])[k], (unsigned char)i);
            sg_pool_free(p[i]);
        }
    }
    sg_pool_free(NULL);
}

/* A freed block of a cached class is what the next request of that class gets. */
static void test_reuse(void **state)
{
    (void)state;
    void *a = sg_pool_alloc(2000);
    sg_pool_free(a);
    void *b = sg_pool_alloc(1500); /* the same 2 KiB class */
    assert_ptr_equal(a, b);
    sg_pool_free(b);
    void *c = sg_pool_alloc(100);
    sg_pool_free(c);
    void *d = sg_pool_alloc(97);
    assert_ptr_equal(c, d);
    sg_pool_free(d);
}

/* Blocks pass between the pool and code that uses malloc and free directly. */
static void test_interchangeable(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *m = malloc(sizes[i] + 1);
        assert_non_null(m);
        sg_pool_free(m); /* a malloc block into the pool's cache */
        char *p = sg_pool_alloc(sizes[i]);
        assert_non_null(p);
        memset(p, 'x', sizes[i]);
        free(p); /* a pool block back to malloc */
    }
    /* a block that came from malloc serves only requests it is large enough for */
    char *m = malloc(700);
    sg_pool_free(m);
    for (int i = 0; i < 4; i++) {
        char *p = sg_pool_alloc(700);
        assert_true(malloc_usable_size(p) >= 700);
        memset(p, 'y', 700);
        free(p);
    }
}

static void test_pool_realloc(void **state)
{
    (void)state;
    unsigned char *p = sg_pool_realloc(NULL, 10);
    assert_non_null(p);
    size_t n = 10;
    for (size_t k = 0; k < n; k++)
        p[k] = (unsigned char)k;
    while (n < 300000) { /* across the small and large classes and past them */
        size_t m = n * 3;
        unsigned char *q = sg_pool_realloc(p, m);
        assert_non_null(q);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(q[k], (unsigned char)k);
        for (size_t k = n; k < m; k++)
            q[k] = (unsigned char)k;
        p = q;
        n = m;
    }
    /* shrinking keeps the block */
    assert_ptr_equal(sg_pool_realloc(p, 5), p);
    sg_pool_free(p);
}

/* struct sg_buf grows through the pool; what it hands over is freed with free(). */
static void test_buf(void **state)
{
    (void)state;
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(sg_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 200000);
    assert_memory_equal(b.data + 199990, "0123456789", 10);
    sg_buf_free(&b);
    assert_int_equal(sg_buf_puts(&b, "hello"), 0);
    char *s = sg_buf_steal(&b);
    assert_string_equal(s, "hello");
    free(s);
}

/* A thread keeps at most SG_POOL_CLASS_BYTES of free blocks per class: the rest of a burst
 * goes back to malloc. */
static void test_cache_bounded(void **state)
{
    (void)state;
    sg_pool_thread_release();
    assert_int_equal(sg_pool_cached_bytes(), 0);
    enum { N = 3000 };
    static void *v[N];
    for (int i = 0; i < N; i++)
        assert_non_null(v[i] = sg_pool_alloc(500)); /* the 512-byte class */
    for (int i = 0; i < N; i++)
        sg_pool_free(v[i]);
    assert_int_equal(sg_pool_cached_bytes(), SG_POOL_CLASS_BYTES);
    for (int i = 0; i < 100; i++)
        assert_non_null(v[i] = sg_pool_alloc(40000)); /* the 64 KiB class: two kept */
    for (int i = 0; i < 100; i++)
        sg_pool_free(v[i]);
    assert_int_equal(sg_pool_cached_bytes(), 2 * SG_POOL_CLASS_BYTES);
    sg_pool_thread_release();
    assert_int_equal(sg_pool_cached_bytes(), 0);
}

static void *thread_frees(void *arg)
{
    void **v = arg;
    for (int i = 0; i < 64; i++)
        sg_pool_free(v[i]);
    return NULL;
}

/* Blocks made on one thread and freed on another that then exits: that thread's cache
 * goes back to malloc (else the leak check of the ASan build reports them). */
static void test_thread_exit(void **state)
{
    (void)state;
    void *v[64];
    for (int i = 0; i < 64; i++)
        assert_non_null(v[i] = sg_pool_alloc((size_t)(i + 1) * 900));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_frees, v), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_interchangeable),
        cmocka_unit_test(test_pool_realloc),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_cache_bounded),
        cmocka_unit_test(test_thread_exit),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sg_pool_thread_release();
    return rc;
}
