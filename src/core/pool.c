/* Per-thread free lists of plain malloc blocks, by size class (see pool.h). A cached
 * block's first bytes link it into its list. */
#include "core/pool.h"

#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#define SMALL_STEP 32
#define SMALL_MAX 512
#define NSMALL (SMALL_MAX / SMALL_STEP) /* 32, 64, ... 512 */
#define LARGE_MIN 1024
#define NLARGE 7 /* 1 KiB, 2 KiB, ... 64 KiB */
#define NCLASSES (NSMALL + NLARGE)
#define SMALL_CACHED 4096

_Static_assert((size_t)LARGE_MIN << (NLARGE - 1) == SG_POOL_MAX_CACHED, "class table");

struct block {
    struct block *next;
};

struct cache {
    struct block *head[NCLASSES];
    uint32_t count[NCLASSES];
    bool registered; /* the exit destructor is armed for this thread */
};

static _Thread_local struct cache tc;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static size_t class_size(int c)
{
    return c < NSMALL ? (size_t)(c + 1) * SMALL_STEP : (size_t)LARGE_MIN << (c - NSMALL);
}

/* Free blocks a thread keeps of class c: SG_POOL_CLASS_BYTES, at most SMALL_CACHED. */
static uint32_t class_cap(int c)
{
    size_t n = SG_POOL_CLASS_BYTES / class_size(c);
    return n > SMALL_CACHED ? SMALL_CACHED : (uint32_t)n;
}

/* The smallest class that holds n bytes, or -1 when n is larger than every class. */
static int class_up(size_t n)
{
    if (n <= SMALL_MAX)
        return n ? (int)((n - 1) / SMALL_STEP) : 0;
    for (int c = NSMALL; c < NCLASSES; c++)
        if (n <= class_size(c))
            return c;
    return -1;
}

/* The largest class whose size a block of usable size u covers, or -1: too small for any,
 * or so much larger than the largest class that caching it would hold memory idle. */
static int class_down(size_t u)
{
    if (u < SMALL_STEP || u >= 2 * (size_t)SG_POOL_MAX_CACHED)
        return -1;
    if (u < LARGE_MIN)
        return u >= SMALL_MAX ? NSMALL - 1 : (int)(u / SMALL_STEP) - 1;
    int c = NSMALL;
    while (c + 1 < NCLASSES && class_size(c + 1) <= u)
        c++;
    return c;
}

static void release_at_exit(void *arg)
{
    (void)arg;
    tc.registered = false; /* a later free (another destructor's) arms it again */
    sg_pool_thread_release();
}

static void make_key(void)
{
    /* without a key a thread's cache is only returned where sg_pool_thread_release runs */
    (void)pthread_key_create(&exit_key, release_at_exit);
}

void *sg_pool_alloc(size_t n)
{
    int c = class_up(n);
    if (c < 0)
        return malloc(n);
    struct block *b = tc.head[c];
    if (b) {
        tc.head[c] = b->next;
        tc.count[c]--;
        return b;
    }
    return malloc(class_size(c));
}

void *sg_pool_calloc(size_t n)
{
    void *p = sg_pool_alloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void sg_pool_free(void *p)
{
    if (!p)
        return;
    int c = class_down(malloc_usable_size(p));
    if (c < 0 || tc.count[c] >= class_cap(c)) {
        free(p);
        return;
    }
    if (!tc.registered) {
        /* the destructor runs only for a non-NULL value: the cache's own address */
        pthread_once(&key_once, make_key);
        tc.registered = pthread_setspecific(exit_key, &tc) == 0;
    }
    struct block *b = p;
    b->next = tc.head[c];
    tc.head[c] = b;
    tc.count[c]++;
}

void *sg_pool_realloc(void *p, size_t n)
{
    if (!p)
        return sg_pool_alloc(n);
    size_t u = malloc_usable_size(p);
    if (n <= u)
        return p;
    if (class_up(n) < 0)
        return realloc(p, n); /* past the classes: malloc may grow it in place */
    void *q = sg_pool_alloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, u);
    sg_pool_free(p);
    return q;
}

size_t sg_pool_cached_bytes(void)
{
    size_t n = 0;
    for (int c = 0; c < NCLASSES; c++)
        n += tc.count[c] * class_size(c);
    return n;
}

void sg_pool_thread_release(void)
{
    for (int c = 0; c < NCLASSES; c++) {
        while (tc.head[c]) {
            struct block *b = tc.head[c];
            tc.head[c] = b->next;
            free(b);
        }
        tc.count[c] = 0;
    }
}

void sg_pool_install(void)
{
    json_set_alloc_funcs(sg_pool_alloc, sg_pool_free);
    event_set_mem_functions(sg_pool_alloc, sg_pool_realloc, sg_pool_free);
}
