/* Strict HTTP/1.1 request parsing, with no I/O: the request head (request line and
 * header fields, RFC 9112) and the chunked transfer coding of request bodies. Anything
 * ambiguous that could let two parsers disagree about where a request ends (request
 * smuggling) is rejected: duplicate or list-valued Content-Length, Content-Length together
 * with Transfer-Encoding, transfer codings other than chunked, obsolete line folding, bare
 * LF or CR, whitespace before the colon. The request-target is origin-form or http(s)
 * absolute-form; userinfo, fragments, the authority-form and the asterisk-form are refused.
 * Parsed strings borrow from the caller's buffer (except an empty absolute-form path). */
#ifndef SG_HTTP_PARSER_H
#define SG_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/error.h"

#define SG_HTTP_MAX_HEADERS 100

struct sg_http_header {
    const char *name; /* borrowed, not NUL-terminated */
    size_t name_len;
    const char *value; /* borrowed, surrounding whitespace trimmed, not NUL-terminated */
    size_t value_len;
};

enum sg_http_body_kind { SG_HTTP_BODY_NONE, SG_HTTP_BODY_LENGTH, SG_HTTP_BODY_CHUNKED };

struct sg_http_head {
    const char *method;
    size_t method_len;
    /* The request-target as received: origin-form ("/path?query"), or absolute-form
     * ("http://host:port/path?query", RFC 9112 3.2.2; scheme http or https). */
    const char *target;
    size_t target_len;
    /* The target's path, without the query: always starts with '/'. For an absolute-form
     * target it is the path the equivalent origin-form target has (an empty path is "/",
     * then a static string), so routing reads only `path` and never the form. */
    const char *path;
    size_t path_len;
    const char *query; /* after the '?' (may be empty); NULL when there is no '?' */
    size_t query_len;
    /* Absolute-form only, NULL otherwise: the target's "host[:port]", which stands in for
     * the Host field (RFC 9112 3.2.2: the Host value is then ignored; it must still be
     * present in HTTP/1.1). Never holds userinfo. */
    const char *authority;
    size_t authority_len;
    int minor; /* HTTP/1.<minor>, 0 or 1 */
    struct sg_http_header headers[SG_HTTP_MAX_HEADERS];
    size_t nheaders;
    enum sg_http_body_kind body;
    uint64_t content_length;
    bool keep_alive;      /* from the version and the Connection header */
    bool expect_continue; /* Expect: 100-continue */
};

/* Parses a complete request head of `n` bytes that ends with CRLF CRLF (the caller has
 * found the terminator). On success fills `out` (pointers borrow from `buf`) and returns
 * 0. On failure returns SG_EPROTO, sets `*status` to the HTTP status to answer (400, 413
 * for an impossible Content-Length, 417, 431 for too many fields, 501, 505) and fills `err`
 * with a message that is safe to show the client. */
int sg_http_parse_head(const char *buf, size_t n, struct sg_http_head *out, int *status,
                       struct sg_error *err);

/* A response head from an upstream server. */
struct sg_http_response_head {
    int status;
    int minor;
    struct sg_http_header headers[SG_HTTP_MAX_HEADERS];
    size_t nheaders;
    enum sg_http_body_kind body; /* NONE also for 1xx, 204 and 304 */
    bool close_delimited;        /* no length: the body ends when the connection closes */
    uint64_t content_length;
    bool keep_alive;
};

/* Parses a complete response head of `n` bytes ending with CRLF CRLF. Framing ambiguities
 * are refused as for requests (duplicate Content-Length, Content-Length with
 * Transfer-Encoding, codings other than chunked). Returns 0 or SG_EPROTO with `err`. */
int sg_http_parse_response_head(const char *buf, size_t n, struct sg_http_response_head *out,
                                struct sg_error *err);

/* Finds header `name` (case-insensitive); returns its entry or NULL. With several fields
 * of the same name, returns the first. */
const struct sg_http_header *sg_http_find_header(const struct sg_http_head *h, const char *name);
/* The same over any array of parsed header fields. */
const struct sg_http_header *sg_http_find_header_in(const struct sg_http_header *hs, size_t n,
                                                    const char *name);

/* True when the `n` bytes at `s` equal the NUL-terminated `lit` ignoring ASCII case. */
bool sg_http_ieq(const char *s, size_t n, const char *lit);

/* A bound for request bodies on the bytes of chunk extensions and trailer fields, all
 * together. Both are read and dropped, so the body cap does not bound them: without it an
 * endless trailer section, or a long extension on every 1-byte chunk, keeps a connection
 * reading until the body deadline. (Backend answers, long streams, are left unbounded.) */
#define SG_HTTP_CHUNK_META_MAX 65536

/* Incremental decoder of the chunked transfer coding. Zero-initialize, then feed bytes as
 * they arrive; decoded data is appended to `out`, whose cap bounds the body. */
struct sg_http_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    unsigned digits;    /* hex digits seen in the size line */
    size_t line_len;    /* bytes seen in an extension or trailer line */
    size_t meta_len;    /* bytes of all extensions and trailer fields so far */
    size_t meta_max;    /* bound on meta_len (0: none); see SG_HTTP_CHUNK_META_MAX */
    bool done;
};

/* Consumes up to `n` bytes. Returns the number of bytes consumed (all of them unless the
 * body ended, in which case `c->done` is set and the rest belongs to the next request), or
 * SG_EPROTO (malformed) / SG_ETOOBIG (`out` is full). */
ssize_t sg_http_chunked_feed(struct sg_http_chunked *c, const char *in, size_t n,
                             struct sg_buf *out);

#endif
