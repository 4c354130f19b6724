/* A thread-caching layer over malloc for the blocks every request makes and frees: jansson's
 * values (two JSON trees per request, about seventy small blocks), libevent's buffers and
 * events, and the gateway's own growable buffers (struct sg_buf). Freed blocks go on
 * per-thread free lists by size class, so that most requests are served without malloc's
 * work (blocks of 1 KiB and more are not in glibc's own thread cache and cost a bin
 * search each).
 *
 * The blocks are plain malloc blocks: a block's class is read from malloc_usable_size, so
 * a block from sg_pool_alloc may be released with free() and any malloc block with
 * sg_pool_free. Ownership of a block can thus pass to code that knows nothing of the pool.
 * A block may be freed on any thread (it joins that thread's cache). Classes: 32 to 512
 * bytes in steps of 32, then 1, 2, 4, ... SG_POOL_MAX_CACHED bytes; each thread keeps at
 * most SG_POOL_CLASS_BYTES of free blocks per class (and at most 4096 blocks), about 2.9
 * MB in all at worst, and hands its cache back to malloc when it exits. Larger blocks go
 * straight to malloc. */
#ifndef SG_CORE_POOL_H
#define SG_CORE_POOL_H

#include <stddef.h>

#define SG_POOL_MAX_CACHED (64 * 1024)
#define SG_POOL_CLASS_BYTES (128 * 1024)

/* Allocates `n` bytes (aligned as malloc's). NULL when out of memory. */
void *sg_pool_alloc(size_t n);
/* Allocates `n` zeroed bytes. NULL when out of memory. */
void *sg_pool_calloc(size_t n);
/* realloc() for pool blocks (and any malloc block): `p` may be NULL; `n` must not be 0.
 * On failure NULL, and `p` is left as it was. */
void *sg_pool_realloc(void *p, size_t n);
/* Frees a block of sg_pool_alloc, sg_pool_realloc or malloc (NULL is accepted). */
void sg_pool_free(void *p);
/* Makes jansson and libevent allocate from the pool: call once, first thing, before any
 * JSON value or libevent object exists. */
void sg_pool_install(void);
/* Bytes of free blocks the calling thread keeps (by class size). */
size_t sg_pool_cached_bytes(void);
/* Returns the calling thread's cached blocks to malloc (other threads do so when they
 * exit; the main thread calls this before it returns). */
void sg_pool_thread_release(void);

#endif
