/* Server-sent events (the WHATWG event-stream format that OpenAI-compatible servers use
 * for streaming): an incremental parser that accepts bytes split anywhere (CRLF, LF or
 * CR line ends, comments, multi-line data) and a writer. */
#ifndef SG_HTTP_SSE_H
#define SG_HTTP_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Called once per dispatched event. `event` is the event type ("" when none was given),
 * `data` the joined data lines (NUL-terminated, `data_len` bytes). Both are borrowed and
 * valid only during the call. Return 0 to continue; a non-zero return stops parsing and
 * is returned by sg_sse_feed(). */
typedef int (*sg_sse_event_fn)(void *arg, const char *event, const char *data, size_t data_len);

struct sg_sse_parser {
    struct sg_buf line;  /* the current, incomplete line */
    struct sg_buf data;  /* data of the event being assembled */
    struct sg_buf event; /* event type of the event being assembled */
    bool has_data;       /* a data field was seen */
    bool after_cr;       /* the previous byte was a CR (a following LF belongs to it) */
    bool started;        /* past a possible byte order mark */
};

/* Initializes a parser; `max_event` caps the bytes of one event (line or data). */
void sg_sse_init(struct sg_sse_parser *p, size_t max_event);
void sg_sse_free(struct sg_sse_parser *p);
/* Feeds `n` bytes. Returns 0, SG_ETOOBIG when an event exceeds the cap, or the first
 * non-zero value returned by `fn`. */
int sg_sse_feed(struct sg_sse_parser *p, const char *in, size_t n, sg_sse_event_fn fn, void *arg);
/* True when bytes of an unfinished event are buffered (a stream that ends here was cut). */
bool sg_sse_pending(const struct sg_sse_parser *p);

/* Appends one event "data: <payload>\n\n" to `out`; a payload with line breaks becomes
 * several data lines. `event` may be NULL. Returns 0 or an sg_buf error. */
int sg_sse_write(struct sg_buf *out, const char *event, const char *data, size_t n);

#endif
