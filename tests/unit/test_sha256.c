/* SHA-256 (src/core/sha256.c, sg_sha256): against OpenSSL's EVP digest at every length
 * around the one- and two-block padding edges, on continued states (the HMAC use), and
 * the FIPS 180-4 examples. Built twice: as test_sha256 (the SHA-NI path where the CPU has
 * it) and as test_sha256_portable (-DSG_SHA256_NO_NI: the plain rounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/crypto.h"
#include "core/sha256.h"

static void reference(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned len = 0;
    assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
    assert_int_equal(len, 32);
}

static void hex_eq(const uint8_t d[32], const char *hex)
{
    char h[65];
    sg_hex_encode(d, 32, h);
    assert_string_equal(h, hex);
}

static void test_fips_examples(void **state)
{
    (void)state;
    uint8_t d[32];
    sg_sha256("", 0, d);
    hex_eq(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sg_sha256("abc", 3, d);
    hex_eq(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sg_sha256(two, strlen(two), d);
    hex_eq(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_every_length(void **state)
{
    (void)state;
    enum { MAX = 1100 };
    uint8_t *buf = malloc(MAX);
    assert_non_null(buf);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < MAX; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    for (size_t n = 0; n <= MAX; n++) {
        uint8_t a[32], b[32];
        /* at an odd offset too: the loads must not assume alignment */
        size_t off = n % 3;
        size_t len = n - (n >= off ? off : 0);
        sg_sha256(buf + off, len, a);
        reference(buf + off, len, b);
        assert_memory_equal(a, b, 32);
    }
    free(buf);
}

/* A state after whole blocks, continued: what an HMAC does with its pad blocks. */
static void test_continued_state(void **state)
{
    (void)state;
    uint8_t msg[64 * 3 + 50];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7 + 1);
    for (size_t blocks = 1; blocks <= 3; blocks++)
        for (size_t tail = 0; tail <= 50; tail += 5) {
            uint32_t st[8];
            memcpy(st, sg_sha256_iv, sizeof(st));
            sg_sha256_blocks(st, msg, blocks);
            uint8_t a[32], b[32];
            sg_sha256_finish(st, 64 * blocks, msg + 64 * blocks, tail, a);
            reference(msg, 64 * blocks + tail, b);
            assert_memory_equal(a, b, 32);
        }
}

static void test_path(void **state)
{
    (void)state;
#ifdef SG_SHA256_NO_NI
    assert_int_equal(sg_sha256_accelerated(), 0);
#endif
    printf("sha256: %s path\n", sg_sha256_accelerated() ? "SHA-NI" : "portable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_examples),
        cmocka_unit_test(test_every_length),
        cmocka_unit_test(test_continued_state),
        cmocka_unit_test(test_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
