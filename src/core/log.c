/* JSON-lines logger on stderr. */
#include "core/log.h"
#include "core/clock.h"
#include "core/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SG_LOG_LINE_MAX 8192

static atomic_int min_level = SG_LOG_INFO;

#define SG_LOG_BUF 65536
static _Thread_local bool buffered;
static _Thread_local char *tbuf;
static _Thread_local size_t tlen;

static void emit(const char *line, size_t n, bool urgent);
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sg_log_set_level(enum sg_log_level lvl)
{
    atomic_store(&min_level, (int)lvl);
}

int sg_log_parse_level(const char *s, enum sg_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum sg_log_level)i;
            return 0;
        }
    }
    return SG_EINVAL;
}

bool sg_log_enabled(enum sg_log_level lvl)
{
    return (int)lvl >= atomic_load(&min_level);
}

void sg_log_write_raw(const char *line, size_t n)
{
    emit(line, n, true);
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void sg_log_buffered(bool on)
{
    buffered = on;
    if (!on)
        sg_log_flush(); /* writes what is pending and frees the buffer */
}

void sg_log_flush(void)
{
    if (tlen)
        write_all(tbuf, tlen);
    tlen = 0;
    if (!buffered) {
        free(tbuf);
        tbuf = NULL;
    }
}

/* Queues a complete line (with its newline) when buffering, else writes it now. */
static void emit(const char *line, size_t n, bool urgent)
{
    if (buffered && !urgent) {
        if (!tbuf && !(tbuf = malloc(SG_LOG_BUF))) {
            write_all(line, n);
            return;
        }
        if (tlen + n > SG_LOG_BUF)
            sg_log_flush();
        if (n <= SG_LOG_BUF) {
            memcpy(tbuf + tlen, line, n);
            tlen += n;
            return;
        }
    }
    sg_log_flush();
    write_all(line, n);
}

void sg_logline_begin(struct sg_logline *l, enum sg_log_level lvl, const char *event)
{
    char ts[40];
    l->on = sg_log_enabled(lvl);
    l->urgent = lvl >= SG_LOG_WARN;
    sg_buf_init(&l->b, SG_LOG_LINE_MAX);
    if (!l->on)
        return;
    sg_buf_reserve(&l->b, 1024);
    sg_clock_iso8601(ts, sizeof(ts));
    /* appends, not printf: one line per request, and printf's parsing was most of it */
    sg_buf_puts(&l->b, "{\"ts\":\"");
    sg_buf_puts(&l->b, ts);
    sg_buf_puts(&l->b, "\",\"level\":\"");
    sg_buf_puts(&l->b, level_names[lvl]);
    sg_buf_puts(&l->b, "\",\"event\":\"");
    sg_buf_json_escape(&l->b, event, strlen(event));
    sg_buf_puts(&l->b, "\"");
}

/* Appends ,"key": and returns whether the line is still within its cap. The cap keeps
 * 64 bytes in reserve for the closing brace. */
static bool field(struct sg_logline *l, const char *key)
{
    if (!l->on || l->b.len + 64 > l->b.max)
        return false;
    /* Keys are the program's own identifiers (log.h): written as they are, in one append. */
    char k[SG_LOG_KEY_MAX + 4] = ",\"";
    size_t kl = strnlen(key, SG_LOG_KEY_MAX);
    memcpy(k + 2, key, kl);
    memcpy(k + 2 + kl, "\":", 2);
    return sg_buf_append(&l->b, k, kl + 4) == 0;
}

void sg_logline_str(struct sg_logline *l, const char *key, const char *val)
{
    size_t mark = l->b.len;
    if (!field(l, key))
        return;
    if (!val) {
        sg_buf_puts(&l->b, "null");
        return;
    }
    if (sg_buf_puts(&l->b, "\"") || sg_buf_json_escape(&l->b, val, strlen(val)) ||
        l->b.len + 64 > l->b.max || sg_buf_puts(&l->b, "\"")) {
        l->b.len = mark; /* drop the whole field rather than write half of it */
        l->b.data[mark] = '\0';
    }
}

void sg_logline_int(struct sg_logline *l, const char *key, int64_t val)
{
    if (field(l, key))
        sg_buf_put_i64(&l->b, val);
}

void sg_logline_ms(struct sg_logline *l, const char *key, uint64_t us)
{
    if (field(l, key)) {
        char frac[4] = {(char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10),
                        (char)('0' + us % 10), 0};
        sg_buf_put_u64(&l->b, us / 1000);
        sg_buf_append(&l->b, ".", 1);
        sg_buf_append(&l->b, frac, 3);
    }
}

void sg_logline_bool(struct sg_logline *l, const char *key, bool val)
{
    if (field(l, key))
        sg_buf_puts(&l->b, val ? "true" : "false");
}

void sg_logline_end(struct sg_logline *l)
{
    if (l->on && l->b.data) {
        /* The 64-byte reserve guarantees room for the terminator. */
        l->b.max += 2;
        if (sg_buf_puts(&l->b, "}\n") == 0)
            emit(l->b.data, l->b.len, l->urgent);
    }
    sg_buf_free(&l->b);
}

void sg_log(enum sg_log_level lvl, const char *event, const char *fmt, ...)
{
    if (!sg_log_enabled(lvl))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sg_logline l;
    sg_logline_begin(&l, lvl, event);
    sg_logline_str(&l, "msg", msg);
    sg_logline_end(&l);
}
