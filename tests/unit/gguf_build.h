/* Test helper of the GGUF tests (test_gguf.c, test_model_store.c): builds GGUF bytes in a
 * fixed buffer, little-endian, as the format lays them out. Include after cmocka.h. */
#ifndef SG_TEST_GGUF_BUILD_H
#define SG_TEST_GGUF_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct gb {
    uint8_t p[8192];
    size_t n;
};

static inline void u8(struct gb *b, uint8_t v)
{
    assert_true(b->n < sizeof(b->p));
    b->p[b->n++] = v;
}

static inline void u32(struct gb *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        u8(b, (uint8_t)(v >> (8 * i)));
}

static inline void u64(struct gb *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        u8(b, (uint8_t)(v >> (8 * i)));
}

static inline void str(struct gb *b, const char *s)
{
    u64(b, strlen(s));
    for (const char *c = s; *c; c++)
        u8(b, (uint8_t)*c);
}

/* Starts b over with a header: magic, version, tensor count, metadata pair count. */
static inline void head(struct gb *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
    b->n = 0;
    u8(b, 'G'), u8(b, 'G'), u8(b, 'U'), u8(b, 'F');
    u32(b, version);
    u64(b, nt);
    u64(b, nkv);
}

static inline void kv_str(struct gb *b, const char *k, const char *v)
{
    str(b, k);
    u32(b, 8);
    str(b, v);
}

static inline void kv_u32(struct gb *b, const char *k, uint32_t v)
{
    str(b, k);
    u32(b, 4);
    u32(b, v);
}

static inline void tensor(struct gb *b, const char *name, uint32_t nd, const uint64_t *ne,
                          uint32_t type, uint64_t off)
{
    str(b, name);
    u32(b, nd);
    for (uint32_t i = 0; i < nd; i++)
        u64(b, ne[i]);
    u32(b, type);
    u64(b, off);
}

#endif
