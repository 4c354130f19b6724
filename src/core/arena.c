/* Bump allocator over a list of blocks. Small requests share a block; a request larger
 * than a quarter of the block size gets a block of its own. */
#include "core/arena.h"
#include "core/pool.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_ARENA_BLOCK_BYTES 4096 /* a block with its header: one pool class */
#define SG_ARENA_ALIGN 16

struct block {
    struct block *next;
    size_t used, size;
    _Alignas(SG_ARENA_ALIGN) unsigned char mem[];
};

#define SG_ARENA_BLOCK (SG_ARENA_BLOCK_BYTES - sizeof(struct block))

struct sg_arena {
    struct block *head;
    size_t total, max;
};

struct sg_arena *sg_arena_new(size_t max)
{
    struct sg_arena *a = sg_pool_calloc(sizeof(*a)); /* blocks too: one arena per request */
    if (a)
        a->max = max;
    return a;
}

void sg_arena_free(struct sg_arena *a)
{
    if (!a)
        return;
    struct block *b = a->head;
    while (b) {
        struct block *next = b->next;
        sg_pool_free(b);
        b = next;
    }
    sg_pool_free(a);
}

static struct block *block_new(size_t size)
{
    struct block *b = sg_pool_alloc(sizeof(*b) + size);
    if (b) {
        b->next = NULL;
        b->used = 0;
        b->size = size;
    }
    return b;
}

void *sg_arena_alloc(struct sg_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - SG_ARENA_ALIGN)
        return NULL;
    n = (n + SG_ARENA_ALIGN - 1) & ~(size_t)(SG_ARENA_ALIGN - 1);
    if (n > a->max || a->total > a->max - n)
        return NULL;
    struct block *b = a->head;
    if (n > SG_ARENA_BLOCK / 4) {
        /* Large: its own block, linked behind the current one so the current block
         * keeps serving small allocations. */
        struct block *big = block_new(n);
        if (!big)
            return NULL;
        big->used = n;
        if (b) {
            big->next = b->next;
            b->next = big;
        } else {
            a->head = big;
        }
        a->total += n;
        return big->mem;
    }
    if (!b || b->size - b->used < n) {
        b = block_new(SG_ARENA_BLOCK);
        if (!b)
            return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->mem + b->used;
    b->used += n;
    a->total += n;
    return p;
}

void *sg_arena_calloc(struct sg_arena *a, size_t n)
{
    void *p = sg_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *sg_arena_strndup(struct sg_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = sg_arena_alloc(a, n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *sg_arena_strdup(struct sg_arena *a, const char *s)
{
    return sg_arena_strndup(a, s, strlen(s));
}

char *sg_arena_printf(struct sg_arena *a, const char *fmt, ...)
{
    va_list ap, cp;
    va_start(ap, fmt);
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    char *p = NULL;
    if (n >= 0 && (p = sg_arena_alloc(a, (size_t)n + 1)))
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t sg_arena_used(const struct sg_arena *a)
{
    return a->total;
}
