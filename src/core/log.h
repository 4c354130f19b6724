/* Structured logging: every line on stderr is one JSON object, written with a single
 * write(2) so lines from worker threads never interleave. Log lines carry no prompt or
 * response content and no keys; callers pass only metadata. */
#ifndef SG_CORE_LOG_H
#define SG_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

enum sg_log_level { SG_LOG_DEBUG = 0, SG_LOG_INFO, SG_LOG_WARN, SG_LOG_ERROR };

/* Sets the minimum level written (default SG_LOG_INFO). */
void sg_log_set_level(enum sg_log_level lvl);
/* Parses "debug", "info", "warn", "error". Returns 0 or SG_EINVAL. */
int sg_log_parse_level(const char *s, enum sg_log_level *out);
bool sg_log_enabled(enum sg_log_level lvl);
/* Writes {"ts","level","event","msg"} with a printf-style message. */
void sg_log(enum sg_log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A log line built field by field on the caller's stack:
 *   struct sg_logline l; sg_logline_begin(&l, SG_LOG_INFO, "request");
 *   sg_logline_str(&l, "client", name); sg_logline_int(&l, "status", 200);
 *   sg_logline_end(&l);
 * Fields past the line's size cap (8 KiB) are dropped; sg_logline_end always writes a
 * complete JSON object and frees the line. Keys are the program's own string literals,
 * plain identifiers of at most SG_LOG_KEY_MAX bytes ([A-Za-z0-9_]): they are written as
 * they are, not escaped. Values are escaped. */
#define SG_LOG_KEY_MAX 48
struct sg_logline {
    struct sg_buf b;
    bool on;
    bool urgent; /* warn and error lines are not held back by buffering */
};
void sg_logline_begin(struct sg_logline *l, enum sg_log_level lvl, const char *event);
void sg_logline_str(struct sg_logline *l, const char *key, const char *val);
void sg_logline_int(struct sg_logline *l, const char *key, int64_t val);
void sg_logline_ms(struct sg_logline *l, const char *key, uint64_t us);
void sg_logline_bool(struct sg_logline *l, const char *key, bool val);
void sg_logline_end(struct sg_logline *l);

/* Buffering for the calling thread: with it on, info and debug lines collect in a
 * thread-local buffer (at most 64 KiB) that sg_log_flush() writes in one write(2); warn
 * and error lines flush it and go out at once. Event-loop threads flush once per loop
 * iteration. Off by default. */
void sg_log_buffered(bool on);
void sg_log_flush(void);

/* Writes a raw line (a newline is added) to stderr in one write. For relaying a child
 * process's output after it has been wrapped into JSON by the caller. */
void sg_log_write_raw(const char *line, size_t n);

#endif
