/* JSON Schema -> GBNF (see schema_gbnf.h). Every schema node becomes one rule "sg-sN";
 * shared pieces (characters, strings of a given length range, numbers, free-form JSON) are
 * emitted once under fixed names. */
#include "engine/schema_gbnf.h"

#include "core/buf.h"
#include "core/json.h"
#include "core/utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_GBNF_DEF_STRING 256
#define SG_GBNF_DEF_ITEMS 64
#define SG_GBNF_CAP 1024 /* largest string / array bound (llama.cpp allows < 2000) */
#define SG_GBNF_ANY_ITEMS 8
#define SG_GBNF_MAX_REFS 256
#define SG_GBNF_MAX_SHARED 512
#define SG_GBNF_INT_LIMIT 9999999999999999LL /* 16 digits */

struct refmemo {
    const json_t *target;
    char name[24];
};

struct sg_gbnf {
    struct sg_buf text; /* the rules, one per line */
    int nrules, seq;
    int max_string, max_items;
    const json_t *doc;                          /* the schema $refs resolve in */
    const json_t *stack[SG_GBNF_MAX_DEPTH + 1]; /* $ref targets being expanded */
    int nstack;
    struct refmemo memo[SG_GBNF_MAX_REFS];
    int nmemo;
    char shared[SG_GBNF_MAX_SHARED][24]; /* names of the shared rules emitted */
    int nshared;
    long *width; /* by N of rule "sg-sN": its width (see SG_GBNF_MAX_WIDTH), 0 unknown */
    int nwidth;
    char path[512]; /* where we are, for messages */
    size_t pathlen;
    struct sg_error *err;
};

/* ---- small helpers ---- */

static const char *where(struct sg_gbnf *g)
{
    return g->pathlen ? g->path : "the top level";
}

static int fail(struct sg_gbnf *g, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct sg_gbnf *g, int code, const char *fmt, ...)
{
    char msg[SG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sg_error_set(g->err, code, "%s (at %s)", msg, where(g));
}

static int oom(struct sg_gbnf *g, int rc)
{
    if (rc == SG_ETOOBIG)
        return sg_error_set(g->err, SG_ETOOBIG, "the schema makes a grammar larger than %u bytes",
                            SG_GBNF_MAX_BYTES);
    return sg_error_set(g->err, SG_ENOMEM, "out of memory");
}

static size_t path_push(struct sg_gbnf *g, const char *sep, const char *seg)
{
    size_t old = g->pathlen;
    if (g->pathlen < sizeof(g->path) - 1) {
        int n = snprintf(g->path + g->pathlen, sizeof(g->path) - g->pathlen, "%s%s",
                         g->pathlen ? sep : "", seg);
        if (n > 0)
            g->pathlen += (size_t)n;
        if (g->pathlen >= sizeof(g->path))
            g->pathlen = sizeof(g->path) - 1;
    }
    return old;
}

static void path_pop(struct sg_gbnf *g, size_t old)
{
    g->pathlen = old;
    g->path[old] = 0;
}

int sg_gbnf_literal(struct sg_buf *b, const char *s, size_t n)
{
    int rc = sg_buf_puts(b, "\"");
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            rc = sg_buf_puts(b, "\\\"");
        else if (c == '\\')
            rc = sg_buf_puts(b, "\\\\");
        else if (c == '\n')
            rc = sg_buf_puts(b, "\\n");
        else if (c == '\r')
            rc = sg_buf_puts(b, "\\r");
        else if (c == '\t')
            rc = sg_buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            rc = sg_buf_printf(b, "\\x%02X", c);
        else
            rc = sg_buf_append(b, &s[i], 1);
    }
    return rc ? rc : sg_buf_puts(b, "\"");
}

/* Appends JSON text s (n bytes of valid UTF-8) as GBNF: runs of ASCII as literals, every
 * other character as itself or its \uXXXX escape (a surrogate pair above U+FFFF). A model
 * whose vocabulary has a character only as byte tokens, which the engine never samples
 * under a grammar, can then still write it. Outside strings JSON text is ASCII, so the
 * escapes are only ever inside a string, where they mean the same character. */
static int json_literal(struct sg_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    int rc = n ? 0 : sg_gbnf_literal(b, "", 0);
    for (size_t i = 0; i < n && !rc;) {
        if (i)
            rc = sg_buf_puts(b, " ");
        size_t run = i;
        while (run < n && u[run] < 0x80)
            run++;
        if (run > i) {
            if (!rc)
                rc = sg_gbnf_literal(b, s + i, run - i);
            i = run;
            continue;
        }
        size_t len = sg_utf8_char_len(u + i, n - i);
        if (len < 2) /* not valid UTF-8 (jansson's strings are): as it is */
            len = 1;
        uint32_t cp = len == 2 ? (u[i] & 0x1Fu) << 6 | (u[i + 1] & 0x3Fu)
                      : len == 3
                          ? (u[i] & 0x0Fu) << 12 | (u[i + 1] & 0x3Fu) << 6 | (u[i + 2] & 0x3Fu)
                      : len == 4 ? (u[i] & 0x07u) << 18 | (u[i + 1] & 0x3Fu) << 12 |
                                       (u[i + 2] & 0x3Fu) << 6 | (u[i + 3] & 0x3Fu)
                                 : 0;
        if (!rc)
            rc = len == 1 ? sg_gbnf_literal(b, s + i, 1) : sg_buf_puts(b, "(");
        if (!rc && len > 1)
            rc = sg_gbnf_literal(b, s + i, len);
        if (!rc && len > 1 && cp < 0x10000)
            rc = sg_buf_printf(b, " | \"\\\\u%04x\")", (unsigned)cp);
        else if (!rc && len > 1)
            rc = sg_buf_printf(b, " | \"\\\\u%04x\\\\u%04x\")",
                               (unsigned)(0xD800 + ((cp - 0x10000) >> 10)),
                               (unsigned)(0xDC00 + ((cp - 0x10000) & 0x3FF)));
        i += len;
    }
    return rc;
}

static bool has_rule(const struct sg_gbnf *g, const char *name)
{
    size_t n = strlen(name);
    const char *t = g->text.data;
    if (!t)
        return false;
    for (const char *p = t; (p = strstr(p, name)) != NULL; p += n)
        if ((p == t || p[-1] == '\n') && strncmp(p + n, " ::= ", 5) == 0)
            return true;
    return false;
}

static int emit(struct sg_gbnf *g, const char *name, const char *body)
{
    if (++g->nrules > SG_GBNF_MAX_RULES)
        return sg_error_set(g->err, SG_ETOOBIG, "the schema needs more than %d grammar rules",
                            SG_GBNF_MAX_RULES);
    int rc = sg_buf_printf(&g->text, "%s ::= %s\n", name, body);
    return rc ? oom(g, rc) : 0;
}

/* Emits `name ::= body` unless a rule of that name exists. */
static int shared(struct sg_gbnf *g, const char *name, const char *body)
{
    for (int i = 0; i < g->nshared; i++)
        if (strcmp(g->shared[i], name) == 0)
            return 0;
    if (g->nshared == SG_GBNF_MAX_SHARED && has_rule(g, name))
        return 0;
    if (g->nshared < SG_GBNF_MAX_SHARED && strlen(name) < sizeof(g->shared[0]))
        snprintf(g->shared[g->nshared++], sizeof(g->shared[0]), "%s", name);
    return emit(g, name, body);
}

static void new_name(struct sg_gbnf *g, char *name, size_t size)
{
    snprintf(name, size, "sg-s%d", g->seq++);
}

/* ---- ambiguity ----
 *
 * llama.cpp's grammar sampler keeps one parse stack for every way the text so far can be
 * read, and checks tokens against each. A rule's width bounds how many can be alive at
 * once inside it: the sum over its alternatives (anyOf, oneOf, enum values, type lists,
 * nullable, the optional members of an object), the most over the parts of a sequence.
 * Widths multiply when alternatives nest, so a $ref used at every level (which keeps the
 * grammar small) would make millions; rules wider than SG_GBNF_MAX_WIDTH are refused. */

/* The width of rule `name`: recorded for "sg-sN" rules, 1 for the shared ones (their
 * alternatives start differently). */
static long width_of(const struct sg_gbnf *g, const char *name)
{
    if (strncmp(name, "sg-s", 4) != 0 || name[4] < '0' || name[4] > '9')
        return 1;
    char *end;
    long i = strtol(name + 4, &end, 10);
    if (*end || i >= g->nwidth || g->width[i] < 1)
        return 1;
    return g->width[i];
}

/* Checks width w for rule "sg-sN" `name` (made by new_name) and records it. */
static int set_width(struct sg_gbnf *g, const char *name, long w)
{
    if (w > SG_GBNF_MAX_WIDTH)
        return fail(g, SG_ETOOBIG,
                    "the schema's alternatives (anyOf, oneOf, enum, type lists, nullable) can "
                    "match the same text in more than %d ways",
                    SG_GBNF_MAX_WIDTH);
    long i = strtol(name + 4, NULL, 10);
    if (i >= g->nwidth) {
        int n = g->nwidth ? g->nwidth : 256;
        while (n <= i)
            n *= 2;
        long *w2 = realloc(g->width, (size_t)n * sizeof(*w2));
        if (!w2)
            return oom(g, SG_ENOMEM);
        memset(w2 + g->nwidth, 0, (size_t)(n - g->nwidth) * sizeof(*w2));
        g->width = w2;
        g->nwidth = n;
    }
    g->width[i] = w < 1 ? 1 : w;
    return 0;
}

/* ---- shared rules ---- */

static int rule_char(struct sg_gbnf *g)
{
    return shared(g, "sg-ch", "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" [\"\\\\/bfnrt]");
}

/* A JSON string of lo..hi characters; its rule's name in name. */
static int rule_string(struct sg_gbnf *g, int lo, int hi, char *name, size_t size)
{
    int rc = rule_char(g);
    if (rc)
        return rc;
    snprintf(name, size, "sg-str-%d-%d", lo, hi);
    char body[96];
    if (hi == 0)
        snprintf(body, sizeof(body), "\"\\\"\\\"\"");
    else
        snprintf(body, sizeof(body), "\"\\\"\" sg-ch{%d,%d} \"\\\"\"", lo, hi);
    return shared(g, name, body);
}

static int rule_numbers(struct sg_gbnf *g)
{
    int rc = shared(g, "sg-uint", "\"0\" | [1-9] [0-9]{0,15}");
    if (!rc)
        rc = shared(g, "sg-int", "\"-\"? sg-uint");
    if (!rc)
        rc = shared(g, "sg-frac", "\".\" [0-9]{1,15}");
    if (!rc)
        rc = shared(g, "sg-num", "sg-int sg-frac? ([eE] [-+]? [0-9]{1,2})?");
    return rc;
}

/* Free-form JSON: sg-jv-D is any value nested at most SG_GBNF_ANY_DEPTH - D more levels. */
static int rule_any(struct sg_gbnf *g)
{
    for (int i = 0; i < g->nshared; i++)
        if (strcmp(g->shared[i], "sg-jv-0") == 0)
            return 0;
    char sname[32];
    int rc = rule_numbers(g);
    if (!rc)
        rc = rule_string(g, 0, g->max_string, sname, sizeof(sname));
    for (int d = SG_GBNF_ANY_DEPTH; d >= 0 && !rc; d--) {
        char name[16], body[256];
        snprintf(name, sizeof(name), "sg-jv-%d", d);
        if (d == 0 && g->nshared < SG_GBNF_MAX_SHARED)
            snprintf(g->shared[g->nshared++], sizeof(g->shared[0]), "sg-jv-0");
        if (d == SG_GBNF_ANY_DEPTH) {
            snprintf(body, sizeof(body), "%s | sg-num | \"true\" | \"false\" | \"null\"", sname);
            rc = emit(g, name, body);
            continue;
        }
        snprintf(body, sizeof(body),
                 "\"{\" (%s \":\" sg-jv-%d (\",\" %s \":\" sg-jv-%d){0,%d})? \"}\"", sname, d + 1,
                 sname, d + 1, SG_GBNF_ANY_ITEMS - 1);
        char oname[16], aname[16];
        snprintf(oname, sizeof(oname), "sg-jo-%d", d);
        snprintf(aname, sizeof(aname), "sg-ja-%d", d);
        rc = emit(g, oname, body);
        if (rc)
            break;
        snprintf(body, sizeof(body), "\"[\" (sg-jv-%d (\",\" sg-jv-%d){0,%d})? \"]\"", d + 1, d + 1,
                 SG_GBNF_ANY_ITEMS - 1);
        rc = emit(g, aname, body);
        if (rc)
            break;
        snprintf(body, sizeof(body), "%s | %s | %s | sg-num | \"true\" | \"false\" | \"null\"",
                 oname, aname, sname);
        rc = emit(g, name, body);
    }
    return rc;
}

/* ---- integer ranges ---- */

/* Appends alternatives matching the n-digit strings s (leading zeros allowed) with
 * lo <= s <= hi (both n digits). */
static int digits_range(struct sg_buf *b, const char *lo, const char *hi, int n)
{
    if (n == 0)
        return sg_buf_puts(b, "\"\"");
    bool zeros = true, nines = true;
    for (int i = 0; i < n; i++) {
        zeros = zeros && lo[i] == '0';
        nines = nines && hi[i] == '9';
    }
    if (zeros && nines)
        return n == 1 ? sg_buf_puts(b, "[0-9]") : sg_buf_printf(b, "[0-9]{%d}", n);
    if (lo[0] == hi[0]) {
        int rc = sg_buf_printf(b, "\"%c\"", lo[0]);
        if (n == 1 || rc)
            return rc;
        rc = sg_buf_puts(b, " (");
        if (!rc)
            rc = digits_range(b, lo + 1, hi + 1, n - 1);
        return rc ? rc : sg_buf_puts(b, ")");
    }
    char all9[20], all0[20];
    memset(all9, '9', sizeof(all9));
    memset(all0, '0', sizeof(all0));
    all9[n - 1] = all0[n - 1] = 0;
    int rc = 0;
    if (n == 1)
        return sg_buf_printf(b, "[%c-%c]", lo[0], hi[0]);
    /* lo[0] then anything >= the rest of lo */
    rc = sg_buf_printf(b, "\"%c\" (", lo[0]);
    if (!rc)
        rc = digits_range(b, lo + 1, all9, n - 1);
    if (!rc)
        rc = sg_buf_puts(b, ")");
    if (!rc && lo[0] + 1 <= hi[0] - 1)
        rc = n - 1 == 1 ? sg_buf_printf(b, " | [%c-%c] [0-9]", lo[0] + 1, hi[0] - 1)
                        : sg_buf_printf(b, " | [%c-%c] [0-9]{%d}", lo[0] + 1, hi[0] - 1, n - 1);
    if (!rc)
        rc = sg_buf_printf(b, " | \"%c\" (", hi[0]);
    if (!rc)
        rc = digits_range(b, all0, hi + 1, n - 1);
    return rc ? rc : sg_buf_puts(b, ")");
}

/* Appends alternatives for the non-negative integers a..b (a <= b). */
static int uint_range(struct sg_buf *b, long long a, long long hi)
{
    char sa[24], sb[24];
    int la = snprintf(sa, sizeof(sa), "%lld", a), lb = snprintf(sb, sizeof(sb), "%lld", hi);
    int rc = 0;
    for (int len = la; len <= lb && !rc; len++) {
        char lo[24], up[24];
        if (len == la)
            memcpy(lo, sa, (size_t)la + 1);
        else {
            lo[0] = '1';
            memset(lo + 1, '0', (size_t)len - 1);
            lo[len] = 0;
        }
        if (len == lb)
            memcpy(up, sb, (size_t)lb + 1);
        else {
            memset(up, '9', (size_t)len);
            up[len] = 0;
        }
        if (len > la)
            rc = sg_buf_puts(b, " | ");
        if (!rc)
            rc = sg_buf_puts(b, "(");
        if (!rc)
            rc = digits_range(b, lo, up, len);
        if (!rc)
            rc = sg_buf_puts(b, ")");
    }
    return rc;
}

/* The number of alternatives of uint_range(a, hi) that can start alike: one per length. */
static long range_width(long long a, long long hi)
{
    long la = 1, lb = 1;
    for (; a >= 10; a /= 10)
        la++;
    for (; hi >= 10; hi /= 10)
        lb++;
    return lb - la + 1;
}

/* Appends alternatives for the integers lo..hi (lo <= hi, both within the 16-digit limit). */
static int int_range(struct sg_buf *b, long long lo, long long hi)
{
    int rc = 0;
    if (lo < 0) {
        long long na = hi >= -1 ? 1 : -hi, nb = -lo;
        rc = sg_buf_puts(b, "\"-\" (");
        if (!rc)
            rc = uint_range(b, na, nb);
        if (!rc)
            rc = sg_buf_puts(b, ")");
        if (!rc && hi >= 0)
            rc = sg_buf_puts(b, " | ");
    }
    if (!rc && hi >= 0)
        rc = uint_range(b, lo < 0 ? 0 : lo, hi);
    return rc;
}

/* ---- the schema walk ---- */

static int conv(struct sg_gbnf *g, const json_t *s, int depth, char *name, size_t size);

static const char *const annotations[] = {
    "title",      "description", "default",   "examples", "$schema",     "$id", "$comment",
    "deprecated", "readOnly",    "writeOnly", "$defs",    "definitions", NULL};
static const char *const structural[] = {"type",
                                         "enum",
                                         "const",
                                         "properties",
                                         "required",
                                         "additionalProperties",
                                         "items",
                                         "minItems",
                                         "maxItems",
                                         "minLength",
                                         "maxLength",
                                         "format",
                                         "minimum",
                                         "maximum",
                                         "exclusiveMinimum",
                                         "exclusiveMaximum",
                                         "anyOf",
                                         "oneOf",
                                         "allOf",
                                         "$ref",
                                         "nullable",
                                         NULL};

static bool in_list(const char *k, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

static int check_keywords(struct sg_gbnf *g, const json_t *s)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        if (!in_list(k, annotations) && !in_list(k, structural)) {
            char kw[64];
            snprintf(kw, sizeof(kw), "%s", k);
            return fail(g, SG_EINVAL, "the keyword '%s' is not supported", kw);
        }
    }
    return 0;
}

/* Reads a non-negative integer keyword (absent: def). */
static int get_count(struct sg_gbnf *g, const json_t *s, const char *kw, long long def,
                     long long *out)
{
    const json_t *v = json_object_get(s, kw);
    *out = def;
    if (!v)
        return 0;
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        json_real_value(v) >= 0 && json_real_value(v) < 1e9) {
        *out = (long long)json_real_value(v);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(g, SG_EINVAL, "'%s' must be a non-negative integer", kw);
    *out = json_integer_value(v);
    return 0;
}

/* Emits body as a new rule of width `width`; its name in name. */
static int emit_named(struct sg_gbnf *g, struct sg_buf *body, long width, char *name, size_t size)
{
    if (!body->data) {
        sg_buf_free(body);
        return oom(g, SG_ENOMEM);
    }
    new_name(g, name, size);
    int rc = set_width(g, name, width);
    if (!rc)
        rc = emit(g, name, body->data);
    sg_buf_free(body);
    return rc;
}

/* A JSON literal (enum / const value). */
static int put_literal(struct sg_gbnf *g, struct sg_buf *b, const json_t *v)
{
    struct sg_buf t;
    sg_buf_init(&t, SG_GBNF_MAX_BYTES);
    int rc = sg_json_dump(v, &t);
    if (!rc)
        rc = json_literal(b, t.data ? t.data : "", t.len);
    sg_buf_free(&t);
    return rc ? oom(g, rc) : 0;
}

static bool type_matches(const json_t *v, const char *type)
{
    if (!type)
        return true;
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "null") == 0)
        return json_is_null(v);
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    return false;
}

static bool type_list_matches(const json_t *v, const json_t *type)
{
    if (!type || json_is_string(type))
        return type_matches(v, json_string_value(type));
    size_t i;
    const json_t *t;
    json_array_foreach(type, i, t) if (type_matches(v, json_string_value(t))) return true;
    return false;
}

static int conv_enum(struct sg_gbnf *g, const json_t *s, char *name, size_t size)
{
    const json_t *c = json_object_get(s, "const"), *e = json_object_get(s, "enum");
    const json_t *type = json_object_get(s, "type");
    struct sg_buf b;
    sg_buf_init(&b, SG_GBNF_MAX_BYTES);
    int rc = 0, n = 0;
    if (c) {
        rc = put_literal(g, &b, c);
        n = 1;
    } else {
        if (!json_is_array(e))
            return fail(g, SG_EINVAL, "'enum' must be an array");
        if (json_array_size(e) > SG_GBNF_MAX_ENUM) {
            char lim[16];
            snprintf(lim, sizeof(lim), "%d", SG_GBNF_MAX_ENUM);
            return fail(g, SG_ETOOBIG, "'enum' has more than %s values", lim);
        }
        size_t i;
        const json_t *v;
        json_array_foreach(e, i, v)
        {
            if (!type_list_matches(v, type))
                continue; /* a value the type rules out can never be valid */
            if (n++ && sg_buf_puts(&b, " | ")) {
                rc = oom(g, SG_ENOMEM);
                break;
            }
            if ((rc = put_literal(g, &b, v)) != 0)
                break;
        }
    }
    if (rc) {
        sg_buf_free(&b);
        return rc;
    }
    if (n == 0) {
        sg_buf_free(&b);
        return fail(g, SG_EINVAL, "'enum' has no value of the schema's type");
    }
    return emit_named(g, &b, n, name, size);
}

/* Resolves a local JSON pointer ("#/$defs/x"). */
static const json_t *resolve(const json_t *doc, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    const json_t *cur = doc;
    const char *p = ref + 1;
    while (*p) {
        if (*p != '/')
            return NULL;
        p++;
        char seg[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~' && (*p == '0' || *p == '1'))
                c = *p++ == '0' ? '~' : '/';
            if (n + 1 >= sizeof(seg))
                return NULL;
            seg[n++] = c;
        }
        seg[n] = 0;
        if (json_is_object(cur))
            cur = json_object_get(cur, seg);
        else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            cur = *seg && !*end ? json_array_get(cur, i) : NULL;
        } else
            return NULL;
        if (!cur)
            return NULL;
    }
    return cur;
}

static int conv_ref(struct sg_gbnf *g, const json_t *s, int depth, char *name, size_t size)
{
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (!ref)
        return fail(g, SG_EINVAL, "'$ref' must be a string");
    char rq[128];
    snprintf(rq, sizeof(rq), "%s", ref);
    const json_t *t = resolve(g->doc, ref);
    if (!t)
        return fail(g, SG_EINVAL,
                    "'$ref' \"%s\" does not point into this schema (only local references "
                    "such as #/$defs/NAME are supported)",
                    rq);
    for (int i = 0; i < g->nmemo; i++)
        if (g->memo[i].target == t) {
            snprintf(name, size, "%s", g->memo[i].name);
            return 0;
        }
    for (int i = 0; i < g->nstack; i++)
        if (g->stack[i] == t)
            return fail(g, SG_EINVAL, "the recursive '$ref' \"%s\" is not supported", rq);
    if (g->nstack >= SG_GBNF_MAX_DEPTH)
        return fail(g, SG_ETOOBIG, "too many nested '$ref's");
    g->stack[g->nstack++] = t;
    size_t old = path_push(g, ".", ref);
    int rc = conv(g, t, depth + 1, name, size);
    path_pop(g, old);
    g->nstack--;
    if (rc == 0 && g->nmemo < SG_GBNF_MAX_REFS) {
        g->memo[g->nmemo].target = t;
        snprintf(g->memo[g->nmemo].name, sizeof(g->memo[0].name), "%s", name);
        g->nmemo++;
    }
    return rc;
}

static int conv_alts(struct sg_gbnf *g, const json_t *list, const char *kw, int depth, char *name,
                     size_t size)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail(g, SG_EINVAL, "'%s' must be a non-empty array of schemas", kw);
    if (json_array_size(list) > SG_GBNF_MAX_ALTS)
        return fail(g, SG_ETOOBIG, "'%s' has too many alternatives", kw);
    struct sg_buf b;
    sg_buf_init(&b, SG_GBNF_MAX_BYTES);
    long width = 0;
    size_t i;
    const json_t *sub;
    json_array_foreach(list, i, sub)
    {
        char seg[80], child[32];
        snprintf(seg, sizeof(seg), "%s[%zu]", kw, i);
        size_t old = path_push(g, ".", seg);
        int rc = conv(g, sub, depth + 1, child, sizeof(child));
        path_pop(g, old);
        if (!rc && i)
            rc = sg_buf_puts(&b, " | ");
        if (!rc)
            rc = sg_buf_puts(&b, child);
        if (rc) {
            sg_buf_free(&b);
            return rc;
        }
        width += width_of(g, child);
    }
    return emit_named(g, &b, width, name, size);
}

static int conv_string(struct sg_gbnf *g, const json_t *s, char *name, size_t size)
{
    const json_t *f = json_object_get(s, "format");
    if (f) {
        const char *fmt = json_string_value(f);
        if (!fmt)
            return fail(g, SG_EINVAL, "'format' must be a string");
        static const char date[] = "[0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" "
                                   "(\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8])";
        static const char time[] = "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] "
                                   "[0-9] (\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" "
                                   "[0-3]) \":\" [0-5] [0-9])";
        const char *rule = NULL;
        char body[512];
        if (strcmp(fmt, "date") == 0) {
            rule = "sg-date";
            snprintf(body, sizeof(body), "\"\\\"\" %s \"\\\"\"", date);
        } else if (strcmp(fmt, "time") == 0) {
            rule = "sg-time";
            snprintf(body, sizeof(body), "\"\\\"\" %s \"\\\"\"", time);
        } else if (strcmp(fmt, "date-time") == 0) {
            rule = "sg-date-time";
            snprintf(body, sizeof(body), "\"\\\"\" %s \"T\" %s \"\\\"\"", date, time);
        } else if (strcmp(fmt, "uuid") == 0) {
            rule = "sg-uuid";
            snprintf(body, sizeof(body),
                     "\"\\\"\" [0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} "
                     "\"-\" [0-9a-f]{12} \"\\\"\"");
        } else if (strcmp(fmt, "email") == 0) {
            rule = "sg-email";
            snprintf(body, sizeof(body),
                     "\"\\\"\" [a-z0-9._+-]{1,32} \"@\" [a-z0-9-]{1,32} \".\" [a-z]{2,8} "
                     "\"\\\"\"");
        } else {
            char fq[64];
            snprintf(fq, sizeof(fq), "%s", fmt);
            return fail(g, SG_EINVAL,
                        "the string format \"%s\" is not supported (supported: date, time, "
                        "date-time, uuid, email)",
                        fq);
        }
        if (json_object_get(s, "minLength") || json_object_get(s, "maxLength"))
            return fail(g, SG_EINVAL,
                        "'format' together with 'minLength'/'maxLength' is not "
                        "supported");
        snprintf(name, size, "%s", rule);
        return shared(g, rule, body);
    }
    long long lo, hi;
    int rc = get_count(g, s, "minLength", 0, &lo);
    if (!rc)
        rc = get_count(g, s, "maxLength", g->max_string, &hi);
    if (rc)
        return rc;
    if (hi > g->max_string)
        hi = g->max_string; /* shorter is still valid */
    if (lo > hi) {
        char l[24];
        snprintf(l, sizeof(l), "%lld", hi);
        return fail(g, lo > g->max_string ? SG_ETOOBIG : SG_EINVAL,
                    "'minLength' is larger than the longest string allowed (%s)", l);
    }
    return rule_string(g, (int)lo, (int)hi, name, size);
}

/* Reads a numeric bound; *has false when absent. */
static int get_bound(struct sg_gbnf *g, const json_t *s, const char *kw, bool *has, double *out)
{
    const json_t *v = json_object_get(s, kw);
    *has = false;
    if (!v || (json_is_boolean(v) && strncmp(kw, "exclusive", 9) == 0))
        return 0;
    if (!json_is_number(v))
        return fail(g, SG_EINVAL, "'%s' must be a number", kw);
    *has = true;
    *out = json_number_value(v);
    return 0;
}

static int conv_number(struct sg_gbnf *g, const json_t *s, bool integer, char *name, size_t size)
{
    bool hmin, hmax, hxmin, hxmax;
    double min = 0, max = 0, xmin = 0, xmax = 0;
    int rc = get_bound(g, s, "minimum", &hmin, &min);
    if (!rc)
        rc = get_bound(g, s, "maximum", &hmax, &max);
    if (!rc)
        rc = get_bound(g, s, "exclusiveMinimum", &hxmin, &xmin);
    if (!rc)
        rc = get_bound(g, s, "exclusiveMaximum", &hxmax, &xmax);
    if (!rc)
        rc = rule_numbers(g);
    if (rc)
        return rc;
    /* draft 4: exclusiveMinimum/Maximum true make minimum/maximum exclusive */
    if (json_is_true(json_object_get(s, "exclusiveMinimum")) && hmin)
        hxmin = true, xmin = min, hmin = false;
    if (json_is_true(json_object_get(s, "exclusiveMaximum")) && hmax)
        hxmax = true, xmax = max, hmax = false;
    if (!hmin && !hmax && !hxmin && !hxmax) {
        snprintf(name, size, integer ? "sg-int" : "sg-num");
        return 0;
    }
    const double lim = (double)SG_GBNF_INT_LIMIT;
    double lo = -lim, hi = lim;
    if (integer) {
        if (hmin)
            lo = fmax(lo, ceil(min));
        if (hxmin)
            lo = fmax(lo, floor(xmin) + 1);
        if (hmax)
            hi = fmin(hi, floor(max));
        if (hxmax)
            hi = fmin(hi, ceil(xmax) - 1);
    } else {
        if (hxmin || hxmax || (hmin && (min < 0 || min != floor(min))) ||
            (hmax && max != floor(max)) || !hmin)
            return fail(g, SG_EINVAL,
                        "bounds on a 'number' are supported only as an integral, non-negative "
                        "'minimum' with an optional integral 'maximum' (use type 'integer' "
                        "for other ranges)");
        lo = fmax(min, 0);
        if (hmax)
            hi = fmin(hi, max);
    }
    if (!(lo <= hi) || lo > lim || hi < -lim)
        return fail(g, SG_EINVAL, "no value satisfies 'minimum'/'maximum'");
    struct sg_buf b;
    sg_buf_init(&b, SG_GBNF_MAX_BYTES);
    long width = 1; /* one alternative per length; "-" and a digit start differently */
    if (integer) {
        long long ilo = (long long)lo, ihi = (long long)hi;
        if (ihi >= 0)
            width = range_width(ilo < 0 ? 0 : ilo, ihi);
        if (ilo < 0) {
            long neg = range_width(ihi >= -1 ? 1 : -ihi, -ilo);
            width = neg > width ? neg : width;
        }
        rc = int_range(&b, ilo, ihi);
    } else if (lo == hi)
        rc = sg_buf_printf(&b, "\"%lld\"", (long long)lo);
    else {
        /* integer part lo..hi-1 with an optional fraction, or hi exactly */
        width = range_width((long long)lo, (long long)hi - 1) + 1;
        rc = sg_buf_puts(&b, "(");
        if (!rc)
            rc = uint_range(&b, (long long)lo, (long long)hi - 1);
        if (!rc)
            rc = sg_buf_printf(&b, ") sg-frac? | \"%lld\"", (long long)hi);
    }
    if (rc) {
        sg_buf_free(&b);
        return oom(g, rc);
    }
    return emit_named(g, &b, width, name, size);
}

static int conv_array(struct sg_gbnf *g, const json_t *s, int depth, char *name, size_t size)
{
    const json_t *items = json_object_get(s, "items");
    char item[32];
    int rc;
    if (json_is_array(items))
        return fail(g, SG_EINVAL, "'items' as an array (tuple validation) is not supported");
    if (items) {
        size_t old = path_push(g, ".", "items");
        rc = conv(g, items, depth + 1, item, sizeof(item));
        path_pop(g, old);
    } else {
        rc = rule_any(g);
        snprintf(item, sizeof(item), "sg-jv-1");
    }
    long long lo, hi;
    if (!rc)
        rc = get_count(g, s, "minItems", 0, &lo);
    if (!rc)
        rc = get_count(g, s, "maxItems", g->max_items, &hi);
    if (rc)
        return rc;
    if (hi > g->max_items)
        hi = g->max_items;
    if (lo > hi) {
        char l[24];
        snprintf(l, sizeof(l), "%lld", hi);
        return fail(g, lo > g->max_items ? SG_ETOOBIG : SG_EINVAL,
                    "'minItems' is larger than the most items allowed (%s)", l);
    }
    struct sg_buf b;
    sg_buf_init(&b, SG_GBNF_MAX_BYTES);
    if (hi == 0)
        rc = sg_buf_puts(&b, "\"[]\"");
    else {
        long long rlo = lo > 0 ? lo - 1 : 0, rhi = hi - 1;
        rc = sg_buf_printf(&b, "\"[\" (%s", item);
        if (!rc && rhi > 0)
            rc = sg_buf_printf(&b, " (\",\" %s){%lld,%lld}", item, rlo, rhi);
        if (!rc)
            rc = sg_buf_puts(&b, lo > 0 ? ") \"]\"" : ")? \"]\"");
    }
    if (rc) {
        sg_buf_free(&b);
        return oom(g, rc);
    }
    return emit_named(g, &b, width_of(g, item), name, size);
}

/* One "key":value pair into b. */
static int put_member(struct sg_gbnf *g, struct sg_buf *b, const char *key, const char *value)
{
    struct sg_buf k;
    sg_buf_init(&k, 64u << 10);
    int rc = sg_buf_puts(&k, "\"");
    if (!rc)
        rc = sg_buf_json_escape(&k, key, strlen(key));
    if (!rc)
        rc = sg_buf_puts(&k, "\":");
    if (!rc)
        rc = json_literal(b, k.data, k.len);
    if (!rc)
        rc = sg_buf_printf(b, " %s", value);
    sg_buf_free(&k);
    return rc ? oom(g, rc) : 0;
}

static int conv_object(struct sg_gbnf *g, const json_t *s, int depth, char *name, size_t size)
{
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props))
        return fail(g, SG_EINVAL, "'properties' must be an object");
    if (req && !json_is_array(req))
        return fail(g, SG_EINVAL, "'required' must be an array of strings");
    if (addl && !json_is_boolean(addl) && !json_is_object(addl))
        return fail(g, SG_EINVAL, "'additionalProperties' must be a boolean or a schema");
    size_t i;
    const json_t *v;
    json_array_foreach(req, i, v) if (!json_is_string(v)) return fail(
        g, SG_EINVAL, "'required' must be an array of strings");
    size_t np = json_object_size(props);
    if (np > SG_GBNF_MAX_PROPS || json_array_size(req) > SG_GBNF_MAX_PROPS)
        return fail(g, SG_ETOOBIG, "an object with more than 256 properties");
    int rc = 0;
    struct sg_buf b;
    sg_buf_init(&b, SG_GBNF_MAX_BYTES);
    if (np == 0 && json_array_size(req) == 0) {
        char val[32] = "", sname[32];
        if (json_is_false(addl))
            rc = sg_buf_puts(&b, "\"{}\"");
        else {
            if (json_is_object(addl)) {
                size_t old = path_push(g, ".", "additionalProperties");
                rc = conv(g, addl, depth + 1, val, sizeof(val));
                path_pop(g, old);
            } else {
                rc = rule_any(g);
                snprintf(val, sizeof(val), "sg-jv-1");
            }
            if (!rc)
                rc = rule_string(g, 0, g->max_string, sname, sizeof(sname));
            if (!rc && sg_buf_printf(&b, "\"{\" (%s \":\" %s (\",\" %s \":\" %s){0,%d})? \"}\"",
                                     sname, val, sname, val, SG_GBNF_ANY_ITEMS - 1))
                rc = oom(g, SG_ENOMEM);
        }
        if (rc) {
            sg_buf_free(&b);
            return rc;
        }
        return emit_named(g, &b, width_of(g, val), name, size);
    }
    /* members: required ones (in properties order, then required names not in properties),
     * then the optional ones */
    size_t cap = np + json_array_size(req) + 1;
    char(*kv)[32] = calloc(cap, sizeof(*kv));
    bool *isreq = calloc(cap, sizeof(bool));
    const char **keys = calloc(cap, sizeof(char *));
    size_t n = 0;
    long width = 1; /* the widest member, or the optional ones that may come next */
    if (!kv || !isreq || !keys) {
        rc = oom(g, SG_ENOMEM);
        goto out;
    }
    const char *k;
    json_object_foreach((json_t *)props, k, v)
    {
        bool r = false;
        size_t j;
        const json_t *x;
        json_array_foreach(req, j, x) if (strcmp(json_string_value(x), k) == 0) r = true;
        char seg[160];
        snprintf(seg, sizeof(seg), "properties.%s", k);
        size_t old = path_push(g, ".", seg);
        char val[32];
        rc = conv(g, v, depth + 1, val, sizeof(val));
        path_pop(g, old);
        if (rc)
            goto out;
        struct sg_buf m;
        sg_buf_init(&m, SG_GBNF_MAX_BYTES);
        long w = width_of(g, val);
        if ((rc = put_member(g, &m, k, val)) != 0 ||
            (rc = emit_named(g, &m, w, kv[n], sizeof(kv[n]))) != 0)
            goto out;
        width = w > width ? w : width;
        isreq[n] = r;
        keys[n++] = k;
    }
    json_array_foreach(req, i, v)
    {
        const char *rk = json_string_value(v);
        bool seen = json_object_get(props, rk) != NULL;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(keys[j], rk) == 0;
        if (seen)
            continue;
        if ((rc = rule_any(g)) != 0)
            goto out;
        struct sg_buf m;
        sg_buf_init(&m, SG_GBNF_MAX_BYTES);
        if ((rc = put_member(g, &m, rk, "sg-jv-1")) != 0 ||
            (rc = emit_named(g, &m, 1, kv[n], sizeof(kv[n]))) != 0)
            goto out;
        isreq[n] = true;
        keys[n++] = rk;
    }
    size_t nreq = 0;
    rc = sg_buf_puts(&b, "\"{\"");
    for (size_t j = 0; j < n && !rc; j++)
        if (isreq[j])
            rc = sg_buf_printf(&b, "%s %s", nreq++ ? " \",\"" : "", kv[j]);
    if (nreq) {
        for (size_t j = 0; j < n && !rc; j++)
            if (!isreq[j])
                rc = sg_buf_printf(&b, " (\",\" %s)?", kv[j]);
    } else if (!rc) {
        /* no required member: any subset in order, comma-separated. rest-j: the optional
         * members after j; any-j: a non-empty subset starting at j or later. */
        char base[32];
        new_name(g, base, sizeof(base));
        for (size_t j = n; j-- > 0 && !rc;) {
            char rn[80], an[80], body[200];
            snprintf(rn, sizeof(rn), "%s-r%zu", base, j);
            if (j + 1 < n)
                snprintf(body, sizeof(body), "(\",\" %s)? %s-r%zu", kv[j], base, j + 1);
            else
                snprintf(body, sizeof(body), "(\",\" %s)?", kv[j]);
            if ((rc = emit(g, rn, body)) != 0)
                break;
            snprintf(an, sizeof(an), "%s-a%zu", base, j);
            if (j + 1 < n)
                snprintf(body, sizeof(body), "%s %s-r%zu | %s-a%zu", kv[j], base, j + 1, base,
                         j + 1);
            else
                snprintf(body, sizeof(body), "%s", kv[j]);
            rc = emit(g, an, body);
        }
        if (!rc && sg_buf_printf(&b, " %s-a0?", base))
            rc = oom(g, SG_ENOMEM);
    }
    if (!rc && sg_buf_puts(&b, " \"}\""))
        rc = oom(g, SG_ENOMEM);
    if (!rc) {
        long opt = (long)(n - nreq) + 1;
        rc = emit_named(g, &b, opt > width ? opt : width, name, size);
        b.data = NULL;
    }
out:
    free(kv);
    free(isreq);
    free(keys);
    sg_buf_free(&b);
    return rc;
}

static int conv_type(struct sg_gbnf *g, const json_t *s, const char *type, int depth, char *name,
                     size_t size)
{
    if (strcmp(type, "object") == 0)
        return conv_object(g, s, depth, name, size);
    if (strcmp(type, "array") == 0)
        return conv_array(g, s, depth, name, size);
    if (strcmp(type, "string") == 0)
        return conv_string(g, s, name, size);
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return conv_number(g, s, type[0] == 'i', name, size);
    if (strcmp(type, "boolean") == 0)
        return snprintf(name, size, "sg-bool"), shared(g, "sg-bool", "\"true\" | \"false\"");
    if (strcmp(type, "null") == 0)
        return snprintf(name, size, "sg-null"), shared(g, "sg-null", "\"null\"");
    char t[48];
    snprintf(t, sizeof(t), "%s", type);
    return fail(g, SG_EINVAL,
                "unknown type \"%s\" (expected object, array, string, number, integer, boolean "
                "or null)",
                t);
}

static int conv(struct sg_gbnf *g, const json_t *s, int depth, char *name, size_t size)
{
    if (depth > SG_GBNF_MAX_DEPTH)
        return fail(g, SG_ETOOBIG, "the schema is nested more than 32 levels deep");
    if (json_is_true(s)) {
        snprintf(name, size, "sg-jv-0");
        return rule_any(g);
    }
    if (json_is_false(s))
        return fail(g, SG_EINVAL, "the schema 'false' admits no value");
    if (!json_is_object(s))
        return fail(g, SG_EINVAL, "a schema must be an object");
    int rc = check_keywords(g, s);
    if (rc)
        return rc;
    if (json_object_get(s, "$ref"))
        return conv_ref(g, s, depth, name, size);

    const json_t *nullable = json_object_get(s, "nullable");
    if (nullable && !json_is_boolean(nullable))
        return fail(g, SG_EINVAL, "'nullable' must be a boolean");
    char inner[32];
    const char *combinator = NULL;
    static const char *const comb[] = {"anyOf", "oneOf", "allOf", NULL};
    for (int i = 0; comb[i]; i++)
        if (json_object_get(s, comb[i])) {
            if (combinator)
                return fail(g, SG_EINVAL, "'%s' together with '%s' is not supported", comb[i],
                            combinator);
            combinator = comb[i];
        }
    if (combinator) {
        static const char *const others[] = {"type",
                                             "enum",
                                             "const",
                                             "properties",
                                             "required",
                                             "additionalProperties",
                                             "items",
                                             "minItems",
                                             "maxItems",
                                             "minLength",
                                             "maxLength",
                                             "format",
                                             "minimum",
                                             "maximum",
                                             "exclusiveMinimum",
                                             "exclusiveMaximum",
                                             NULL};
        for (int i = 0; others[i]; i++)
            if (json_object_get(s, others[i]))
                return fail(g, SG_EINVAL,
                            "'%s' together with '%s' is not supported (move it into each "
                            "alternative)",
                            combinator, others[i]);
        const json_t *list = json_object_get(s, combinator);
        if (combinator[1] == 'l') { /* allOf */
            if (!json_is_array(list) || json_array_size(list) != 1)
                return fail(g, SG_EINVAL, "'allOf' is supported with exactly one schema");
            size_t old = path_push(g, ".", "allOf[0]");
            rc = conv(g, json_array_get(list, 0), depth + 1, inner, sizeof(inner));
            path_pop(g, old);
        } else
            rc = conv_alts(g, list, combinator, depth, inner, sizeof(inner));
    } else if (json_object_get(s, "const") || json_object_get(s, "enum")) {
        const json_t *type = json_object_get(s, "type");
        if (type && !json_is_string(type) && !json_is_array(type))
            return fail(g, SG_EINVAL, "'type' must be a string or an array of strings");
        rc = conv_enum(g, s, inner, sizeof(inner));
    } else {
        const json_t *type = json_object_get(s, "type");
        if (json_is_string(type))
            rc = conv_type(g, s, json_string_value(type), depth, inner, sizeof(inner));
        else if (json_is_array(type)) {
            size_t n = json_array_size(type);
            if (n == 0 || n > 7)
                return fail(g, SG_EINVAL, "'type' must list 1 to 7 types");
            struct sg_buf b;
            sg_buf_init(&b, SG_GBNF_MAX_BYTES);
            long width = 0;
            size_t i;
            const json_t *t;
            json_array_foreach(type, i, t)
            {
                char one[32];
                if (!json_is_string(t)) {
                    sg_buf_free(&b);
                    return fail(g, SG_EINVAL, "'type' must be a string or an array of strings");
                }
                rc = conv_type(g, s, json_string_value(t), depth, one, sizeof(one));
                if (!rc && ((i && sg_buf_puts(&b, " | ")) || sg_buf_puts(&b, one)))
                    rc = oom(g, SG_ENOMEM);
                if (rc) {
                    sg_buf_free(&b);
                    return rc;
                }
                width += width_of(g, one);
            }
            rc = emit_named(g, &b, width, inner, sizeof(inner));
        } else if (type)
            return fail(g, SG_EINVAL, "'type' must be a string or an array of strings");
        else if (json_object_get(s, "properties") || json_object_get(s, "required") ||
                 json_object_get(s, "additionalProperties"))
            rc = conv_object(g, s, depth, inner, sizeof(inner));
        else if (json_object_get(s, "items") || json_object_get(s, "minItems") ||
                 json_object_get(s, "maxItems"))
            rc = conv_array(g, s, depth, inner, sizeof(inner));
        else if (json_object_get(s, "minLength") || json_object_get(s, "maxLength") ||
                 json_object_get(s, "format"))
            rc = conv_string(g, s, inner, sizeof(inner));
        else if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
                 json_object_get(s, "exclusiveMinimum") || json_object_get(s, "exclusiveMaximum"))
            rc = conv_number(g, s, false, inner, sizeof(inner));
        else {
            rc = rule_any(g);
            snprintf(inner, sizeof(inner), "sg-jv-0");
        }
    }
    if (rc)
        return rc;
    if (json_is_true(nullable)) {
        char body[80];
        snprintf(body, sizeof(body), "%s | \"null\"", inner);
        new_name(g, name, size);
        rc = set_width(g, name, width_of(g, inner) + 1);
        return rc ? rc : emit(g, name, body);
    }
    snprintf(name, size, "%s", inner);
    return 0;
}

/* ---- public ---- */

struct sg_gbnf *sg_gbnf_new(const struct sg_gbnf_opts *o)
{
    struct sg_gbnf *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    sg_buf_init(&g->text, SG_GBNF_MAX_BYTES);
    g->max_string = o && o->max_string > 0 ? o->max_string : SG_GBNF_DEF_STRING;
    g->max_items = o && o->max_items > 0 ? o->max_items : SG_GBNF_DEF_ITEMS;
    if (g->max_string > SG_GBNF_CAP)
        g->max_string = SG_GBNF_CAP;
    if (g->max_items > SG_GBNF_CAP)
        g->max_items = SG_GBNF_CAP;
    return g;
}

void sg_gbnf_free(struct sg_gbnf *g)
{
    if (!g)
        return;
    sg_buf_free(&g->text);
    free(g->width);
    free(g);
}

int sg_gbnf_schema(struct sg_gbnf *g, const json_t *schema, char *name, size_t size,
                   struct sg_error *err)
{
    g->err = err;
    g->doc = schema;
    g->nstack = 0;
    g->nmemo = 0; /* memoized names are per document */
    g->pathlen = 0;
    g->path[0] = 0;
    if (!schema)
        return sg_error_set(err, SG_EINVAL, "no schema");
    g->stack[g->nstack++] = schema; /* "$ref": "#" recurses */
    int rc = conv(g, schema, 0, name, size);
    g->nstack = 0;
    return rc;
}

int sg_gbnf_any_object(struct sg_gbnf *g, char *name, size_t size, struct sg_error *err)
{
    g->err = err;
    snprintf(name, size, "sg-jo-0");
    return rule_any(g);
}

int sg_gbnf_rule(struct sg_gbnf *g, const char *name, const char *body, struct sg_error *err)
{
    g->err = err;
    size_t n = strlen(name);
    if (n == 0 || n > 64 || strncmp(name, "sg", 2) == 0 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
        return sg_error_set(err, SG_EINVAL, "bad grammar rule name");
    if (has_rule(g, name))
        return sg_error_set(err, SG_EINVAL, "grammar rule %s defined twice", name);
    return emit(g, name, body);
}

const char *sg_gbnf_text(const struct sg_gbnf *g)
{
    return g->text.data ? g->text.data : "";
}

int sg_schema_to_gbnf(const json_t *schema, const struct sg_gbnf_opts *o, char **out,
                      struct sg_error *err)
{
    *out = NULL;
    struct sg_gbnf *g = sg_gbnf_new(o);
    if (!g)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    char top[32];
    int rc = schema ? sg_gbnf_schema(g, schema, top, sizeof(top), err)
                    : sg_gbnf_any_object(g, top, sizeof(top), err);
    if (!rc)
        rc = sg_gbnf_rule(g, "root", top, err);
    if (!rc) {
        *out = strdup(sg_gbnf_text(g));
        if (!*out)
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    sg_gbnf_free(g);
    return rc;
}
