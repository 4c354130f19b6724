/* Shared helpers of the fuzz targets (tests/fuzz/README.md): a check that aborts, so a
 * broken invariant is a crash for libFuzzer and a failing test for the replay driver, and
 * the piece splitter that feeds streaming parsers the input in fuzzer-chosen pieces. */
#ifndef SG_FUZZ_UTIL_H
#define SG_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The entry point, declared here so that every target and replay.c agree on it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant. abort() rather than assert(): it must also hold in release builds, where
 * NDEBUG would turn assert() into nothing. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Known bugs (tests/fuzz/regressions/<target>/known/) are exempted from the invariants
 * they break, so that fuzzing goes on finding new ones; SG_FUZZ_STRICT=1 in the
 * environment lifts the exemptions, to reproduce them or to check a fix. */
static inline int fuzz_strict(void)
{
    static int strict = -1;
    if (strict < 0) {
        const char *e = getenv("SG_FUZZ_STRICT");
        strict = e && *e && *e != '0';
    }
    return strict;
}

/* Where a stream is cut: after every occurrence of the input's last byte, and at the
 * latest every `step` bytes, step being 1 + the second-to-last byte modulo 64. Nothing is
 * taken out of the input for this, so hand-written seeds stay plain text (an SSE stream
 * ending in "\n\n" is cut after every line end and at least every 11 bytes), and the
 * fuzzer steers the cuts by mutating the last two bytes. */
struct fuzz_split {
    const uint8_t *d;
    size_t n, at, step;
    uint8_t cut;
};

static inline void fuzz_split_init(struct fuzz_split *s, const uint8_t *d, size_t n)
{
    s->d = d;
    s->n = n;
    s->at = 0;
    s->cut = n ? d[n - 1] : 0;
    s->step = 1 + (n > 1 ? d[n - 2] % 64u : 0);
}

/* Cuts another text (e.g. what a transformation made of the input) the way `like` cuts
 * the input. */
static inline void fuzz_split_init_like(struct fuzz_split *s, const uint8_t *d, size_t n,
                                        const struct fuzz_split *like)
{
    s->d = d;
    s->n = n;
    s->at = 0;
    s->cut = like->cut;
    s->step = like->step;
}

/* The next piece of the input (`*len` bytes at the returned pointer), or NULL at the end.
 * The pieces concatenated are the whole input. */
static inline const uint8_t *fuzz_split_next(struct fuzz_split *s, size_t *len)
{
    if (s->at >= s->n)
        return NULL;
    size_t b = s->at, e = b;
    while (e < s->n && e - b < s->step) {
        if (s->d[e++] == s->cut)
            break;
    }
    s->at = e;
    *len = e - b;
    return s->d + b;
}

#endif
