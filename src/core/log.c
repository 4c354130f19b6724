/* JSON-lines logger on stderr. */
#include "core/log.h"
#include "core/clock.h"
#include "core/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SG_LOG_LINE_MAX 8192

static atomic_int min_level = SG_LOG_INFO;
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
    /* One write per line; retry on EINTR and short writes (pipes may split lines over
     * PIPE_BUF, which is acceptable for such rare long lines). */
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        line += w;
        n -= (size_t)w;
    }
}

void sg_logline_begin(struct sg_logline *l, enum sg_log_level lvl, const char *event)
{
    char ts[40];
    l->on = sg_log_enabled(lvl);
    sg_buf_init(&l->b, SG_LOG_LINE_MAX);
    if (!l->on)
        return;
    sg_clock_iso8601(ts, sizeof(ts));
    sg_buf_printf(&l->b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", ts, level_names[lvl]);
    sg_buf_json_escape(&l->b, event, strlen(event));
    sg_buf_puts(&l->b, "\"");
}

/* Appends ,"key": and returns whether the line is still within its cap. The cap keeps
 * 64 bytes in reserve for the closing brace. */
static bool field(struct sg_logline *l, const char *key)
{
    if (!l->on || l->b.len + 64 > l->b.max)
        return false;
    size_t mark = l->b.len;
    if (sg_buf_puts(&l->b, ",\"") || sg_buf_json_escape(&l->b, key, strlen(key)) ||
        sg_buf_puts(&l->b, "\":")) {
        l->b.len = mark;
        return false;
    }
    return true;
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
        sg_buf_printf(&l->b, "%" PRId64, val);
}

void sg_logline_ms(struct sg_logline *l, const char *key, uint64_t us)
{
    if (field(l, key))
        sg_buf_printf(&l->b, "%" PRIu64 ".%03" PRIu64, us / 1000, us % 1000);
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
            sg_log_write_raw(l->b.data, l->b.len);
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
