/* Strict JSON parser building jansson values, and a compact serializer. */
#include "core/json.h"
#include "core/error.h"
#include "core/utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jp {
    const char *start, *p, *end;
    int depth;
    unsigned flags;
    struct sg_json_error *err;
};

static json_t *jp_value(struct jp *j);

static void *jp_fail(struct jp *j, enum sg_json_errkind kind, const char *why)
{
    if (j->err && j->err->kind == SG_JSON_OK) {
        j->err->kind = kind;
        j->err->text = why;
        j->err->offset = (size_t)(j->p - j->start);
    }
    return NULL;
}

static void jp_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

const char *sg_json_unescape(const char *s, size_t n, char *out, size_t *outlen, size_t *at)
{
    size_t k = 0;
    const char *r = s, *q = s + n;
    while (r < q) {
        if (*r != '\\') {
            out[k++] = *r++;
            continue;
        }
        *at = (size_t)(r - s);
        if (q - r < 2)
            return "unterminated escape in string";
        char c = r[1];
        r += 2;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *m = c ? strchr(from, c) : NULL;
        if (m) {
            out[k++] = to[m - from];
            continue;
        }
        if (c != 'u')
            return "invalid escape in string";
        unsigned cp, lo;
        if (q - r < 4 || hex4(r, &cp) < 0)
            return "invalid \\u escape";
        r += 4;
        if (cp == 0)
            return "\\u0000 is not allowed";
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return "lone low surrogate";
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (q - r < 6 || r[0] != '\\' || r[1] != 'u' || hex4(r + 2, &lo) < 0 || lo < 0xDC00 ||
                lo > 0xDFFF)
                return "unpaired high surrogate";
            r += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        /* The UTF-8 form is never longer than the escape it came from. */
        if (cp < 0x80) {
            out[k++] = (char)cp;
        } else if (cp < 0x800) {
            out[k++] = (char)(0xC0 | (cp >> 6));
            out[k++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[k++] = (char)(0xE0 | (cp >> 12));
            out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[k++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[k++] = (char)(0xF0 | (cp >> 18));
            out[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    *outlen = k;
    return NULL;
}

/* Parses a string literal at j->p (on the opening quote). Returns a malloc'd decoded copy
 * (NUL-terminated, length in *len) when escapes were present, or NULL with *raw pointing
 * into the input when none were. NULL with *raw NULL on error. */
static char *jp_string(struct jp *j, const char **raw, size_t *len)
{
    const unsigned char *s = (const unsigned char *)j->p + 1, *e = (const unsigned char *)j->end;
    const unsigned char *q = s;
    bool escapes = false;
    *raw = NULL;
    for (;;) {
        q += sg_json_plain_prefix((const char *)q, (size_t)(e - q));
        if (q >= e) {
            j->p = (const char *)q;
            return jp_fail(j, SG_JSON_ESYNTAX, "unterminated string");
        }
        if (*q == '"')
            break;
        if (*q == '\\') {
            escapes = true;
            if (q + 1 >= e) {
                j->p = (const char *)q;
                return jp_fail(j, SG_JSON_ESYNTAX, "unterminated string");
            }
            q += 2; /* validated while decoding */
            continue;
        }
        if (*q < 0x20) {
            j->p = (const char *)q;
            return jp_fail(j, SG_JSON_ESYNTAX, "control character in string");
        }
        size_t l = sg_utf8_char_len(q, (size_t)(e - q));
        if (!l) {
            j->p = (const char *)q;
            return jp_fail(j, SG_JSON_EUTF8, "invalid UTF-8");
        }
        q += l;
    }
    if (!escapes) {
        *raw = (const char *)s;
        *len = (size_t)(q - s);
        j->p = (const char *)q + 1;
        return NULL;
    }
    char *out = malloc((size_t)(q - s) + 1);
    if (!out)
        return jp_fail(j, SG_JSON_ENOMEM, "out of memory");
    size_t k, at;
    const char *why = sg_json_unescape((const char *)s, (size_t)(q - s), out, &k, &at);
    if (why) {
        j->p = (const char *)s + at;
        free(out);
        return jp_fail(j, SG_JSON_ESYNTAX, why);
    }
    out[k] = '\0';
    *len = k;
    j->p = (const char *)q + 1;
    return out;
}

static json_t *jp_number(struct jp *j)
{
    const char *s = j->p, *q = s;
    bool real = false;
    if (q < j->end && *q == '-')
        q++;
    if (q < j->end && *q == '0') {
        q++;
    } else if (q < j->end && *q >= '1' && *q <= '9') {
        while (q < j->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return jp_fail(j, SG_JSON_ESYNTAX, "invalid number");
    }
    if (q < j->end && *q == '.') {
        real = true;
        q++;
        if (q >= j->end || *q < '0' || *q > '9')
            return jp_fail(j, SG_JSON_ESYNTAX, "invalid number");
        while (q < j->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        real = true;
        q++;
        if (q < j->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= j->end || *q < '0' || *q > '9')
            return jp_fail(j, SG_JSON_ESYNTAX, "invalid number");
        while (q < j->end && *q >= '0' && *q <= '9')
            q++;
    }
    char buf[512];
    size_t n = (size_t)(q - s);
    if (n >= sizeof(buf))
        return jp_fail(j, SG_JSON_ESYNTAX, "number too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    json_t *v;
    if (!real) {
        long long ll = strtoll(buf, NULL, 10);
        if (errno == ERANGE)
            return jp_fail(j, SG_JSON_ESYNTAX, "integer out of range");
        v = json_integer((json_int_t)ll);
    } else {
        double d = strtod(buf, NULL);
        if (errno == ERANGE && (d > 1.0 || d < -1.0))
            return jp_fail(j, SG_JSON_ESYNTAX, "real number overflow");
        v = json_real(d);
    }
    if (!v)
        return jp_fail(j, SG_JSON_ENOMEM, "out of memory");
    j->p = q;
    return v;
}

static json_t *jp_container(struct jp *j, bool object)
{
    if (++j->depth > SG_JSON_MAX_DEPTH)
        return jp_fail(j, SG_JSON_EDEPTH, "maximum nesting depth exceeded");
    json_t *c = object ? json_object() : json_array();
    if (!c)
        return jp_fail(j, SG_JSON_ENOMEM, "out of memory");
    char close = object ? '}' : ']';
    j->p++;
    jp_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return c;
    }
    for (;;) {
        if (object) {
            jp_ws(j);
            if (j->p >= j->end || *j->p != '"') {
                jp_fail(j, SG_JSON_ESYNTAX, "string or '}' expected");
                goto fail;
            }
            const char *key_at = j->p;
            const char *raw;
            size_t kl;
            char *key = jp_string(j, &raw, &kl);
            if (!key && !raw)
                goto fail;
            /* Keys never hold NUL (\u0000 is refused), so the length-taking calls see the
             * same key as the NUL-terminated ones, and a key without escapes is used where
             * it lies in the input: jansson copies it. */
            const char *kp = key ? key : raw;
            if ((j->flags & SG_JSON_REJECT_DUPLICATES) && json_object_getn(c, kp, kl)) {
                free(key);
                j->p = key_at;
                jp_fail(j, SG_JSON_EDUPKEY, "duplicate object key");
                goto fail;
            }
            jp_ws(j);
            if (j->p >= j->end || *j->p != ':') {
                free(key);
                jp_fail(j, SG_JSON_ESYNTAX, "':' expected");
                goto fail;
            }
            j->p++;
            json_t *v = jp_value(j);
            int set = v ? json_object_setn_new_nocheck(c, kp, kl, v) : -1;
            free(key);
            if (set < 0) {
                if (v)
                    jp_fail(j, SG_JSON_ENOMEM, "out of memory");
                goto fail;
            }
        } else {
            json_t *v = jp_value(j);
            if (!v || json_array_append_new(c, v) < 0) {
                if (v)
                    jp_fail(j, SG_JSON_ENOMEM, "out of memory");
                goto fail;
            }
        }
        jp_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return c;
        }
        jp_fail(j, SG_JSON_ESYNTAX, object ? "',' or '}' expected" : "',' or ']' expected");
        goto fail;
    }
fail:
    json_decref(c);
    return NULL;
}

static json_t *jp_value(struct jp *j)
{
    jp_ws(j);
    if (j->p >= j->end)
        return jp_fail(j, SG_JSON_ESYNTAX, "unexpected end of input");
    switch (*j->p) {
    case '{':
        return jp_container(j, true);
    case '[':
        return jp_container(j, false);
    case '"': {
        const char *raw;
        size_t len;
        char *dec = jp_string(j, &raw, &len);
        if (!dec && !raw)
            return NULL;
        json_t *v = json_stringn_nocheck(dec ? dec : raw, len);
        free(dec);
        return v ? v : jp_fail(j, SG_JSON_ENOMEM, "out of memory");
    }
    case 't':
        if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
            j->p += 4;
            return json_true();
        }
        break;
    case 'f':
        if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
            j->p += 5;
            return json_false();
        }
        break;
    case 'n':
        if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
            j->p += 4;
            return json_null();
        }
        break;
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return jp_number(j);
        break;
    }
    return jp_fail(j, SG_JSON_ESYNTAX, "invalid token");
}

json_t *sg_json_parse(const char *s, size_t n, unsigned flags, struct sg_json_error *err)
{
    struct sg_json_error local;
    struct jp j = {s, s, s + n, 0, flags, err ? err : &local};
    j.err->kind = SG_JSON_OK;
    j.err->offset = 0;
    j.err->text = NULL;
    json_t *v = jp_value(&j);
    if (v) {
        jp_ws(&j);
        if (j.p != j.end) {
            json_decref(v);
            v = jp_fail(&j, SG_JSON_ESYNTAX, "end of input expected");
        }
    }
    return v;
}

/* ---- serializer ---- */

/* Bytes that need an escape inside a JSON string: controls, quote and backslash. */
static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

static int dump(const json_t *v, struct sg_buf *out, int depth)
{
    char num[64];
    int rc = 0;
    if (depth > SG_JSON_MAX_DEPTH)
        return SG_ETOOBIG;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t key_len;
        json_t *val;
        bool first = true;
        rc = sg_buf_append(out, "{", 1);
        json_object_keylen_foreach((json_t *)v, key, key_len, val)
        {
            if (rc)
                break;
            if (!first)
                rc = sg_buf_append(out, ",", 1);
            first = false;
            rc = rc ? rc : sg_buf_append(out, "\"", 1);
            rc = rc ? rc : sg_buf_json_escape(out, key, key_len);
            rc = rc ? rc : sg_buf_append(out, "\":", 2);
            rc = rc ? rc : dump(val, out, depth + 1);
        }
        return rc ? rc : sg_buf_append(out, "}", 1);
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        rc = sg_buf_append(out, "[", 1);
        for (size_t i = 0; i < n && !rc; i++) {
            if (i)
                rc = sg_buf_append(out, ",", 1);
            rc = rc ? rc : dump(json_array_get(v, i), out, depth + 1);
        }
        return rc ? rc : sg_buf_append(out, "]", 1);
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), i = 0;
        /* Runs of UTF-8 are copied as they are; only controls, '"' and '\\' are escaped. */
        for (;;) {
            i += sg_json_plain_prefix(s + i, n - i);
            if (i >= n || needs_escape((unsigned char)s[i]))
                break;
            i++;
        }
        rc = sg_buf_append(out, "\"", 1);
        rc = rc ? rc : sg_buf_append(out, s, i);
        if (i < n)
            rc = rc ? rc : sg_buf_json_escape(out, s + i, n - i);
        return rc ? rc : sg_buf_append(out, "\"", 1);
    }
    case JSON_INTEGER:
        return sg_buf_put_i64(out, (int64_t)json_integer_value(v));
    case JSON_REAL: {
        int k = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        if (k < 0 || (size_t)k >= sizeof(num) - 3)
            return SG_EINVAL;
        /* Keep reals recognizable as reals: 1 -> 1.0 (as jansson does). */
        if (!strpbrk(num, ".eEn")) {
            num[k++] = '.';
            num[k++] = '0';
        }
        return sg_buf_append(out, num, (size_t)k);
    }
    case JSON_TRUE:
        return sg_buf_append(out, "true", 4);
    case JSON_FALSE:
        return sg_buf_append(out, "false", 5);
    case JSON_NULL:
        return sg_buf_append(out, "null", 4);
    }
    return SG_EINVAL;
}

int sg_json_dump(const json_t *v, struct sg_buf *out)
{
    return dump(v, out, 0);
}
