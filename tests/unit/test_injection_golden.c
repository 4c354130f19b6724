/* The prompt-injection detector's results, pinned: every record of the labelled set
 * (tests/data/injection/attacks.jsonl and benign.jsonl) scanned as its own source (score, signals,
 * strengths, offset) and as every other source (score, signals), inputs of 4,096 bytes cut from the
 * set as bench/injection/run cuts them, and a few thousand deterministic mutations of the
 * set (spliced records with markup, encodings, invisible and look-alike characters
 * inserted, bytes flipped), compared with tests/data/injection/expected_results.txt.
 *
 * The scanner is tuned for speed; this test is what says a faster scanner still finds
 * exactly what the old one found. A change that is meant to change results (new words,
 * rules, weights) rewrites the file, from tests/unit:
 *   SG_INJ_GOLDEN_WRITE=1 ../../build/tests/unit/test_injection_golden
 * then review the file's diff and the figures of bench/injection/run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "guard/injection.h"

#define DATA "../data/injection/"
#define EXPECTED DATA "expected_results.txt"
#define MUTATIONS 3000

struct rec {
    char *text;
    size_t len;
    int src;
};

static struct rec *recs;
static size_t nrecs;

static void load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *j = sg_json_parse(line, (size_t)n, 0, NULL);
        json_t *t = json_object_get(j, "text");
        assert_true(json_is_string(t));
        const char *src = json_string_value(json_object_get(j, "source"));
        int s = src ? sg_inj_source_from_role(src) : SG_INJ_SRC_USER;
        assert_true(s >= 0);
        struct rec *more = realloc(recs, (nrecs + 1) * sizeof(*recs));
        assert_non_null(more);
        recs = more;
        struct rec *r = &recs[nrecs++];
        r->len = json_string_length(t);
        r->text = malloc(r->len + 1);
        assert_non_null(r->text);
        memcpy(r->text, json_string_value(t), r->len + 1);
        r->src = s;
        json_decref(j);
    }
    free(line);
    fclose(f);
}

/* The results, one line per input, appended to a growing buffer. */
struct out {
    char *b;
    size_t n, cap;
};

static void put(struct out *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int l = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert_true(l > 0 && (size_t)l < sizeof(tmp));
    if (o->n + (size_t)l + 1 > o->cap) {
        o->cap = o->cap ? o->cap * 2 : 1 << 16;
        char *b = realloc(o->b, o->cap);
        assert_non_null(b);
        o->b = b;
    }
    memcpy(o->b + o->n, tmp, (size_t)l + 1);
    o->n += (size_t)l;
}

static const struct sg_injection *det;

/* score, signals, offset and every strength */
static void full(struct out *o, const char *t, size_t n, int src)
{
    struct sg_inj_result r;
    assert_int_equal(sg_injection_scan(det, t, n, (enum sg_inj_source)src, &r), 0);
    put(o, " %d/%x/%zu/", r.score, r.signals, r.offset);
    for (int k = 0; k < SG_INJ_NSIGNALS; k++)
        put(o, "%02x", r.strength[k]);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void) /* xorshift64: the same sequence everywhere */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void results(struct out *o)
{
    for (size_t i = 0; i < nrecs; i++) {
        put(o, "rec %zu", i);
        full(o, recs[i].text, recs[i].len, recs[i].src);
        for (int s = 0; s < SG_INJ_SRC_COUNT; s++) {
            struct sg_inj_result r;
            sg_injection_scan(det, recs[i].text, recs[i].len, (enum sg_inj_source)s, &r);
            put(o, " %d/%x", r.score, r.signals);
        }
        put(o, "\n");
    }
    enum { BIG = 1 << 16 };
    char *b = malloc(BIG + 8192);
    assert_non_null(b);
    /* 4,096-byte inputs as the benchmark cuts them (the texts joined by blank lines) */
    size_t k = 0;
    for (int c = 0; c < 96; c++) {
        size_t m = 0;
        while (m < 4096) {
            size_t l = recs[k].len < 4000 ? recs[k].len : 4000;
            memcpy(b + m, recs[k].text, l);
            memcpy(b + m + l, "\n\n", 2);
            m += l + 2;
            k = (k + 1) % nrecs;
        }
        put(o, "4k %d", c);
        full(o, b, 4096, c % SG_INJ_SRC_COUNT);
        put(o, "\n");
    }
    /* mutations: pieces of records with things the scanner treats specially in between */
    static const char *const ins[] = {
        "<",
        ">",
        "<!--",
        "-->",
        "\n",
        "\n\n",
        "\xE2\x80\x8B",
        "\xF3\xA0\x81\xA9",
        "\xF3\xA0\x80\xA0",
        "[",
        "]",
        "![",
        "](",
        "?{",
        "#",
        "## ",
        ":",
        ".",
        "`",
        "<|",
        "|>",
        "=",
        "\xD0\xB0",
        "\xEF\xBD\x81",
        "\xF0\x9D\x90\x9A",
        "\xC3\xA9",
        "\xFF",
        "1",
        "3",
        "A",
        "QWxsIHByZXZpb3VzIGluc3RydWN0aW9ucyBpZ25vcmU",
        "aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=",
        "696e73747275",
        "vtaber",
        "\xE2\x80\xAE",
        "\xF0\x9F\x8F\xB4",
        "<div style='display:none'>",
        "</div>",
        "<span hidden>",
        "IGNORE",
        "DAN",
        " ",
        "\t",
        "\r\n",
        "+",
        "/",
        "_",
        "-",
        "'",
        "\"",
        "\xC2\xA0",
        "\xC2\xAD",
        "", /* "": a NUL byte */
    };
    const size_t nins = sizeof(ins) / sizeof(ins[0]);
    for (int c = 0; c < MUTATIONS; c++) {
        size_t m = 0;
        int parts = 1 + (int)(rnd() % 6);
        for (int p = 0; p < parts; p++) {
            if (rnd() % 2) {
                const struct rec *r = &recs[rnd() % nrecs];
                size_t a = rnd() % (r->len + 1), l = rnd() % (r->len - a + 1);
                if (m + l > BIG)
                    break;
                memcpy(b + m, r->text + a, l);
                m += l;
            }
            for (int q = (int)(rnd() % 8); q > 0; q--) {
                const char *s = ins[rnd() % nins];
                size_t l = s[0] ? strlen(s) : 1, rep = rnd() % 4 == 0 ? rnd() % 40 : 1;
                for (size_t y = 0; y < rep && m + l <= BIG; y++) {
                    memcpy(b + m, s, l);
                    m += l;
                }
            }
        }
        if (m && rnd() % 5 == 0)
            for (int z = 0; z < 3; z++)
                b[rnd() % m] = (char)rnd();
        put(o, "mut %d", c);
        full(o, b, m, (int)(rnd() % SG_INJ_SRC_COUNT));
        put(o, "\n");
    }
    free(b);
}

static void test_results_pinned(void **state)
{
    (void)state;
    load(DATA "attacks.jsonl");
    load(DATA "benign.jsonl");
    assert_true(nrecs > 900);
    struct sg_injection *d;
    struct sg_error err = {0};
    assert_int_equal(sg_injection_new(NULL, &d, &err), 0);
    det = d;
    struct out o = {0};
    results(&o);
    const char *w = getenv("SG_INJ_GOLDEN_WRITE");
    if (w && *w == '1') {
        FILE *f = fopen(EXPECTED, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(o.b, 1, o.n, f), o.n);
        assert_int_equal(fclose(f), 0);
        print_message("wrote %s (%zu bytes)\n", EXPECTED, o.n);
    } else {
        FILE *f = fopen(EXPECTED, "r");
        if (!f)
            fail_msg("cannot open %s (SG_INJ_GOLDEN_WRITE=1 writes it)", EXPECTED);
        char *line = NULL;
        size_t cap = 0, at = 0, lineno = 0, bad = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            lineno++;
            const char *nl = memchr(o.b + at, '\n', o.n - at);
            size_t l = nl ? (size_t)(nl - (o.b + at)) + 1 : o.n - at;
            if (l != (size_t)n || memcmp(o.b + at, line, l) != 0) {
                if (bad++ < 10)
                    print_error("line %zu differs:\n  expected %s  got      %.*s", lineno, line,
                                (int)l, o.b + at);
            }
            at += l;
        }
        free(line);
        fclose(f);
        if (at != o.n)
            fail_msg("%s: %zu lines, fewer than the results", EXPECTED, lineno);
        if (bad)
            fail_msg("%zu of %zu results differ from %s", bad, lineno, EXPECTED);
    }
    free(o.b);
    sg_injection_free(d);
    for (size_t i = 0; i < nrecs; i++)
        free(recs[i].text);
    free(recs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
