/* Bounded growable buffer. Growth doubles the capacity, clamped to the hard maximum. */
#include "core/buf.h"
#include "core/error.h"
#include "core/pool.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h> /* AVX-512BW, compiled per function and chosen at run time */
#include <stdatomic.h>
#define SG_BUF_AVX512 1
#else
#define SG_BUF_AVX512 0
#endif

void sg_buf_init(struct sg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sg_buf_free(struct sg_buf *b)
{
    sg_pool_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sg_buf_reset(struct sg_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int sg_buf_reserve(struct sg_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return SG_ETOOBIG;
    size_t need = b->len + n + 1; /* + NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = sg_pool_realloc(b->data, cap);
    if (!p)
        return SG_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sg_buf_append(struct sg_buf *b, const void *p, size_t n)
{
    int rc = sg_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int sg_buf_puts(struct sg_buf *b, const char *s)
{
    return sg_buf_append(b, s, strlen(s));
}

int sg_buf_vprintf(struct sg_buf *b, const char *fmt, va_list ap)
{
    char tmp[512];
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, cp);
    va_end(cp);
    if (n < 0)
        return SG_EINVAL;
    if ((size_t)n < sizeof(tmp))
        return sg_buf_append(b, tmp, (size_t)n);
    int rc = sg_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sg_buf_printf(struct sg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* SWAR: a byte of x is < 0x20, '"', '\\' or >= 0x80 exactly when the corresponding high
 * bit of the result is set (the classic "haszero" and "hasless" bit tricks). */
static inline uint64_t special_bytes(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    uint64_t lt20 = (x - ones * 0x20) & ~x;
    uint64_t zq = (q - ones) & ~q, zb = (bs - ones) & ~bs;
    return (lt20 | zq | zb | x) & high;
}

/* sg_json_plain_prefix from s[i] on, 16, 8 and 1 bytes at a time. */
static inline size_t plain_from(const char *s, size_t n, size_t i)
{
#ifdef __SSE2__
    /* 16 bytes at a time (every JSON string of every request and answer comes through
     * here). As signed bytes, c < 0x20 holds for the controls and for every byte >= 0x80. */
    const __m128i lim = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                  bslash = _mm_set1_epi8('\\');
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i hit = _mm_or_si128(_mm_cmplt_epi8(v, lim), _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                                        _mm_cmpeq_epi8(v, bslash)));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i + 8 <= n) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (special_bytes(x))
            break;
        i += 8;
    }
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
            break;
        i++;
    }
    return i;
}

#if SG_BUF_AVX512
/* 64 bytes a step: the strings of requests and answers run to kilobytes. */
__attribute__((target("avx512f,avx512bw"))) static size_t plain_avx512(const char *s, size_t n)
{
    const __m512i lim = _mm512_set1_epi8(0x20), quote = _mm512_set1_epi8('"'),
                  bslash = _mm512_set1_epi8('\\');
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i v = _mm512_loadu_si512((const void *)(s + i));
        /* as signed bytes, c < 0x20 holds for the controls and every byte >= 0x80 */
        uint64_t hit = _mm512_cmplt_epi8_mask(v, lim) | _mm512_cmpeq_epi8_mask(v, quote) |
                       _mm512_cmpeq_epi8_mask(v, bslash);
        if (hit)
            return i + (size_t)__builtin_ctzll(hit);
    }
    return plain_from(s, n, i);
}

static bool has_avx512(void)
{
    static atomic_int known = -1; /* -1: not asked yet */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k < 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx512bw") ? 1 : 0;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k == 1;
}
#endif

size_t sg_json_plain_prefix(const char *s, size_t n)
{
#if SG_BUF_AVX512
    if (n >= 64 && has_avx512())
        return plain_avx512(s, n);
#endif
    return plain_from(s, n, 0);
}

size_t sg_strlcpy(char *dst, size_t cap, const char *s, size_t n)
{
    size_t l = strnlen(s, n < cap - 1 ? n : cap - 1);
    memcpy(dst, s, l);
    dst[l] = '\0';
    return l;
}

int sg_buf_put_u64(struct sg_buf *b, uint64_t v)
{
    char tmp[20];
    size_t k = sizeof(tmp);
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sg_buf_append(b, tmp + k, sizeof(tmp) - k);
}

int sg_buf_put_i64(struct sg_buf *b, int64_t v)
{
    if (v >= 0)
        return sg_buf_put_u64(b, (uint64_t)v);
    int rc = sg_buf_append(b, "-", 1);
    return rc ? rc : sg_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
}

int sg_buf_json_escape(struct sg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (c < 0x80)
                i += sg_json_plain_prefix(s + i + 1, n - i - 1);
            continue;
        }
        int rc = sg_buf_append(b, s + run, i - run);
        if (rc)
            return rc;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if ((rc = sg_buf_append(b, esc, elen)))
            return rc;
        run = i + 1;
    }
    return sg_buf_append(b, s + run, n - run);
}

void sg_buf_consume(struct sg_buf *b, size_t n)
{
    if (n >= b->len) {
        sg_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *sg_buf_steal(struct sg_buf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
