/* A thread-caching allocator for small blocks, installed as jansson's allocator: the
 * gateway builds and frees two JSON trees per request (about seventy small blocks), and
 * serving them from per-thread free lists avoids most of malloc's work. Blocks up to
 * SG_POOL_MAX bytes come from size classes; larger ones go to malloc. A block may be freed
 * on any thread; each thread keeps at most a bounded number of free blocks per class. */
#ifndef SG_CORE_POOL_H
#define SG_CORE_POOL_H

#include <stddef.h>

#define SG_POOL_MAX 512

/* Allocates `n` bytes (aligned for any type). NULL when out of memory. */
void *sg_pool_alloc(size_t n);
/* Frees a block from sg_pool_alloc (NULL is accepted). */
void sg_pool_free(void *p);
/* Makes jansson use the pool (call once, before any JSON value exists). */
void sg_pool_install_json(void);
/* Returns the calling thread's cached blocks to malloc (at thread exit). */
void sg_pool_thread_release(void);

#endif
