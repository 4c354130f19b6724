/* Unit tests of the bounded GGUF header reader (src/model/gguf.c): a well-formed header
 * read field by field, every truncation of it, and malformed and hostile headers (huge
 * counts and lengths, overflowing dimensions, nested arrays, unknown types), plus random
 * mutations that must be refused or read, never crash (the ASan build checks that). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/gguf.h"

#include "gguf_build.h"

/* A small, valid model header followed by some data bytes. */
static void good(struct gb *b)
{
    head(b, 3, 2, 6);
    kv_str(b, "general.architecture", "llama");
    kv_str(b, "general.name", "tiny");
    kv_u32(b, "llama.context_length", 4096);
    kv_u32(b, "general.file_type", 7);
    kv_str(b, "tokenizer.chat_template", "hi");
    str(b, "tokenizer.ggml.tokens"); /* an array of 3 strings */
    u32(b, 9);
    u32(b, 8);
    u64(b, 3);
    str(b, "a"), str(b, "bc"), str(b, "");
    uint64_t ne2[2] = {4, 8}, ne1[1] = {4};
    tensor(b, "w", 2, ne2, 8, 0);
    tensor(b, "n", 1, ne1, 0, 64);
    for (int i = 0; i < 128; i++)
        u8(b, 0);
}

static int rd(const struct gb *b, struct sg_gguf_info *g, struct sg_error *e)
{
    memset(e, 0, sizeof(*e));
    return sg_gguf_read_mem(b->p, b->n, g, e);
}

static void test_good(void **state)
{
    (void)state;
    struct gb b;
    struct sg_gguf_info g;
    struct sg_error e;
    good(&b);
    assert_int_equal(rd(&b, &g, &e), 0);
    assert_int_equal(g.version, 3);
    assert_string_equal(g.arch, "llama");
    assert_string_equal(g.name, "tiny");
    assert_int_equal(g.context_length, 4096);
    assert_int_equal(g.file_type, 7);
    assert_string_equal(sg_gguf_ftype_name(g.file_type), "Q8_0");
    assert_int_equal(g.n_params, 36);
    assert_int_equal(g.n_tensors, 2);
    assert_int_equal(g.dominant_type, 8);
    assert_true(g.has_chat_template);
    uint8_t h[32];
    sg_sha256("hi", 2, h);
    assert_memory_equal(g.chat_template_sha256, h, 32);
    assert_int_equal(g.header_bytes, b.n - 128);

    /* the same through a file descriptor */
    char path[] = "/tmp/sg-test-gguf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.p, b.n), (ssize_t)b.n);
    struct sg_gguf_info g2;
    assert_int_equal(sg_gguf_read_fd(fd, &g2, &e), 0);
    assert_memory_equal(&g, &g2, sizeof(g));
    close(fd);
    unlink(path);
}

/* Whether `s` is well-formed UTF-8 without C0 or C1 control characters. */
static bool printable_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n = c < 0x80                ? 0
                             : c >= 0xc2 && c < 0xe0 ? 1
                             : c >= 0xe0 && c < 0xf0 ? 2
                             : c >= 0xf0 && c < 0xf5 ? 3
                                                     : 9;
        if (n == 9 || c < 0x20 || c == 0x7f)
            return false;
        uint32_t cp = n == 0 ? c : c & (0x3f >> n);
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp >= 0x80 && cp < 0xa0)
            return false;
        p += n + 1;
    }
    return true;
}

/* The architecture and name come from the file: what the reader gives back is printable
 * UTF-8 (invalid bytes and control characters replaced, a truncation never cutting a
 * character in two), so that the manifest (jansson refuses invalid UTF-8) and `model
 * inspect` always carry them; <arch>.context_length is still matched on the raw name. */
static void test_strings_are_printable_utf8(void **state)
{
    (void)state;
    struct gb b;
    struct sg_gguf_info g;
    struct sg_error e;
    char name[201];
    for (int i = 0; i < 100; i++)
        name[2 * i] = (char)0xc3, name[2 * i + 1] = (char)0xa9; /* U+00E9, 200 bytes */
    name[200] = '\0';
    head(&b, 3, 1, 3);
    kv_str(&b, "general.architecture", "ll\"a\x1b[31m\xff\xc2\x9b");
    kv_str(&b, "general.name", name);
    kv_u32(&b, "ll\"a\x1b[31m\xff\xc2\x9b.context_length", 512);
    uint64_t ne1[1] = {4};
    tensor(&b, "n", 1, ne1, 0, 0);
    for (int i = 0; i < 16; i++)
        u8(&b, 0);
    assert_int_equal(rd(&b, &g, &e), 0);
    if (!printable_utf8(g.arch))
        fail_msg("arch is not printable UTF-8");
    assert_string_equal(g.arch, "ll\"a?[31m??");
    if (!printable_utf8(g.name))
        fail_msg("name is not printable UTF-8 (%zu bytes)", strlen(g.name));
    assert_int_equal(strlen(g.name), 126);
    assert_int_equal(g.context_length, 512);
}

static void test_every_truncation(void **state)
{
    (void)state;
    struct gb b;
    struct sg_gguf_info g;
    struct sg_error e;
    good(&b);
    size_t full = b.n - 128; /* the header; the data after it is not read */
    for (size_t n = 0; n < full; n++) {
        b.n = n;
        assert_int_equal(rd(&b, &g, &e), SG_EINVAL);
        assert_non_null(strstr(e.msg, "GGUF"));
    }
}

static void expect_bad(struct gb *b, const char *needle)
{
    struct sg_gguf_info g;
    struct sg_error e;
    for (int i = 0; i < 64; i++)
        u8(b, 0); /* some slack so that lengths, not the end, decide */
    assert_int_equal(rd(b, &g, &e), SG_EINVAL);
    if (needle && !strstr(e.msg, needle))
        fail_msg("\"%s\" not in \"%s\"", needle, e.msg);
}

static void test_header_fields(void **state)
{
    (void)state;
    struct gb b;
    head(&b, 3, 0, 0);
    b.p[0] = 'X';
    expect_bad(&b, "magic");
    head(&b, 1, 0, 0);
    expect_bad(&b, "version 1");
    head(&b, 4, 0, 0);
    expect_bad(&b, "version 4");
    head(&b, 3, 0, (uint64_t)SG_GGUF_MAX_KV + 1);
    expect_bad(&b, "metadata pairs");
    head(&b, 3, UINT64_MAX, 0);
    expect_bad(&b, "tensors");
}

static void test_hostile_lengths(void **state)
{
    (void)state;
    struct gb b;
    head(&b, 3, 0, 1); /* key length 2^63 */
    u64(&b, 1ull << 63);
    expect_bad(&b, "key");
    head(&b, 3, 0, 1); /* key longer than the cap */
    u64(&b, SG_GGUF_MAX_KEY + 1);
    expect_bad(&b, "key");
    head(&b, 3, 0, 1); /* string value longer than the file */
    str(&b, "general.name");
    u32(&b, 8);
    u64(&b, 100000);
    expect_bad(&b, "general.name");
    head(&b, 3, 0, 1); /* u64 array whose byte size overflows */
    str(&b, "x");
    u32(&b, 9);
    u32(&b, 10);
    u64(&b, UINT64_MAX / 4);
    expect_bad(&b, "value of x");
    head(&b, 3, 0, 1); /* string array of 2^62 strings */
    str(&b, "x");
    u32(&b, 9);
    u32(&b, 8);
    u64(&b, 1ull << 62);
    expect_bad(&b, "value of x");
    head(&b, 3, 0, 1); /* a key with a NUL byte */
    u64(&b, 3);
    u8(&b, 'a'), u8(&b, 0), u8(&b, 'b');
    u32(&b, 4);
    u32(&b, 1);
    expect_bad(&b, "NUL");
}

static void test_bad_types(void **state)
{
    (void)state;
    struct gb b;
    head(&b, 3, 0, 1); /* unknown value type */
    str(&b, "x");
    u32(&b, 13);
    expect_bad(&b, "unknown value type");
    head(&b, 3, 0, 1); /* nested array */
    str(&b, "x");
    u32(&b, 9);
    u32(&b, 9);
    u64(&b, 1);
    expect_bad(&b, "nested");
    head(&b, 3, 0, 1); /* unknown element type */
    str(&b, "x");
    u32(&b, 9);
    u32(&b, 77);
    u64(&b, 1);
    expect_bad(&b, "element type");
    head(&b, 3, 0, 1); /* negative file type */
    str(&b, "general.file_type");
    u32(&b, 5);
    u32(&b, 0xffffffffu);
    expect_bad(&b, "file_type");
    head(&b, 3, 0, 1); /* a float file type */
    str(&b, "general.file_type");
    u32(&b, 6);
    u32(&b, 0x3f800000u);
    expect_bad(&b, "file_type");
    /* a string file_type is not ours to interpret: ignored */
    head(&b, 3, 0, 1);
    kv_str(&b, "general.file_type", "Q8_0");
    struct sg_gguf_info g;
    struct sg_error e;
    assert_int_equal(rd(&b, &g, &e), 0);
    assert_int_equal(g.file_type, -1);
}

static void test_hostile_tensors(void **state)
{
    (void)state;
    struct gb b;
    uint64_t ne[5] = {4, 4, 4, 4, 4};
    head(&b, 3, 1, 0);
    tensor(&b, "t", 0, ne, 0, 0);
    expect_bad(&b, "dimensions");
    head(&b, 3, 1, 0);
    tensor(&b, "t", 5, ne, 0, 0);
    expect_bad(&b, "dimensions");
    uint64_t zero[2] = {4, 0};
    head(&b, 3, 1, 0);
    tensor(&b, "t", 2, zero, 0, 0);
    expect_bad(&b, "dimension out of range");
    uint64_t big[3] = {1ull << 32, 1ull << 32, 2};
    head(&b, 3, 1, 0);
    tensor(&b, "t", 3, big, 0, 0);
    expect_bad(&b, "dimension out of range");
    uint64_t neg[1] = {1ull << 63};
    head(&b, 3, 1, 0);
    tensor(&b, "t", 1, neg, 0, 0);
    expect_bad(&b, "dimension out of range");
    uint64_t half[2] = {1ull << 31, 1ull << 31}; /* 2^62 each: the sum overflows at 4 */
    head(&b, 3, 4, 0);
    for (int i = 0; i < 4; i++)
        tensor(&b, "t", 2, half, 0, 0);
    expect_bad(&b, "overflows");
    uint64_t ok[1] = {4};
    head(&b, 3, 1, 0);
    tensor(&b, "t", 1, ok, 4, 0); /* ggml type 4 was removed */
    expect_bad(&b, "unknown type");
    head(&b, 3, 1, 0);
    tensor(&b, "t", 1, ok, 0, 1ull << 40);
    expect_bad(&b, "offset");
}

/* Tensor offsets count from the data section (after the tensor table, at the next
 * multiple of general.alignment): an offset inside the file but past the data's end is
 * refused; a key of exactly SG_GGUF_MAX_KEY bytes is read, a longer one refused as such. */
static void test_data_section_and_key_length(void **state)
{
    (void)state;
    struct gb b;
    struct sg_gguf_info g;
    struct sg_error e;
    uint64_t ne[1] = {4};
    /* header, table, padding to 32, then 16 bytes of data */
    for (uint64_t off = 0; off <= 16; off += 8) {
        head(&b, 3, 1, 0);
        tensor(&b, "t", 1, ne, 0, off);
        while (b.n % 32)
            u8(&b, 0);
        for (int i = 0; i < 16; i++)
            u8(&b, 0);
        if (off < 16) {
            assert_int_equal(rd(&b, &g, &e), 0);
            assert_int_equal(g.alignment, 32);
        } else {
            assert_int_equal(rd(&b, &g, &e), SG_EINVAL);
            assert_non_null(strstr(e.msg, "data section"));
        }
    }
    /* general.alignment 256: the same 16 data bytes after a 32-byte boundary are not
     * where the data starts */
    head(&b, 3, 1, 1);
    kv_u32(&b, "general.alignment", 256);
    tensor(&b, "t", 1, ne, 0, 0);
    while (b.n % 32)
        u8(&b, 0);
    size_t at32 = b.n;
    for (int i = 0; i < 16; i++)
        u8(&b, 0);
    if (at32 % 256) {
        assert_int_equal(rd(&b, &g, &e), SG_EINVAL);
        assert_non_null(strstr(e.msg, "data section"));
    }
    while (b.n % 256)
        u8(&b, 0);
    for (int i = 0; i < 16; i++)
        u8(&b, 0);
    assert_int_equal(rd(&b, &g, &e), 0);
    assert_int_equal(g.alignment, 256);
    head(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 48);
    expect_bad(&b, "power of two");
    /* keys: 1024 bytes read, 1025 refused by length */
    static char key[SG_GGUF_MAX_KEY + 2];
    memset(key, 'k', SG_GGUF_MAX_KEY);
    key[SG_GGUF_MAX_KEY] = '\0';
    head(&b, 3, 0, 1);
    kv_u32(&b, key, 1);
    assert_int_equal(rd(&b, &g, &e), 0);
    key[SG_GGUF_MAX_KEY] = 'k';
    key[SG_GGUF_MAX_KEY + 1] = '\0';
    head(&b, 3, 0, 1);
    kv_u32(&b, key, 1);
    expect_bad(&b, "metadata key");
}

static void test_mutations(void **state)
{
    (void)state;
    struct gb b0, b;
    good(&b0);
    srand(12345);
    for (int it = 0; it < 20000; it++) {
        b = b0;
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)rand() % (b.n - 128);
            b.p[at] = (uint8_t)rand();
        }
        struct sg_gguf_info g;
        struct sg_error e;
        int rc = rd(&b, &g, &e);
        assert_true(rc == 0 || rc == SG_EINVAL);
        if (rc == 0)
            assert_true(g.header_bytes <= b.n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_bad_types),
        cmocka_unit_test(test_hostile_tensors),
        cmocka_unit_test(test_data_section_and_key_length),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_strings_are_printable_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
