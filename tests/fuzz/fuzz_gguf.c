/* Fuzz target: the bounded GGUF header reader (src/model/gguf.h) and the header check of
 * encrypted model files (src/model/enc.h), both fed untrusted files by `sovgate model`.
 *
 * Invariants: the reader returns 0 or SG_EINVAL, never reads past the input (ASan), and
 * when it succeeds its results are bounded by the input (the header ends inside it, the
 * strings are NUL-terminated within their fields); reading the same bytes twice gives the
 * same result. The encrypted-file header check returns 0 or SG_EINVAL, and on success
 * the sizes it derived are consistent with the file size it was given. */
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "model/enc.h"
#include "model/gguf.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sg_gguf_info a, b;
    struct sg_error e = {0};
    int rc = sg_gguf_read_mem(data, size, &a, &e);
    FUZZ_CHECK(rc == 0 || rc == SG_EINVAL);
    if (rc == 0) {
        FUZZ_CHECK(a.header_bytes <= size);
        FUZZ_CHECK(memchr(a.arch, 0, sizeof(a.arch)) && memchr(a.name, 0, sizeof(a.name)));
        FUZZ_CHECK(a.version == 2 || a.version == 3);
        FUZZ_CHECK(a.n_kv <= SG_GGUF_MAX_KV && a.n_tensors <= SG_GGUF_MAX_TENSORS);
        FUZZ_CHECK(sg_gguf_read_mem(data, size, &b, &e) == 0);
        FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    }
    if (size >= SG_MENC_HEADER) {
        static const uint8_t key[SG_MENC_KEY_LEN] = {7};
        struct sg_menc m;
        rc = sg_menc_open_init(&m, key, data, size, &e);
        FUZZ_CHECK(rc == 0 || rc == SG_EINVAL);
        if (rc == 0) {
            FUZZ_CHECK(sg_menc_encrypted_size(m.size, m.chunk) == size);
            FUZZ_CHECK(m.nchunks >= 1 && sg_menc_chunk_len(&m, m.nchunks - 1) <= m.chunk);
            /* the first chunk must fail authentication (no valid tag can be guessed) or be
             * refused for its length, never succeed without the key */
            size_t n = sg_menc_chunk_len(&m, 0) + SG_MENC_TAG;
            uint8_t out[64];
            if (n <= sizeof(out))
                FUZZ_CHECK(sg_menc_open_chunk(&m, 0, data + SG_MENC_HEADER, n, out, &e) != 0);
        }
        sg_menc_clear(&m);
    }
    return 0;
}
