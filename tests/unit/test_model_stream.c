/* Unit tests of the streaming decryption of encrypted model weights (src/model/stream.c,
 * sg_mstore_decrypt_fd): what the engine loads and what `model verify` checks. Real files
 * and a real memfd: plaintext and SHA-256 exact at chunk borders and when the ring of
 * chunk buffers wraps, with and without an output; a damaged chunk named and no digest; a
 * truncated file, a file with trailing bytes and a damaged header refused before any
 * decryption; an output that cannot be written refused with a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "model/model_int.h"

#include "menc_seal.h"

#define CH 4096u

static const uint8_t master[32] = {9,  8,  7,  6,  5,  4,  3,  2,  1,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* Writes `n` pattern bytes encrypted in chunks of CH into a new temporary file; returns
 * its descriptor (open for reading and writing), the plaintext in `*plain`. */
static int sealed_file(size_t n, uint8_t **plain, size_t *flen)
{
    uint8_t *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + (i >> 12));
    uint8_t *f = menc_seal_image(master, p, n, CH, flen);
    char path[] = "/tmp/sg-test-mstream-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(sg_mstore_write_full(fd, f, *flen), 0);
    free(f);
    *plain = p;
    return fd;
}

/* Flips one bit of the file at `at`. */
static void flip(int fd, size_t at)
{
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)at), 1);
    b ^= 0x20;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)at), 1);
}

/* The whole content of `fd`, whose size must be `n`. */
static void assert_content(int fd, const uint8_t *want, size_t n)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((size_t)st.st_size, n);
    uint8_t *got = malloc(n + 1);
    assert_int_equal(pread(fd, got, n, 0), (ssize_t)n);
    assert_memory_equal(got, want, n);
    free(got);
}

static void test_roundtrip_into_memfd(void **state)
{
    (void)state;
    /* 37 chunks: the ring of 4 buffers wraps many times */
    size_t sizes[] = {0, 1, CH - 1, CH, CH + 1, 3 * CH + 17, 37 * CH + 5};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s], flen;
        uint8_t *plain, want[32], got[32];
        int in = sealed_file(n, &plain, &flen);
        sg_sha256(plain, n, want);
        int out = memfd_create("sg-test", MFD_CLOEXEC);
        assert_true(out >= 0);
        struct sg_error e = {0};
        uint64_t size = 12345;
        assert_int_equal(sg_mstore_decrypt_fd(in, master, out, got, &size, &e), 0);
        assert_int_equal(size, n);
        assert_memory_equal(got, want, 32);
        assert_content(out, plain, n);
        /* without an output (model verify): the same digest */
        memset(got, 0, 32);
        assert_int_equal(sg_mstore_decrypt_fd(in, master, -1, got, &size, &e), 0);
        assert_memory_equal(got, want, 32);
        close(out), close(in), free(plain);
    }
}

static void test_damaged_chunk_refused(void **state)
{
    (void)state;
    size_t n = 9 * CH + 300, flen;
    uint8_t *plain, sha[32];
    int in = sealed_file(n, &plain, &flen);
    struct sg_error e = {0};
    for (int k = 0; k < 10; k += 3) { /* chunks 0, 3, 6, 9 (the last, shorter one) */
        size_t at = SG_MENC_HEADER + (size_t)k * (CH + SG_MENC_TAG) + 100;
        flip(in, at);
        int out = memfd_create("sg-test", MFD_CLOEXEC);
        memset(&e, 0, sizeof(e));
        memset(sha, 0, sizeof(sha));
        assert_int_equal(sg_mstore_decrypt_fd(in, master, out, sha, NULL, &e), SG_ECRYPTO);
        char want[32];
        snprintf(want, sizeof(want), "chunk %d of 10", k);
        if (!strstr(e.msg, want))
            fail_msg("\"%s\" not in \"%s\"", want, e.msg);
        static const uint8_t zero[32];
        assert_memory_equal(sha, zero, 32); /* no digest for refused weights */
        /* verify (no output) names the same chunk */
        assert_int_equal(sg_mstore_decrypt_fd(in, master, -1, sha, NULL, &e), SG_ECRYPTO);
        assert_non_null(strstr(e.msg, want));
        close(out);
        flip(in, at);
    }
    /* the tag of the last chunk */
    flip(in, flen - 1);
    assert_int_equal(sg_mstore_decrypt_fd(in, master, -1, sha, NULL, &e), SG_ECRYPTO);
    assert_non_null(strstr(e.msg, "chunk 9 of 10"));
    flip(in, flen - 1);
    /* a wrong key fails the first chunk */
    uint8_t other[32];
    memcpy(other, master, 32);
    other[0] ^= 1;
    assert_int_equal(sg_mstore_decrypt_fd(in, other, -1, sha, NULL, &e), SG_ECRYPTO);
    assert_non_null(strstr(e.msg, "chunk 0 of 10"));
    /* repaired: decrypts again */
    assert_int_equal(sg_mstore_decrypt_fd(in, master, -1, sha, NULL, &e), 0);
    close(in), free(plain);
}

static void test_truncated_trailing_and_header(void **state)
{
    (void)state;
    size_t n = 4 * CH, flen;
    uint8_t *plain, sha[32];
    int in = sealed_file(n, &plain, &flen);
    struct sg_error e = {0};
    int out = memfd_create("sg-test", MFD_CLOEXEC);
    /* cut inside chunk 2: refused by the size check before any decryption or output */
    assert_int_equal(ftruncate(in, (off_t)(flen - CH - 100)), 0);
    assert_int_equal(sg_mstore_decrypt_fd(in, master, out, sha, NULL, &e), SG_EINVAL);
    assert_non_null(strstr(e.msg, "truncated"));
    assert_non_null(strstr(e.msg, "chunk 2 of 4"));
    struct stat st;
    assert_int_equal(fstat(out, &st), 0);
    assert_int_equal(st.st_size, 0);
    /* trailing bytes */
    assert_int_equal(ftruncate(in, (off_t)(flen + 1)), 0);
    assert_int_equal(sg_mstore_decrypt_fd(in, master, out, sha, NULL, &e), SG_EINVAL);
    assert_non_null(strstr(e.msg, "trailing"));
    /* no complete header */
    assert_int_equal(ftruncate(in, 10), 0);
    assert_int_equal(sg_mstore_decrypt_fd(in, master, out, sha, NULL, &e), SG_EINVAL);
    assert_non_null(strstr(e.msg, "header"));
    close(in), free(plain);
    /* a changed header byte (the plaintext size) */
    in = sealed_file(n, &plain, &flen);
    flip(in, 16);
    assert_int_equal(sg_mstore_decrypt_fd(in, master, out, sha, NULL, &e), SG_EINVAL);
    flip(in, 16);
    flip(in, 30); /* the salt: every chunk fails */
    assert_int_equal(sg_mstore_decrypt_fd(in, master, out, sha, NULL, &e), SG_ECRYPTO);
    assert_non_null(strstr(e.msg, "chunk 0 of 4"));
    close(out), close(in), free(plain);
}

static void test_output_not_writable(void **state)
{
    (void)state;
    size_t n = 6 * CH, flen;
    uint8_t *plain, sha[32];
    int in = sealed_file(n, &plain, &flen);
    struct sg_error e = {0};
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    /* the pipe's reading end cannot be written */
    assert_int_equal(sg_mstore_decrypt_fd(in, master, pfd[0], sha, NULL, &e), SG_EIO);
    assert_non_null(strstr(e.msg, "cannot write the decrypted weights"));
    close(pfd[0]), close(pfd[1]), close(in), free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_into_memfd),
        cmocka_unit_test(test_damaged_chunk_refused),
        cmocka_unit_test(test_truncated_trailing_and_header),
        cmocka_unit_test(test_output_not_writable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
