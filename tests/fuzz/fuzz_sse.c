/* Fuzz target: the SSE parser (src/http/sse.h) fed the input in fuzzer-chosen pieces, as
 * an upstream stream arrives, and the SSE writer.
 *
 * Invariants: fed in pieces, the parser dispatches the same events (type and data, byte
 * for byte) as fed the whole input at once, ends with the same result and the same
 * pending state; an event's data never exceeds the cap; an event written with
 * sg_sse_write() and parsed again is the same event (line breaks in the data come back
 * as LF, the only line break a data field can carry). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "http/sse.h"

#include "fuzz_util.h"

#define MAX_EVENT 4096 /* small, so that the fuzzer reaches the cap */

/* The events of one run, as "type\0data" records in one buffer. */
struct events {
    struct sg_buf log;
    size_t n;
    size_t stop_at; /* return 1 from the callback at this event (0: never) */
};

static int on_event(void *arg, const char *event, const char *data, size_t len)
{
    struct events *e = arg;
    FUZZ_CHECK(event && data && data[len] == '\0');
    FUZZ_CHECK(len <= MAX_EVENT);
    size_t el = strlen(event);
    FUZZ_CHECK(sg_buf_put_u64(&e->log, el) == 0 && sg_buf_append(&e->log, ":", 1) == 0);
    FUZZ_CHECK(sg_buf_append(&e->log, event, el) == 0);
    FUZZ_CHECK(sg_buf_put_u64(&e->log, len) == 0 && sg_buf_append(&e->log, ":", 1) == 0);
    FUZZ_CHECK(sg_buf_append(&e->log, data, len) == 0);
    e->n++;
    return e->stop_at && e->n == e->stop_at ? 1 : 0;
}

/* Writes one event and parses it back: the same event. */
static int echo_event(void *arg, const char *event, const char *data, size_t len)
{
    (void)arg;
    struct sg_buf w;
    sg_buf_init(&w, 4 * MAX_EVENT);
    FUZZ_CHECK(sg_sse_write(&w, event, data, len) == 0);
    struct events back = {0};
    sg_buf_init(&back.log, 8 * MAX_EVENT);
    struct sg_sse_parser p;
    sg_sse_init(&p, 4 * MAX_EVENT);
    FUZZ_CHECK(sg_sse_feed(&p, w.data, w.len, on_event, &back) == 0);
    FUZZ_CHECK(!sg_sse_pending(&p));
    FUZZ_CHECK(back.n == 1);
    /* the expected record: line breaks (CRLF, CR, LF) in the data become LF */
    struct sg_buf want, norm;
    sg_buf_init(&want, 8 * MAX_EVENT);
    sg_buf_init(&norm, 4 * MAX_EVENT);
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == '\r') {
            if (i + 1 < len && data[i + 1] == '\n')
                i++;
            c = '\n';
        }
        FUZZ_CHECK(sg_buf_append(&norm, &c, 1) == 0);
    }
    /* a data line that starts with a space loses it once when parsed, which the writer
     * compensates by always writing "data: " */
    size_t el = strlen(event);
    FUZZ_CHECK(sg_buf_put_u64(&want, el) == 0 && sg_buf_append(&want, ":", 1) == 0);
    FUZZ_CHECK(sg_buf_append(&want, event, el) == 0);
    FUZZ_CHECK(sg_buf_put_u64(&want, norm.len) == 0 && sg_buf_append(&want, ":", 1) == 0);
    FUZZ_CHECK(sg_buf_append(&want, norm.data ? norm.data : "", norm.len) == 0);
    FUZZ_CHECK(want.len == back.log.len && memcmp(want.data, back.log.data, want.len) == 0);
    sg_buf_free(&want);
    sg_buf_free(&norm);
    sg_sse_free(&p);
    sg_buf_free(&back.log);
    sg_buf_free(&w);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* stop at the third event in half of the inputs: the callback's return value ends
     * parsing and is passed on */
    size_t stop = size && (data[0] & 1) ? 3 : 0;

    struct events whole = {.stop_at = stop};
    sg_buf_init(&whole.log, 64u << 20);
    struct sg_sse_parser p1;
    sg_sse_init(&p1, MAX_EVENT);
    int rc1 = sg_sse_feed(&p1, (const char *)data, size, on_event, &whole);
    FUZZ_CHECK(rc1 == 0 || rc1 == SG_ETOOBIG || rc1 == 1);

    struct events split = {.stop_at = stop};
    sg_buf_init(&split.log, 64u << 20);
    struct sg_sse_parser p2;
    sg_sse_init(&p2, MAX_EVENT);
    struct fuzz_split s;
    fuzz_split_init(&s, data, size);
    const uint8_t *piece;
    size_t len;
    int rc2 = 0;
    while (!rc2 && (piece = fuzz_split_next(&s, &len)))
        rc2 = sg_sse_feed(&p2, (const char *)piece, len, on_event, &split);

    FUZZ_CHECK(rc1 == rc2);
    FUZZ_CHECK(whole.n == split.n);
    FUZZ_CHECK(whole.log.len == split.log.len);
    FUZZ_CHECK(!whole.log.len || memcmp(whole.log.data, split.log.data, whole.log.len) == 0);
    if (rc1 == 0)
        FUZZ_CHECK(sg_sse_pending(&p1) == sg_sse_pending(&p2));
    sg_sse_free(&p1);
    sg_sse_free(&p2);
    sg_buf_free(&whole.log);
    sg_buf_free(&split.log);

    /* every event survives the writer */
    struct sg_sse_parser p3;
    sg_sse_init(&p3, MAX_EVENT);
    sg_sse_feed(&p3, (const char *)data, size, echo_event, NULL);
    sg_sse_free(&p3);
    return 0;
}
