/* Unit tests of the fast JSON parser and serializer (src/core/json.c): the values built
 * equal jansson's own, errors carry the right kind and offset, and random and mutated
 * inputs are accepted exactly when jansson accepts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/json.h"

static void roundtrip(const char *text)
{
    struct sg_json_error e;
    json_t *a = sg_json_parse(text, strlen(text), 0, &e);
    if (!a)
        fail_msg("rejected %s: %s at %zu", text, e.text, e.offset);
    json_t *b = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    struct sg_buf out;
    sg_buf_init(&out, 1 << 20);
    assert_int_equal(sg_json_dump(a, &out), 0);
    json_t *c = json_loadb(out.data, out.len, JSON_DECODE_ANY, NULL);
    assert_non_null(c);
    assert_true(json_equal(a, c));
    /* Same bytes as jansson's compact output (key order is insertion order in both). */
    char *j = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_string_equal(out.data, j);
    free(j);
    sg_buf_free(&out);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_values(void **state)
{
    (void)state;
    roundtrip("{}");
    roundtrip("[]");
    roundtrip("{\"a\":[1,-2,3.5,1e3,-0.0,true,false,null,\"x\"],\"b\":{\"c\":\"d\"}}");
    roundtrip("\"tab\\there \\\"q\\\" back\\\\slash \\/ \\b\\f\\n\\r \\u00e9 \\ud83d\\ude00\"");
    roundtrip("\"M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x98\x80\"");
    roundtrip("  [ 1 , 2 ]  ");
    roundtrip("9223372036854775807");
    roundtrip("-9223372036854775808");
    roundtrip("0.1");
    roundtrip("\"\\u001f control\"");
}

static void expect_error(const char *text, size_t n, enum sg_json_errkind kind, size_t offset)
{
    struct sg_json_error e;
    json_t *v = sg_json_parse(text, n, SG_JSON_REJECT_DUPLICATES, &e);
    if (v)
        fail_msg("accepted %.*s", (int)n, text);
    assert_int_equal(e.kind, kind);
    assert_int_equal(e.offset, offset);
    assert_non_null(e.text);
}

#define ERR(s, kind, off) expect_error((s), sizeof(s) - 1, (kind), (off))

static void test_errors(void **state)
{
    (void)state;
    ERR("", SG_JSON_ESYNTAX, 0);
    ERR("{\"a\":1,}", SG_JSON_ESYNTAX, 7);
    ERR("{\"a\" 1}", SG_JSON_ESYNTAX, 5);
    ERR("[1 2]", SG_JSON_ESYNTAX, 3);
    ERR("{\"a\":1} x", SG_JSON_ESYNTAX, 8);
    ERR("tru", SG_JSON_ESYNTAX, 0);
    ERR("01", SG_JSON_ESYNTAX, 1);
    ERR("1.", SG_JSON_ESYNTAX, 0);
    ERR("99999999999999999999", SG_JSON_ESYNTAX, 0);
    ERR("\"abc", SG_JSON_ESYNTAX, 4);
    ERR("\"a\x01\"", SG_JSON_ESYNTAX, 2);
    ERR("\"\\x\"", SG_JSON_ESYNTAX, 1);
    ERR("\"\\u0000\"", SG_JSON_ESYNTAX, 1);
    ERR("\"\\ud800\"", SG_JSON_ESYNTAX, 1);
    ERR("\"\\udc00\"", SG_JSON_ESYNTAX, 1);
    ERR("\"a\xff\"", SG_JSON_EUTF8, 2);
    ERR("\"\xc0\xaf\"", SG_JSON_EUTF8, 1);         /* overlong '/' */
    ERR("\"\xed\xa0\x80\"", SG_JSON_EUTF8, 1);     /* UTF-8 encoded surrogate */
    ERR("\"\xf4\x90\x80\x80\"", SG_JSON_EUTF8, 1); /* above U+10FFFF */
    ERR("\"\xe2\x82\"", SG_JSON_EUTF8, 1);         /* truncated */
    ERR("{\"a\":1,\"b\":2,\"a\":3}", SG_JSON_EDUPKEY, 13);
    /* a key spelled with an escape is the same key as the plain one, either way round */
    ERR("{\"model\":1,\"mod\\u0065l\":2}", SG_JSON_EDUPKEY, 11);
    ERR("{\"mod\\u0065l\":1,\"model\":2}", SG_JSON_EDUPKEY, 16);
    static const char nul[] = "[1,\0]";
    expect_error(nul, sizeof(nul) - 1, SG_JSON_ESYNTAX, 3);
    /* Duplicates are allowed without the flag (the last one wins, as in jansson). */
    json_t *v = sg_json_parse("{\"a\":1,\"a\":2}", 13, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 2);
    json_decref(v);
    /* keys taken from the input keep exactly their bytes (no neighbour leaks in) */
    v = sg_json_parse("{\"ab\":1,\"a\":2,\"b\\n\":3}", 22, SG_JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(v);
    assert_int_equal(json_object_size(v), 3);
    assert_int_equal(json_integer_value(json_object_get(v, "ab")), 1);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "b\n")), 3);
    json_decref(v);
}

static void test_depth(void **state)
{
    (void)state;
    size_t n = SG_JSON_MAX_DEPTH;
    char *s = malloc(2 * n + 2);
    memset(s, '[', n);
    memset(s + n, ']', n);
    json_t *v = sg_json_parse(s, 2 * n, 0, NULL);
    assert_non_null(v); /* exactly the maximum */
    json_decref(v);
    s[0] = '[';
    memmove(s + 1, s, 2 * n);
    s[2 * n + 1] = ']';
    struct sg_json_error e;
    assert_null(sg_json_parse(s, 2 * n + 2, 0, &e));
    assert_int_equal(e.kind, SG_JSON_EDEPTH);
    free(s);
}

static void test_dump_cap(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s}", "k", "0123456789012345678901234567890123456789");
    struct sg_buf out;
    sg_buf_init(&out, 16);
    assert_int_equal(sg_json_dump(v, &out), SG_ETOOBIG);
    sg_buf_free(&out);
    json_decref(v);
}

/* Random and mutated documents: accepted exactly when jansson accepts them, with equal
 * values. xorshift keeps it deterministic. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void test_agrees_with_jansson(void **state)
{
    (void)state;
    static const char *seeds[] = {
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi \\u00e9\"}]}",
        "[1,2.5e-3,true,null,{\"a\":[\"\\ud83d\\ude00\",\"x\\ny\"]}]",
        "{\"a\":{\"b\":{\"c\":[[[]]]}},\"n\":-12,\"s\":\"\xc3\xa4\xe2\x82\xac\"}",
    };
    static const char alphabet[] =
        "{}[]\",:\\u0123456789abcdefnrt.-+eE \t\n\x01\x7f\x80\xc3\xa4\xff";
    for (int iter = 0; iter < 200000; iter++) {
        char buf[256];
        const char *seed = seeds[iter % 3];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int edits = 1 + (int)(next() % 4);
        for (int k = 0; k < edits; k++) {
            uint32_t op = next() % 3, pos = next() % (uint32_t)(n ? n : 1);
            char c = alphabet[next() % (sizeof(alphabet) - 1)];
            if (op == 0 && n) {
                buf[pos] = c;
            } else if (op == 1 && n < sizeof(buf) - 1) {
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = c;
                n++;
            } else if (n > 1) {
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
            }
        }
        json_t *a = sg_json_parse(buf, n, 0, NULL);
        json_error_t je;
        json_t *b = json_loadb(buf, n, JSON_DECODE_ANY, &je);
        if ((a == NULL) != (b == NULL))
            fail_msg("disagree on %.*s: ours %s, jansson %s", (int)n, buf, a ? "ok" : "error",
                     b ? "ok" : je.text);
        if (a)
            assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
}

/* The vector scan of sg_json_plain_prefix against the byte-by-byte definition: every
 * special byte (controls, '"', '\\', 0x80..0xff) at every position of strings of every
 * length up to 200, so each of the 64-byte (AVX-512, where the CPU has it), 16-byte,
 * 8-byte and byte loops meets it. */
static void test_plain_prefix(void **state)
{
    (void)state;
    char s[208];
    const unsigned char specials[] = {0x00, 0x01, 0x1f, '"', '\\', 0x7f + 1, 0xc3, 0xff};
    for (size_t n = 0; n <= 200; n++) {
        memset(s, 'a', sizeof(s));
        assert_int_equal(sg_json_plain_prefix(s, n), n);
        for (size_t at = 0; at < n; at++) {
            for (size_t k = 0; k < sizeof(specials); k++) {
                memset(s, 'a', sizeof(s));
                s[at] = (char)specials[k];
                if (at + 1 < n)
                    s[at + 1] = '"'; /* a later special does not matter */
                assert_int_equal(sg_json_plain_prefix(s, n), at);
            }
            /* bytes that are not special: space, '~', 0x7f */
            memset(s, 'a', sizeof(s));
            s[at] = at % 3 == 0 ? ' ' : at % 3 == 1 ? '~' : 0x7f;
            assert_int_equal(sg_json_plain_prefix(s, n), n);
        }
    }
}

/* sg_strlcpy: cut to fit, stops at NUL or after n bytes, always terminated. */
/* sg_json_unescape on its own: the inside of a string literal, in place, and every escape
 * it must refuse with the offset of the backslash (also a cut one, which the parser never
 * hands it). */
static void test_unescape(void **state)
{
    (void)state;
    char buf[64];
    size_t n, at = 99;
    strcpy(buf, "a\\\"b\\\\c\\/\\n\\u00e9\\ud83d\\ude00");
    assert_null(sg_json_unescape(buf, strlen(buf), buf, &n, &at)); /* in place */
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80", n);
    struct {
        const char *in;
        size_t at;
    } bad[] = {{"ab\\", 2},          {"\\q", 0},       {"x\\u12", 1},  {"\\u12g4", 0},
               {"\\u0000", 0},       {"ok\\udc00", 2}, {"\\ud83d", 0}, {"\\ud83dx\\ude00", 0},
               {"\\ud83d\\u0041", 0}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        at = 99;
        assert_non_null(sg_json_unescape(bad[i].in, strlen(bad[i].in), buf, &n, &at));
        assert_int_equal(at, bad[i].at);
    }
    /* bytes that are no escape pass as they are (the caller checks UTF-8) */
    assert_null(sg_json_unescape("\t\xff", 2, buf, &n, &at));
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "\t\xff", 2);
}

static void test_strlcpy(void **state)
{
    (void)state;
    char d[6];
    memset(d, 'x', sizeof(d));
    assert_int_equal(sg_strlcpy(d, sizeof(d), "abc", SIZE_MAX), 3);
    assert_string_equal(d, "abc");
    assert_int_equal(sg_strlcpy(d, sizeof(d), "abcdefgh", SIZE_MAX), 5);
    assert_string_equal(d, "abcde");
    assert_int_equal(sg_strlcpy(d, sizeof(d), "abcdefgh", 2), 2);
    assert_string_equal(d, "ab");
    assert_int_equal(sg_strlcpy(d, sizeof(d), "ab\0cd", 5), 2);
    assert_string_equal(d, "ab");
    assert_int_equal(sg_strlcpy(d, 1, "abc", SIZE_MAX), 0);
    assert_string_equal(d, "");
    /* n bytes of a string that is not terminated within them: never read past n */
    const char unterminated[3] = {'x', 'y', 'z'};
    assert_int_equal(sg_strlcpy(d, sizeof(d), unterminated, 3), 3);
    assert_string_equal(d, "xyz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_prefix), cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_unescape),     cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_depth),
        cmocka_unit_test(test_dump_cap),     cmocka_unit_test(test_agrees_with_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
