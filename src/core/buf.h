/* A growable byte buffer with a hard maximum size. The buffer owns `data`; it is always
 * NUL-terminated (the terminator is not counted in `len`) so text can be handed to C APIs.
 * Appending past `max` fails with SG_ETOOBIG and leaves the content unchanged. */
#ifndef SG_CORE_BUF_H
#define SG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct sg_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
};

/* Initializes an empty buffer that may grow to `max` bytes. Allocates nothing. */
void sg_buf_init(struct sg_buf *b, size_t max);
/* Frees the buffer's memory and resets it to empty (max is kept). */
void sg_buf_free(struct sg_buf *b);
/* Empties the buffer, keeping its allocation. */
void sg_buf_reset(struct sg_buf *b);
/* Makes room for `n` more bytes. Returns 0, SG_ETOOBIG or SG_ENOMEM. */
int sg_buf_reserve(struct sg_buf *b, size_t n);
/* Appends `n` bytes. Returns 0, SG_ETOOBIG or SG_ENOMEM. */
int sg_buf_append(struct sg_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
int sg_buf_puts(struct sg_buf *b, const char *s);
/* Appends printf-style formatted text. */
int sg_buf_printf(struct sg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sg_buf_vprintf(struct sg_buf *b, const char *fmt, va_list ap);
/* Appends `s` (n bytes) as the inside of a JSON string (quotes not included): escapes
 * quotes, backslashes and control characters; bytes >= 0x80 are copied as they are. */
int sg_buf_json_escape(struct sg_buf *b, const char *s, size_t n);
/* Length of the longest prefix of s[0..n) that needs no escaping inside a JSON string
 * (printable ASCII other than '"' and '\\'); scans 64 bytes at a time where the CPU has
 * AVX-512BW, else 16 (SSE2) or 8. */
size_t sg_json_plain_prefix(const char *s, size_t n);
/* Copies the string s, or only its first n bytes (SIZE_MAX: all of it), into dst of cap > 0
 * bytes, cut to fit and NUL-terminated. Returns the length copied. What
 * snprintf(dst, cap, "%.*s", n, s) does, without parsing a format on the request path. */
size_t sg_strlcpy(char *dst, size_t cap, const char *s, size_t n);
/* Appends the decimal form of an integer. */
int sg_buf_put_u64(struct sg_buf *b, uint64_t v);
int sg_buf_put_i64(struct sg_buf *b, int64_t v);
/* Drops the first `n` bytes (n <= len). */
void sg_buf_consume(struct sg_buf *b, size_t n);
/* Hands the content to the caller (who must free() it) and resets the buffer. Returns an
 * empty allocated string when the buffer is empty, NULL on allocation failure. */
char *sg_buf_steal(struct sg_buf *b);

#endif
