/* A per-request bump allocator: many small allocations, one free at the end. The arena
 * owns every block it hands out; nothing allocated from it may be freed individually or
 * outlive sg_arena_free(). A hard cap bounds the total a request can allocate. */
#ifndef SG_CORE_ARENA_H
#define SG_CORE_ARENA_H

#include <stddef.h>

struct sg_arena;

/* Creates an arena that may hand out at most `max` bytes in total. NULL on failure. */
struct sg_arena *sg_arena_new(size_t max);
/* Frees the arena and everything allocated from it. NULL is accepted. */
void sg_arena_free(struct sg_arena *a);
/* Returns `n` bytes aligned for any type, or NULL when out of memory or over the cap. */
void *sg_arena_alloc(struct sg_arena *a, size_t n);
/* Like sg_arena_alloc but zero-filled. */
void *sg_arena_calloc(struct sg_arena *a, size_t n);
/* Copies `n` bytes of `s` and NUL-terminates the copy. NULL on failure. */
char *sg_arena_strndup(struct sg_arena *a, const char *s, size_t n);
char *sg_arena_strdup(struct sg_arena *a, const char *s);
/* printf into the arena. NULL on failure. */
char *sg_arena_printf(struct sg_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bytes handed out so far. */
size_t sg_arena_used(const struct sg_arena *a);

#endif
