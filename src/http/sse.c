/* Event-stream parser per the WHATWG HTML "server-sent events" interpretation rules. */
#include "http/sse.h"
#include "core/error.h"

#include <string.h>

void sg_sse_init(struct sg_sse_parser *p, size_t max_event)
{
    memset(p, 0, sizeof(*p));
    sg_buf_init(&p->line, max_event);
    sg_buf_init(&p->data, max_event);
    sg_buf_init(&p->event, 256);
}

void sg_sse_free(struct sg_sse_parser *p)
{
    sg_buf_free(&p->line);
    sg_buf_free(&p->data);
    sg_buf_free(&p->event);
}

bool sg_sse_pending(const struct sg_sse_parser *p)
{
    return p->line.len > 0 || p->has_data;
}

/* Processes one complete line (without its terminator). */
static int on_line(struct sg_sse_parser *p, const char *s, size_t n, sg_sse_event_fn fn, void *arg)
{
    if (n == 0) {
        int rc = 0;
        if (p->has_data) {
            /* Remove the trailing LF that every data line appended. */
            size_t dl = p->data.len ? p->data.len - 1 : 0;
            if (p->data.data)
                p->data.data[dl] = '\0';
            rc = fn(arg, p->event.data ? p->event.data : "", p->data.data ? p->data.data : "", dl);
        }
        sg_buf_reset(&p->data);
        sg_buf_reset(&p->event);
        p->has_data = false;
        return rc;
    }
    if (s[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        int rc = sg_buf_append(&p->data, v, vlen);
        if (!rc)
            rc = sg_buf_append(&p->data, "\n", 1);
        if (rc)
            return SG_ETOOBIG;
        p->has_data = true;
    } else if (flen == 5 && memcmp(s, "event", 5) == 0) {
        sg_buf_reset(&p->event);
        if (sg_buf_append(&p->event, v, vlen))
            return SG_ETOOBIG;
    }
    /* id, retry and unknown fields are ignored. */
    return 0;
}

int sg_sse_feed(struct sg_sse_parser *p, const char *in, size_t n, sg_sse_event_fn fn, void *arg)
{
    size_t i = 0;
    if (!p->started && n > 0) {
        /* A UTF-8 byte order mark may precede the stream; it can arrive split. */
        static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
        while (i < n && p->line.len < 3 && (unsigned char)in[i] == bom[p->line.len]) {
            sg_buf_append(&p->line, in + i, 1);
            i++;
        }
        if (p->line.len == 3) {
            sg_buf_reset(&p->line);
            p->started = true;
        } else if (i < n) {
            p->started = true; /* not a BOM: what we held is ordinary line content */
        }
    }
    while (i < n) {
        char c = in[i];
        if (p->after_cr) {
            p->after_cr = false;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        /* Fast path: find the next line end in the input. */
        size_t j = i;
        while (j < n && in[j] != '\n' && in[j] != '\r')
            j++;
        if (j == n) {
            if (sg_buf_append(&p->line, in + i, n - i))
                return SG_ETOOBIG;
            return 0;
        }
        int rc;
        if (p->line.len) {
            if (sg_buf_append(&p->line, in + i, j - i))
                return SG_ETOOBIG;
            rc = on_line(p, p->line.data, p->line.len, fn, arg);
            sg_buf_reset(&p->line);
        } else {
            if (j - i > p->line.max)
                return SG_ETOOBIG;
            rc = on_line(p, in + i, j - i, fn, arg);
        }
        if (rc)
            return rc;
        p->after_cr = in[j] == '\r';
        i = j + 1;
    }
    return 0;
}

int sg_sse_write(struct sg_buf *out, const char *event, const char *data, size_t n)
{
    int rc = 0;
    if (event && *event) {
        if ((rc = sg_buf_puts(out, "event: ")) || (rc = sg_buf_puts(out, event)) ||
            (rc = sg_buf_puts(out, "\n")))
            return rc;
    }
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && data[j] != '\n' && data[j] != '\r')
            j++;
        if ((rc = sg_buf_puts(out, "data: ")) || (rc = sg_buf_append(out, data + i, j - i)) ||
            (rc = sg_buf_puts(out, "\n")))
            return rc;
        if (j >= n)
            break;
        if (data[j] == '\r' && j + 1 < n && data[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    return sg_buf_puts(out, "\n");
}
