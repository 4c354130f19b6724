/* Test helper of the model encryption tests (test_model_enc.c, test_model_stream.c): seals
 * `n` bytes of `plain` with `key` in chunks of `ch` bytes into a malloc'd image of an
 * encrypted weights file (header, then each chunk with its tag); *flen gets its size. The
 * caller frees the image. Include after cmocka.h. */
#ifndef SG_TEST_MENC_SEAL_H
#define SG_TEST_MENC_SEAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/enc.h"

static uint8_t *menc_seal_image(const uint8_t key[32], const uint8_t *plain, size_t n, size_t ch,
                                size_t *flen)
{
    struct sg_menc m;
    struct sg_error e = {0};
    assert_int_equal(sg_menc_seal_init(&m, key, n, ch, &e), 0);
    *flen = (size_t)sg_menc_encrypted_size(n, ch);
    uint8_t *f = malloc(*flen), *w = f;
    assert_non_null(f);
    memcpy(w, m.header, SG_MENC_HEADER);
    w += SG_MENC_HEADER;
    for (uint64_t i = 0; i < m.nchunks; i++) {
        size_t k = sg_menc_chunk_len(&m, i);
        assert_int_equal(sg_menc_seal_chunk(&m, i, plain + i * ch, k, w, &e), 0);
        w += k + SG_MENC_TAG;
    }
    assert_int_equal((size_t)(w - f), *flen);
    sg_menc_clear(&m);
    return f;
}

#endif
