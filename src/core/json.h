/* JSON for the hot path: a strict RFC 8259 parser that builds jansson values, and a
 * compact serializer. jansson remains the tree (json_t) used everywhere; its own loader
 * reads byte by byte through a callback (about 30 us for a 2 KB chat request), which
 * would dominate the gateway's cost per request. This parser scans strings with a table
 * and validates UTF-8 in the same pass; the serializer writes into a bounded sg_buf.
 *
 * Accepted input equals jansson's json_loadb() with JSON_DECODE_ANY: valid UTF-8 only, no
 * \u0000 in strings, integers that fit json_int_t, finite reals, depth at most 2048; with
 * SG_JSON_REJECT_DUPLICATES, duplicate object keys are refused. */
#ifndef SG_CORE_JSON_H
#define SG_CORE_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"

#define SG_JSON_MAX_DEPTH 2048

enum { SG_JSON_REJECT_DUPLICATES = 1 };

enum sg_json_errkind {
    SG_JSON_OK = 0,
    SG_JSON_ESYNTAX, /* malformed JSON */
    SG_JSON_EUTF8,   /* invalid UTF-8 */
    SG_JSON_EDEPTH,  /* nested deeper than SG_JSON_MAX_DEPTH */
    SG_JSON_EDUPKEY, /* a key repeated in one object */
    SG_JSON_ENOMEM,
};

struct sg_json_error {
    enum sg_json_errkind kind;
    size_t offset;    /* byte offset of the error in the input */
    const char *text; /* static description, never quoting the input */
};

/* Parses s[0..n) as one JSON value. Returns a new reference (caller owns), or NULL with
 * `err` filled. */
json_t *sg_json_parse(const char *s, size_t n, unsigned flags, struct sg_json_error *err);

/* Decodes the JSON escapes of s[0..n), the inside of a string literal without its quotes,
 * into out (room for n bytes: the decoded form is never longer); other bytes are copied as
 * they are (the caller checks UTF-8 and control characters where it needs them). Returns
 * NULL with the length in *outlen, or a static reason with the failing escape's offset in
 * *at: an invalid or cut escape, \u0000, an unpaired surrogate. */
const char *sg_json_unescape(const char *s, size_t n, char *out, size_t *outlen, size_t *at);

/* Appends the compact serialization of `v` to `out` (object members in insertion order,
 * reals with 17 significant digits, non-ASCII copied as UTF-8). Returns 0 or an sg_buf
 * error (SG_ETOOBIG when `out` is full). */
int sg_json_dump(const json_t *v, struct sg_buf *out);

#endif
