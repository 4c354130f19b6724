/* Size classes of 32 bytes up to SG_POOL_MAX; each block carries a 16-byte header that
 * records its class (or marks it as a plain malloc block). */
#include "core/pool.h"

#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#define HDR 16
#define CLASS_SIZE 32
#define NCLASSES (SG_POOL_MAX / CLASS_SIZE)
#define MAX_CACHED 4096 /* free blocks kept per class and thread */
#define LARGE 0xffffffffu

struct block {
    struct block *next;
};

struct cache {
    struct block *head[NCLASSES];
    uint32_t count[NCLASSES];
};

static _Thread_local struct cache tc;

void *sg_pool_alloc(size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SG_POOL_MAX) {
        unsigned char *p = malloc(n + HDR);
        if (!p)
            return NULL;
        *(uint32_t *)p = LARGE;
        return p + HDR;
    }
    uint32_t c = (uint32_t)((n - 1) / CLASS_SIZE);
    struct block *b = tc.head[c];
    if (b) {
        tc.head[c] = b->next;
        tc.count[c]--;
        return b;
    }
    unsigned char *p = malloc((size_t)(c + 1) * CLASS_SIZE + HDR);
    if (!p)
        return NULL;
    *(uint32_t *)p = c;
    return p + HDR;
}

void sg_pool_free(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    uint32_t c = *(uint32_t *)p;
    if (c == LARGE || tc.count[c] >= MAX_CACHED) {
        free(p);
        return;
    }
    struct block *b = ptr;
    b->next = tc.head[c];
    tc.head[c] = b;
    tc.count[c]++;
}

void sg_pool_thread_release(void)
{
    for (int c = 0; c < NCLASSES; c++) {
        while (tc.head[c]) {
            struct block *b = tc.head[c];
            tc.head[c] = b->next;
            free((unsigned char *)b - HDR);
        }
        tc.count[c] = 0;
    }
}

void sg_pool_install_json(void)
{
    json_set_alloc_funcs(sg_pool_alloc, sg_pool_free);
}
