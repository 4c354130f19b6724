/* Unit tests of the chunked AES-256-GCM format of encrypted model weights
 * (src/model/enc.c): round trips at chunk borders, a damaged chunk named in the error,
 * reordered chunks, truncation (by the file size and by a rewritten header), a wrong key,
 * malformed headers, and key loading from env: and file:. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/enc.h"

#include "menc_seal.h"

#define CH 4096u

static uint8_t master[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                             17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* Encrypts `n` bytes of a pattern into a malloc'd file image. */
static uint8_t *seal(size_t n, uint8_t **plain_out, size_t *flen)
{
    uint8_t *plain = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        plain[i] = (uint8_t)(i * 31 + 7);
    *plain_out = plain;
    return menc_seal_image(master, plain, n, CH, flen);
}

/* Decrypts a file image; returns 0 or the first error (its message in `e`). */
static int open_all(const uint8_t *f, size_t flen, const uint8_t *key, uint8_t *out,
                    struct sg_error *e)
{
    struct sg_menc m;
    memset(e, 0, sizeof(*e));
    if (flen < SG_MENC_HEADER)
        return SG_EINVAL;
    int rc = sg_menc_open_init(&m, key, f, flen, e);
    const uint8_t *r = f + SG_MENC_HEADER;
    for (uint64_t i = 0; !rc && i < m.nchunks; i++) {
        size_t k = sg_menc_chunk_len(&m, i);
        rc = sg_menc_open_chunk(&m, i, r, k + SG_MENC_TAG, out + i * CH, e);
        r += k + SG_MENC_TAG;
    }
    sg_menc_clear(&m);
    return rc;
}

static void test_roundtrip(void **state)
{
    (void)state;
    size_t sizes[] = {0, 1, CH - 1, CH, CH + 1, 3 * CH, 3 * CH + 17};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s], flen;
        uint8_t *plain, *f = seal(n, &plain, &flen);
        uint8_t *out = malloc(n + 1);
        struct sg_error e;
        assert_int_equal(open_all(f, flen, master, out, &e), 0);
        assert_memory_equal(out, plain, n);
        assert_true(sg_menc_is_encrypted(f, flen));
        assert_false(sg_menc_is_encrypted((const uint8_t *)"GGUF\3\0\0\0", 8));
        free(out), free(plain), free(f);
    }
}

static void test_damaged_chunk_named(void **state)
{
    (void)state;
    size_t n = 5 * CH + 100, flen;
    uint8_t *plain, *f = seal(n, &plain, &flen), *out = malloc(n);
    struct sg_error e;
    for (int k = 0; k < 6; k++) {
        size_t at = SG_MENC_HEADER + (size_t)k * (CH + SG_MENC_TAG) + 10;
        f[at] ^= 0x40;
        assert_int_equal(open_all(f, flen, master, out, &e), SG_ECRYPTO);
        char want[32];
        snprintf(want, sizeof(want), "chunk %d of 6", k);
        if (!strstr(e.msg, want))
            fail_msg("\"%s\" not in \"%s\"", want, e.msg);
        f[at] ^= 0x40;
    }
    /* a damaged tag too */
    f[flen - 1] ^= 1;
    assert_int_equal(open_all(f, flen, master, out, &e), SG_ECRYPTO);
    assert_non_null(strstr(e.msg, "chunk 5 of 6"));
    f[flen - 1] ^= 1;
    assert_int_equal(open_all(f, flen, master, out, &e), 0);
    free(out), free(plain), free(f);
}

static void test_reorder_and_truncate(void **state)
{
    (void)state;
    size_t n = 4 * CH, flen;
    uint8_t *plain, *f = seal(n, &plain, &flen), *out = malloc(n);
    struct sg_error e;
    /* swap chunks 1 and 2 */
    uint8_t *tmp = malloc(CH + SG_MENC_TAG);
    uint8_t *c1 = f + SG_MENC_HEADER + (CH + SG_MENC_TAG), *c2 = c1 + CH + SG_MENC_TAG;
    memcpy(tmp, c1, CH + SG_MENC_TAG);
    memcpy(c1, c2, CH + SG_MENC_TAG);
    memcpy(c2, tmp, CH + SG_MENC_TAG);
    assert_int_equal(open_all(f, flen, master, out, &e), SG_ECRYPTO);
    assert_non_null(strstr(e.msg, "chunk 1 of 4"));
    memcpy(c2, c1, CH + SG_MENC_TAG);
    memcpy(c1, tmp, CH + SG_MENC_TAG);
    assert_int_equal(open_all(f, flen, master, out, &e), 0);
    /* truncated at a chunk border: the size check names the first missing chunk */
    assert_int_equal(open_all(f, flen - (CH + SG_MENC_TAG), master, out, &e), SG_EINVAL);
    assert_non_null(strstr(e.msg, "truncated"));
    assert_non_null(strstr(e.msg, "chunk 3 of 4"));
    /* truncated and the header rewritten to claim 3 chunks: every chunk fails, and the
     * new last chunk would fail even alone (its AAD says "last") */
    uint8_t *g = malloc(flen);
    memcpy(g, f, flen);
    uint64_t three = 3 * CH;
    for (int i = 0; i < 8; i++)
        g[16 + i] = (uint8_t)(three >> (8 * i));
    assert_int_equal(open_all(g, flen - (CH + SG_MENC_TAG), master, out, &e), SG_ECRYPTO);
    assert_non_null(strstr(e.msg, "chunk 0 of 3"));
    /* trailing bytes */
    assert_int_equal(open_all(f, flen - 1, master, out, &e), SG_EINVAL);
    free(g), free(tmp), free(out), free(plain), free(f);
}

static void test_wrong_key_and_headers(void **state)
{
    (void)state;
    size_t n = 2 * CH, flen;
    uint8_t *plain, *f = seal(n, &plain, &flen), *out = malloc(n);
    struct sg_error e;
    uint8_t other[32];
    memcpy(other, master, 32);
    other[31] ^= 1;
    assert_int_equal(open_all(f, flen, other, out, &e), SG_ECRYPTO);
    assert_non_null(strstr(e.msg, "chunk 0 of 2"));
    struct sg_menc m;
    uint8_t h[SG_MENC_HEADER];
    memcpy(h, f, SG_MENC_HEADER);
    h[0] = 'X';
    assert_int_equal(sg_menc_open_init(&m, master, h, UINT64_MAX, &e), SG_EINVAL);
    sg_menc_clear(&m);
    memcpy(h, f, SG_MENC_HEADER);
    h[8] = 2; /* version */
    assert_int_equal(sg_menc_open_init(&m, master, h, UINT64_MAX, &e), SG_EINVAL);
    sg_menc_clear(&m);
    memcpy(h, f, SG_MENC_HEADER);
    h[12] = 1, h[13] = 0, h[14] = 0, h[15] = 0; /* chunk size 1 */
    assert_int_equal(sg_menc_open_init(&m, master, h, UINT64_MAX, &e), SG_EINVAL);
    sg_menc_clear(&m);
    memcpy(h, f, SG_MENC_HEADER);
    h[60] = 1; /* reserved */
    assert_int_equal(sg_menc_open_init(&m, master, h, UINT64_MAX, &e), SG_EINVAL);
    sg_menc_clear(&m);
    memcpy(h, f, SG_MENC_HEADER);
    h[23] = 0x7f; /* absurd size */
    assert_int_equal(sg_menc_open_init(&m, master, h, UINT64_MAX, &e), SG_EINVAL);
    sg_menc_clear(&m);
    /* a wrong chunk length is refused before any decryption */
    assert_int_equal(sg_menc_open_init(&m, master, f, flen, &e), 0);
    assert_int_equal(sg_menc_open_chunk(&m, 0, f + SG_MENC_HEADER, 10, out, &e), SG_EINVAL);
    assert_int_equal(sg_menc_open_chunk(&m, 7, f + SG_MENC_HEADER, CH + 16, out, &e), SG_EINVAL);
    sg_menc_clear(&m);
    /* two encryptions of the same bytes differ (fresh salt and nonce prefix) */
    size_t flen2;
    uint8_t *plain2, *f2 = seal(n, &plain2, &flen2);
    assert_memory_not_equal(f + 24, f2 + 24, 24);
    free(f2), free(plain2), free(out), free(plain), free(f);
}

static void test_key_load(void **state)
{
    (void)state;
    uint8_t k[32];
    struct sg_error e = {0};
    setenv("SG_TEST_MKEY", "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", 1);
    assert_int_equal(sg_menc_key_load("env:SG_TEST_MKEY", NULL, k, &e), 0);
    assert_memory_equal(k, master, 32);
    setenv("SG_TEST_MKEY", "0102", 1);
    assert_int_equal(sg_menc_key_load("env:SG_TEST_MKEY", NULL, k, &e), SG_EINVAL);
    assert_null(strstr(e.msg, "0102")); /* never echoes the key */
    setenv("SG_TEST_MKEY", "zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", 1);
    assert_int_equal(sg_menc_key_load("env:SG_TEST_MKEY", NULL, k, &e), SG_EINVAL);
    assert_int_equal(sg_menc_key_load("0102", NULL, k, &e), SG_EINVAL); /* inline: refused */
    unsetenv("SG_TEST_MKEY");
    assert_int_not_equal(sg_menc_key_load("env:SG_TEST_MKEY", NULL, k, &e), 0);
    char path[] = "/tmp/sg-test-mkey-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, master, 32), 32); /* 32 raw bytes in a file */
    close(fd);
    char ref[64];
    snprintf(ref, sizeof(ref), "file:%s", path);
    memset(k, 0, 32);
    assert_int_equal(sg_menc_key_load(ref, NULL, k, &e), 0);
    assert_memory_equal(k, master, 32);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_damaged_chunk_named),
        cmocka_unit_test(test_reorder_and_truncate),
        cmocka_unit_test(test_wrong_key_and_headers),
        cmocka_unit_test(test_key_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
