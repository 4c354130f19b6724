/* Unit tests of the JSON Schema -> GBNF converter (src/engine/schema_gbnf.c) and of the
 * tool-call helpers (src/engine/tools.c). The grammars are checked by what they accept: a
 * small GBNF matcher below (the subset the converter writes: literals, character classes,
 * rule references, groups, alternatives, ?, *, +, {m,n} and .) decides whether a text is in
 * the grammar's language, so each test states documents that must match and documents that
 * must not. That the grammars also parse in llama.cpp is checked by tests/llama/test_llm.c,
 * and sampling with them by tests/integration/test_engine_tools.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "engine/schema_gbnf.h"
#include "engine/tools.h"

/* ---- a small GBNF matcher ---- */

enum nkind { N_LIT, N_CLASS, N_ANY, N_REF, N_SEQ, N_ALT, N_REP };
struct node {
    enum nkind kind;
    char *lit; /* N_LIT bytes, N_REF name */
    size_t len;
    uint32_t ranges[64][2]; /* N_CLASS */
    int nranges;
    bool neg;
    struct node **kids;
    int nkids;
    int min, max; /* N_REP; max -1 = unbounded */
};
struct rule {
    char name[64];
    struct node *body;
};
struct gram {
    struct rule rules[4096];
    int n;
};

static struct node *node_new(enum nkind k)
{
    struct node *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    n->kind = k;
    return n;
}

static void add_kid(struct node *p, struct node *k)
{
    p->kids = realloc(p->kids, sizeof(*p->kids) * (size_t)(p->nkids + 1));
    assert_non_null(p->kids);
    p->kids[p->nkids++] = k;
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->lit);
    free(n);
}

static uint32_t utf8_next(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n > 1)
        c &= 0x3F >> (n - 1);
    for (int i = 1; i < n; i++)
        c = c << 6 | (s[i] & 0x3F);
    *p += n;
    return c;
}

static uint32_t parse_char(const char **p)
{
    if (**p != '\\')
        return utf8_next(p);
    char e = (*p)[1];
    *p += 2;
    switch (e) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'x': {
        char h[3] = {(*p)[0], (*p)[1], 0};
        *p += 2;
        return (uint32_t)strtoul(h, NULL, 16);
    }
    default:
        return (uint32_t)(unsigned char)e;
    }
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static struct node *parse_alt(const char **p);

static struct node *parse_seq(const char **p)
{
    struct node *seq = node_new(N_SEQ);
    for (;;) {
        *p = skip_ws(*p);
        char c = **p;
        struct node *it = NULL;
        if (c == '"') {
            it = node_new(N_LIT);
            struct sg_buf b;
            sg_buf_init(&b, 1 << 20);
            (*p)++;
            while (**p != '"') {
                assert_true(**p != 0);
                uint32_t ch = parse_char(p);
                char u[4];
                int n = 0;
                if (ch < 0x80)
                    u[n++] = (char)ch;
                else if (ch < 0x800)
                    u[n++] = (char)(0xC0 | ch >> 6), u[n++] = (char)(0x80 | (ch & 0x3F));
                else if (ch < 0x10000)
                    u[n++] = (char)(0xE0 | ch >> 12), u[n++] = (char)(0x80 | (ch >> 6 & 0x3F)),
                    u[n++] = (char)(0x80 | (ch & 0x3F));
                else
                    u[n++] = (char)(0xF0 | ch >> 18), u[n++] = (char)(0x80 | (ch >> 12 & 0x3F)),
                    u[n++] = (char)(0x80 | (ch >> 6 & 0x3F)), u[n++] = (char)(0x80 | (ch & 0x3F));
                sg_buf_append(&b, u, (size_t)n);
            }
            (*p)++;
            it->len = b.len;
            it->lit = b.data ? b.data : calloc(1, 1);
        } else if (c == '[') {
            it = node_new(N_CLASS);
            (*p)++;
            if (**p == '^')
                it->neg = true, (*p)++;
            while (**p != ']') {
                assert_true(**p != 0 && it->nranges < 64);
                uint32_t lo = parse_char(p), hi = lo;
                if ((*p)[0] == '-' && (*p)[1] != ']') {
                    (*p)++;
                    hi = parse_char(p);
                }
                it->ranges[it->nranges][0] = lo;
                it->ranges[it->nranges++][1] = hi;
            }
            (*p)++;
        } else if (c == '.') {
            it = node_new(N_ANY);
            (*p)++;
        } else if (c == '(') {
            (*p)++;
            it = parse_alt(p);
            *p = skip_ws(*p);
            assert_int_equal(**p, ')');
            (*p)++;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            it = node_new(N_REF);
            const char *s = *p;
            while ((**p >= 'a' && **p <= 'z') || (**p >= 'A' && **p <= 'Z') ||
                   (**p >= '0' && **p <= '9') || **p == '-')
                (*p)++;
            it->lit = strndup(s, (size_t)(*p - s));
        } else
            return seq;
        /* postfix operators */
        for (;;) {
            char o = **p;
            int mn, mx;
            if (o == '?')
                mn = 0, mx = 1, (*p)++;
            else if (o == '*')
                mn = 0, mx = -1, (*p)++;
            else if (o == '+')
                mn = 1, mx = -1, (*p)++;
            else if (o == '{') {
                char *end;
                mn = (int)strtol(*p + 1, &end, 10);
                mx = mn;
                if (*end == ',') {
                    end++;
                    mx = *end == '}' ? -1 : (int)strtol(end, &end, 10);
                }
                assert_int_equal(*end, '}');
                *p = end + 1;
            } else
                break;
            struct node *r = node_new(N_REP);
            r->min = mn;
            r->max = mx;
            add_kid(r, it);
            it = r;
        }
        add_kid(seq, it);
    }
}

static struct node *parse_alt(const char **p)
{
    struct node *alt = node_new(N_ALT);
    for (;;) {
        add_kid(alt, parse_seq(p));
        *p = skip_ws(*p);
        if (**p != '|')
            return alt;
        (*p)++;
    }
}

static void gram_parse(struct gram *g, const char *text)
{
    g->n = 0;
    const char *p = text;
    while (*p) {
        while (*p == '\n')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p != ' ')
            p++;
        assert_true(g->n < 4096);
        struct rule *r = &g->rules[g->n++];
        snprintf(r->name, sizeof(r->name), "%.*s", (int)(p - s), s);
        assert_memory_equal(p, " ::= ", 5);
        p += 5;
        r->body = parse_alt(&p);
        assert_int_equal(*p, '\n'); /* one rule per line */
    }
}

static void gram_free(struct gram *g)
{
    for (int i = 0; i < g->n; i++)
        node_free(g->rules[i].body);
    g->n = 0;
}

static const struct node *lookup(const struct gram *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->rules[i].name, name) == 0)
            return g->rules[i].body;
    fail_msg("undefined rule %s", name);
    return NULL;
}

/* Position sets over the text: in[i] = a match may be at offset i. Returns out. */
struct mctx {
    const struct gram *g;
    const char *t;
    size_t n;
};

static void match(const struct mctx *m, const struct node *nd, const bool *in, bool *out)
{
    size_t n = m->n;
    memset(out, 0, n + 1);
    switch (nd->kind) {
    case N_LIT:
        for (size_t i = 0; i <= n; i++)
            if (in[i] && i + nd->len <= n && memcmp(m->t + i, nd->lit, nd->len) == 0)
                out[i + nd->len] = true;
        break;
    case N_CLASS:
    case N_ANY:
        for (size_t i = 0; i < n; i++) {
            if (!in[i])
                continue;
            const char *p = m->t + i;
            uint32_t c = utf8_next(&p);
            bool hit = nd->kind == N_ANY;
            for (int r = 0; r < nd->nranges; r++)
                hit = hit || (c >= nd->ranges[r][0] && c <= nd->ranges[r][1]);
            if (nd->kind == N_CLASS && nd->neg)
                hit = !hit;
            if (hit && (size_t)(p - m->t) <= n)
                out[p - m->t] = true;
        }
        break;
    case N_REF:
        match(m, lookup(m->g, nd->lit), in, out);
        break;
    case N_SEQ: {
        bool *cur = malloc(n + 1), *nxt = malloc(n + 1);
        memcpy(cur, in, n + 1);
        for (int k = 0; k < nd->nkids; k++) {
            match(m, nd->kids[k], cur, nxt);
            memcpy(cur, nxt, n + 1);
        }
        memcpy(out, cur, n + 1);
        free(cur);
        free(nxt);
        break;
    }
    case N_ALT: {
        bool *tmp = malloc(n + 1);
        for (int k = 0; k < nd->nkids; k++) {
            match(m, nd->kids[k], in, tmp);
            for (size_t i = 0; i <= n; i++)
                out[i] = out[i] || tmp[i];
        }
        free(tmp);
        break;
    }
    case N_REP: {
        bool *cur = malloc(n + 1), *nxt = malloc(n + 1);
        memcpy(cur, in, n + 1);
        for (int k = 0; k < nd->min; k++) {
            match(m, nd->kids[0], cur, nxt);
            memcpy(cur, nxt, n + 1);
        }
        memcpy(out, cur, n + 1);
        for (int k = nd->min; nd->max < 0 || k < nd->max; k++) {
            match(m, nd->kids[0], cur, nxt);
            bool grew = false;
            for (size_t i = 0; i <= n; i++)
                if (nxt[i] && !out[i])
                    out[i] = grew = true;
            memcpy(cur, nxt, n + 1);
            if (!grew && nd->max < 0)
                break;
            bool any = false;
            for (size_t i = 0; i <= n; i++)
                any = any || cur[i];
            if (!any)
                break;
        }
        free(cur);
        free(nxt);
        break;
    }
    }
}

/* Whether the whole text is in the language of rule "root". */
static bool accepts(const char *grammar, const char *text)
{
    struct gram *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    gram_parse(g, grammar);
    struct mctx m = {g, text, strlen(text)};
    bool *in = calloc(m.n + 1, 1), *out = calloc(m.n + 1, 1);
    in[0] = true;
    match(&m, lookup(g, "root"), in, out);
    bool ok = out[m.n];
    free(in);
    free(out);
    gram_free(g);
    free(g);
    return ok;
}

/* ---- helpers ---- */

static char *convert(const char *schema_json, struct sg_error *err)
{
    json_error_t je;
    json_t *s = json_loads(schema_json, JSON_DECODE_ANY, &je);
    if (!s)
        fail_msg("bad test schema %s: %s", schema_json, je.text);
    char *out = NULL;
    memset(err, 0, sizeof(*err));
    int rc = sg_schema_to_gbnf(s, NULL, &out, err);
    json_decref(s);
    if (rc) {
        assert_null(out);
        assert_int_equal(rc, err->code);
        return NULL;
    }
    return out;
}

static void expect(const char *schema, const char *const *good, const char *const *bad)
{
    struct sg_error err;
    char *g = convert(schema, &err);
    if (!g)
        fail_msg("schema %s refused: %s", schema, err.msg);
    for (int i = 0; good && good[i]; i++)
        if (!accepts(g, good[i]))
            fail_msg("schema %s does not accept %s\ngrammar:\n%s", schema, good[i], g);
    for (int i = 0; bad && bad[i]; i++)
        if (accepts(g, bad[i]))
            fail_msg("schema %s accepts %s\ngrammar:\n%s", schema, bad[i], g);
    free(g);
}

static void refused(const char *schema, int code, const char *needle)
{
    struct sg_error err;
    char *g = convert(schema, &err);
    if (g)
        fail_msg("schema %s was accepted:\n%s", schema, g);
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, needle))
        fail_msg("message for %s lacks '%s': %s", schema, needle, err.msg);
}

/* ---- tests ---- */

static void test_object_required_optional(void **state)
{
    (void)state;
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                    "\"b\":{\"type\":\"boolean\"},\"c\":{\"type\":\"null\"}},"
                    "\"required\":[\"b\"],\"additionalProperties\":false}";
    const char *good[] = {"{\"b\":true}", "{\"b\":false,\"a\":-12}", "{\"b\":true,\"c\":null}",
                          "{\"b\":true,\"a\":0,\"c\":null}", NULL};
    const char *bad[] = {"{}",
                         "{\"a\":1}",
                         "{\"b\":true,\"d\":1}",
                         "{\"b\":1}",
                         "{ \"b\":true}",
                         "{\"b\":true,}",
                         "{\"b\":true,\"a\":01}",
                         NULL};
    expect(s, good, bad);
    /* no required member: any subset, in order, or none */
    const char *s2 = "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"boolean\"},"
                     "\"y\":{\"type\":\"boolean\"},\"z\":{\"type\":\"boolean\"}}}";
    const char *good2[] = {"{}",
                           "{\"x\":true}",
                           "{\"y\":true}",
                           "{\"z\":true}",
                           "{\"x\":true,\"z\":false}",
                           "{\"x\":true,\"y\":true,\"z\":true}",
                           NULL};
    const char *bad2[] = {"{,\"y\":true}", "{\"x\":true,}", "{\"y\":true,\"x\":true}", NULL};
    expect(s2, good2, bad2);
    /* required names not among the properties: any value */
    const char *good3[] = {"{\"k\":[1,\"a\"]}", "{\"k\":null}", NULL};
    const char *bad3[] = {"{}", NULL};
    expect("{\"type\":\"object\",\"required\":[\"k\"],\"additionalProperties\":false}", good3,
           bad3);
    const char *good4[] = {"{}", NULL}, *bad4[] = {"{\"a\":1}", NULL};
    expect("{\"type\":\"object\",\"additionalProperties\":false}", good4, bad4);
    /* a map: additionalProperties with a schema and no properties */
    const char *good5[] = {"{}", "{\"a\":1,\"b\":2}", NULL}, *bad5[] = {"{\"a\":\"x\"}", NULL};
    expect("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}", good5, bad5);
    /* keys with characters that need escaping */
    const char *good6[] = {"{\"a\\\"b\\\\c\":1}", NULL};
    expect("{\"properties\":{\"a\\\"b\\\\c\":{\"const\":1}},\"required\":[\"a\\\"b\\\\c\"]}", good6,
           NULL);
}

static void test_arrays(void **state)
{
    (void)state;
    const char *good[] = {"[1]", "[1,2,3]", NULL};
    const char *bad[] = {"[]", "[1,2,3,4]", "[1,]", "[\"a\"]", NULL};
    expect("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}",
           good, bad);
    const char *good2[] = {"[]", NULL}, *bad2[] = {"[1]", NULL};
    expect("{\"type\":\"array\",\"maxItems\":0}", good2, bad2);
    const char *good3[] = {"[]", "[{\"n\":\"x\"},{\"n\":\"\"}]", NULL};
    const char *bad3[] = {"[{}]", NULL};
    expect("{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"
           "\"string\"}},\"required\":[\"n\"]}}",
           good3, bad3);
    /* the default bound: 64 items */
    char big[1024] = "[", big2[1024] = "[";
    for (int i = 0; i < 64; i++)
        strcat(big, i ? ",1" : "1");
    strcat(big, "]");
    for (int i = 0; i < 65; i++)
        strcat(big2, i ? ",1" : "1");
    strcat(big2, "]");
    const char *good4[] = {big, NULL}, *bad4[] = {big2, NULL};
    expect("{\"type\":\"array\",\"items\":{\"const\":1}}", good4, bad4);
    refused("{\"type\":\"array\",\"minItems\":5,\"maxItems\":2}", SG_EINVAL, "minItems");
    refused("{\"type\":\"array\",\"minItems\":5000}", SG_ETOOBIG, "minItems");
    refused("{\"type\":\"array\",\"items\":[{\"type\":\"integer\"}]}", SG_EINVAL, "tuple");
    refused("{\"type\":\"array\",\"maxItems\":-1}", SG_EINVAL, "maxItems");
}

static void test_strings(void **state)
{
    (void)state;
    const char *good[] = {"\"ab\"", "\"abcd\"", "\"a\\\"\"", "\"\\n\\\\\"", "\"äö\"", NULL};
    const char *bad[] = {"\"a\"", "\"abcde\"", "\"a\nb\"", "\"a\\q\"", "ab", "\"a\\u0041\"", NULL};
    expect("{\"type\":\"string\",\"minLength\":2,\"maxLength\":4}", good, bad);
    /* without maxLength: at most 256 characters */
    char s256[300] = "\"", s257[300] = "\"";
    memset(s256 + 1, 'x', 256);
    strcpy(s256 + 257, "\"");
    memset(s257 + 1, 'x', 257);
    strcpy(s257 + 258, "\"");
    const char *good2[] = {"\"\"", s256, NULL}, *bad2[] = {s257, NULL};
    expect("{\"type\":\"string\"}", good2, bad2);
    const char *good3[] = {"\"red\"", "\"green\"", NULL}, *bad3[] = {"\"blue\"", "\"re\"", NULL};
    expect("{\"type\":\"string\",\"enum\":[\"red\",\"green\",5]}", good3, bad3);
    const char *good4[] = {"\"x\\\"y\"", NULL}, *bad4[] = {"\"x\"", NULL};
    expect("{\"const\":\"x\\\"y\"}", good4, bad4);
    const char *good5[] = {"\"2024-02-28\"", NULL};
    const char *bad5[] = {"\"2024-2-28\"", "\"2024-13-01\"", "\"2024-02-30\"", NULL};
    expect("{\"type\":\"string\",\"format\":\"date\"}", good5, bad5);
    const char *good6[] = {"\"123e4567-e89b-12d3-a456-426614174000\"", NULL};
    const char *bad6[] = {"\"123e4567e89b12d3a456426614174000\"", NULL};
    expect("{\"type\":\"string\",\"format\":\"uuid\"}", good6, bad6);
    const char *good7[] = {"\"2024-01-02T03:04:05Z\"", "\"2024-01-02T23:59:59.5+01:00\"", NULL};
    const char *bad7[] = {"\"2024-01-02 03:04:05Z\"", "\"2024-01-02T24:00:00Z\"", NULL};
    expect("{\"type\":\"string\",\"format\":\"date-time\"}", good7, bad7);
    const char *good8[] = {"\"a.b@shop.de\"", NULL}, *bad8[] = {"\"shop.de\"", NULL};
    expect("{\"type\":\"string\",\"format\":\"email\"}", good8, bad8);
    refused("{\"type\":\"string\",\"format\":\"ipv4\"}", SG_EINVAL, "ipv4");
    refused("{\"type\":\"string\",\"pattern\":\"^a+$\"}", SG_EINVAL, "'pattern'");
    refused("{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", SG_EINVAL, "minLength");
    refused("{\"type\":\"string\",\"maxLength\":\"5\"}", SG_EINVAL, "maxLength");
    refused("{\"type\":\"string\",\"minLength\":2000}", SG_ETOOBIG, "minLength");
}

static void test_numbers(void **state)
{
    (void)state;
    const char *good[] = {"0", "-0", "7", "-123", "1234567890123456", NULL};
    const char *bad[] = {"01", "1.5", "+1", "12345678901234567", "1e3", "", NULL};
    expect("{\"type\":\"integer\"}", good, bad);
    const char *good2[] = {"0", "-1.25", "3e10", "2.0E-5", NULL};
    const char *bad2[] = {".5", "1.", "NaN", "1e", NULL};
    expect("{\"type\":\"number\"}", good2, bad2);
    /* integer ranges: every value inside, none outside */
    static const long long ranges[][2] = {{1, 48},        {0, 9},     {-5, 5}, {-120, -7},
                                          {18, 200},      {100, 999}, {7, 7},  {95, 1005},
                                          {-1000, 12345}, {0, 0},     {-1, -1}};
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        long long lo = ranges[r][0], hi = ranges[r][1];
        char schema[128];
        snprintf(schema, sizeof(schema), "{\"type\":\"integer\",\"minimum\":%lld,\"maximum\":%lld}",
                 lo, hi);
        struct sg_error err;
        char *g = convert(schema, &err);
        assert_non_null(g);
        for (long long v = lo - 30; v <= hi + 30; v++) {
            char t[32];
            snprintf(t, sizeof(t), "%lld", v);
            bool in = v >= lo && v <= hi;
            if (accepts(g, t) != in)
                fail_msg("%s: %lld %s", schema, v, in ? "rejected" : "accepted");
        }
        free(g);
    }
    /* one bound only, exclusive bounds, draft-4 boolean exclusive bounds */
    const char *good3[] = {"18", "19", "1000000", NULL}, *bad3[] = {"17", "0", "-18", NULL};
    expect("{\"type\":\"integer\",\"minimum\":18}", good3, bad3);
    const char *good4[] = {"1", "9", NULL}, *bad4[] = {"0", "10", NULL};
    expect("{\"type\":\"integer\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":10}", good4, bad4);
    expect("{\"type\":\"integer\",\"minimum\":0,\"exclusiveMinimum\":true,\"maximum\":10,"
           "\"exclusiveMaximum\":true}",
           good4, bad4);
    const char *good5[] = {"-3", "-99999", NULL}, *bad5[] = {"-2", "0", "5", NULL};
    expect("{\"type\":\"integer\",\"maximum\":-3}", good5, bad5);
    /* numbers: integral non-negative bounds */
    const char *good6[] = {"0", "4.99", "5", NULL}, *bad6[] = {"-1", "5.5", "6", "1e2", NULL};
    expect("{\"type\":\"number\",\"minimum\":0,\"maximum\":5}", good6, bad6);
    refused("{\"type\":\"number\",\"minimum\":0.5}", SG_EINVAL, "minimum");
    refused("{\"type\":\"number\",\"maximum\":5}", SG_EINVAL, "minimum");
    refused("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", SG_EINVAL, "no value");
    refused("{\"type\":\"integer\",\"minimum\":\"1\"}", SG_EINVAL, "minimum");
    refused("{\"type\":\"integer\",\"multipleOf\":2}", SG_EINVAL, "'multipleOf'");
}

static void test_literals_and_combinators(void **state)
{
    (void)state;
    const char *good[] = {"true", "false", NULL}, *bad[] = {"1", "null", NULL};
    expect("{\"type\":\"boolean\"}", good, bad);
    const char *good2[] = {"null", "\"a\"", NULL}, *bad2[] = {"1", NULL};
    expect("{\"type\":[\"string\",\"null\"],\"maxLength\":3}", good2, bad2);
    expect("{\"type\":\"string\",\"nullable\":true,\"maxLength\":3}", good2, bad2);
    const char *good3[] = {"1", "\"x\"", "{\"a\":[1,{\"b\":null}]}", NULL};
    const char *bad3[] = {"true", "[1]", NULL};
    expect("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"},{\"type\":\"object\"}]}",
           good3, bad3);
    expect("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"string\"},{\"type\":\"object\"}]}",
           good3, bad3);
    const char *good4[] = {"{\"v\":[1,2]}", "[3]", "true", "\"s\"", NULL};
    const char *bad4[] = {"{\"v\":[1,2],}", "tru", NULL};
    expect("{}", good4, bad4);
    expect("true", good4, bad4);
    const char *good5[] = {"{\"a\":1}", "[1,\"a\",null]", "\"é\"", "{\"x\":{\"y\":[false]}}", NULL};
    expect("{\"enum\":[{\"a\":1},[1,\"a\",null],\"é\",{\"x\":{\"y\":[false]}}]}", good5, NULL);
    const char *good6[] = {"1", NULL}, *bad6[] = {"\"a\"", NULL};
    expect("{\"allOf\":[{\"type\":\"integer\"}],\"description\":\"d\",\"title\":\"t\"}", good6,
           bad6);
    refused("{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":1}]}", SG_EINVAL, "allOf");
    refused("{\"type\":\"object\",\"anyOf\":[{\"type\":\"integer\"}]}", SG_EINVAL, "'type'");
    refused("{\"anyOf\":[]}", SG_EINVAL, "anyOf");
    refused("{\"not\":{\"type\":\"integer\"}}", SG_EINVAL, "'not'");
    refused("{\"if\":{},\"then\":{}}", SG_EINVAL, "'if'");
    refused("{\"type\":\"integer\",\"x-vendor\":1}", SG_EINVAL, "'x-vendor'");
    refused("false", SG_EINVAL, "false");
    refused("[1]", SG_EINVAL, "object");
    refused("{\"type\":\"float\"}", SG_EINVAL, "float");
    refused("{\"type\":5}", SG_EINVAL, "type");
    refused("{\"type\":[]}", SG_EINVAL, "type");
    refused("{\"enum\":[]}", SG_EINVAL, "enum");
    refused("{\"enum\":5}", SG_EINVAL, "enum");
    refused("{\"type\":\"integer\",\"enum\":[\"a\"]}", SG_EINVAL, "enum");
    refused("{\"properties\":[]}", SG_EINVAL, "properties");
    refused("{\"properties\":{},\"required\":[1]}", SG_EINVAL, "required");
    refused("{\"additionalProperties\":5}", SG_EINVAL, "additionalProperties");
    /* the place is named */
    refused("{\"properties\":{\"a\":{\"properties\":{\"b\":{\"type\":\"string\",\"pattern\":"
            "\"x\"}}}}}",
            SG_EINVAL, "properties.a.properties.b");
}

static void test_refs(void **state)
{
    (void)state;
    const char *s = "{\"$defs\":{\"item\":{\"type\":\"object\",\"properties\":{\"sku\":{\"type\":"
                    "\"string\",\"maxLength\":4}},\"required\":[\"sku\"]}},"
                    "\"definitions\":{\"qty\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9}},"
                    "\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/item\"},"
                    "\"b\":{\"$ref\":\"#/$defs/item\"},\"q\":{\"$ref\":\"#/definitions/qty\"}},"
                    "\"required\":[\"a\",\"b\",\"q\"]}";
    const char *good[] = {"{\"a\":{\"sku\":\"x1\"},\"b\":{\"sku\":\"\"},\"q\":3}", NULL};
    const char *bad[] = {"{\"a\":{\"sku\":\"x1\"},\"b\":{},\"q\":3}",
                         "{\"a\":{\"sku\":\"x1\"},\"b\":{\"sku\":\"\"},\"q\":10}", NULL};
    expect(s, good, bad);
    /* the same definition used twice is converted once */
    struct sg_error err;
    char *g = convert(s, &err);
    assert_non_null(g);
    assert_null(strstr(strstr(g, "\"\\\"sku\\\":\"") + 1, "\"\\\"sku\\\":\""));
    free(g);
    refused("{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#/$defs/"
            "n\"}}}},\"$ref\":\"#/$defs/n\"}",
            SG_EINVAL, "recursive");
    refused("{\"type\":\"object\",\"properties\":{\"self\":{\"$ref\":\"#\"}}}", SG_EINVAL,
            "recursive");
    refused("{\"$ref\":\"#/$defs/missing\"}", SG_EINVAL, "missing");
    refused("{\"$ref\":\"https://example.com/s.json\"}", SG_EINVAL, "local");
    refused("{\"$ref\":5}", SG_EINVAL, "$ref");
}

static void test_hostile(void **state)
{
    (void)state;
    /* deep nesting */
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    for (int i = 0; i < 40; i++)
        sg_buf_puts(&b, "{\"type\":\"array\",\"items\":");
    sg_buf_puts(&b, "{\"type\":\"integer\"}");
    for (int i = 0; i < 40; i++)
        sg_buf_puts(&b, "}");
    refused(b.data, SG_ETOOBIG, "nested");
    /* 30 levels are fine */
    sg_buf_reset(&b);
    for (int i = 0; i < 30; i++)
        sg_buf_puts(&b, "{\"type\":\"array\",\"maxItems\":1,\"items\":");
    sg_buf_puts(&b, "{\"type\":\"integer\"}");
    for (int i = 0; i < 30; i++)
        sg_buf_puts(&b, "}");
    struct sg_error err;
    char *g = convert(b.data, &err);
    assert_non_null(g);
    free(g);
    /* a huge enum */
    sg_buf_reset(&b);
    sg_buf_puts(&b, "{\"enum\":[");
    for (int i = 0; i < 2000; i++)
        sg_buf_printf(&b, "%s\"v%d\"", i ? "," : "", i);
    sg_buf_puts(&b, "]}");
    refused(b.data, SG_ETOOBIG, "enum");
    /* an exponential $ref graph: each level uses the previous one twice; converted once
     * per definition */
    sg_buf_reset(&b);
    sg_buf_puts(&b, "{\"$defs\":{\"d0\":{\"type\":\"integer\"}");
    for (int i = 1; i < 15; i++)
        sg_buf_printf(&b,
                      ",\"d%d\":{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/"
                      "d%d\"},\"b\":{\"$ref\":\"#/$defs/d%d\"}}}",
                      i, i - 1, i - 1);
    sg_buf_puts(&b, "},\"$ref\":\"#/$defs/d14\"}");
    g = convert(b.data, &err);
    if (!g)
        fail_msg("ref graph: %s", err.msg);
    assert_true(strlen(g) < 64 * 1024);
    free(g);
    /* ... and 20 levels of it are simply too deep */
    sg_buf_reset(&b);
    sg_buf_puts(&b, "{\"$defs\":{\"d0\":{\"type\":\"integer\"}");
    for (int i = 1; i < 20; i++)
        sg_buf_printf(&b,
                      ",\"d%d\":{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/"
                      "d%d\"},\"b\":{\"$ref\":\"#/$defs/d%d\"}}}",
                      i, i - 1, i - 1);
    sg_buf_puts(&b, "},\"$ref\":\"#/$defs/d19\"}");
    refused(b.data, SG_ETOOBIG, "nested");
    /* too many properties */
    sg_buf_reset(&b);
    sg_buf_puts(&b, "{\"properties\":{");
    for (int i = 0; i < 300; i++)
        sg_buf_printf(&b, "%s\"p%d\":{\"type\":\"integer\"}", i ? "," : "", i);
    sg_buf_puts(&b, "}}");
    refused(b.data, SG_ETOOBIG, "properties");
    /* a wide schema within the limits stays under the grammar size limit or is refused */
    sg_buf_reset(&b);
    sg_buf_puts(&b, "{\"properties\":{");
    for (int i = 0; i < 250; i++)
        sg_buf_printf(&b, "%s\"p%d\":{\"enum\":[%d,\"%0200d\"]}", i ? "," : "", i, i, i);
    sg_buf_puts(&b, "}}");
    g = convert(b.data, &err);
    assert_true(g != NULL || err.code == SG_ETOOBIG);
    free(g);
    sg_buf_free(&b);
    /* NULL means a free-form object */
    char *out = NULL;
    assert_int_equal(sg_schema_to_gbnf(NULL, NULL, &out, &err), 0);
    assert_true(accepts(out, "{\"a\":[1,{\"b\":\"c\"}]}"));
    assert_false(accepts(out, "[1]"));
    free(out);
}

/* llama.cpp's grammar sampler keeps one parse stack for every way the text so far can be
 * read; alternatives that can match the same text multiply them when nested, and a $ref
 * used in many places nests them without making the grammar larger. Such a schema is
 * refused (before: a few kilobytes of schema stalled the decode thread for minutes per
 * token and grew its memory without bound). */
static void test_ambiguity_is_bounded(void **state)
{
    (void)state;
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    /* a_k: an array of a_(k-1), in one of 4 shapes that all match "[...]" */
    sg_buf_puts(&b, "{\"$defs\":{\"a0\":{\"type\":\"string\",\"maxLength\":3}");
    for (int k = 1; k <= 8; k++) {
        sg_buf_printf(&b, ",\"a%d\":{\"anyOf\":[", k);
        for (int i = 1; i <= 4; i++)
            sg_buf_printf(&b,
                          "%s{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/a%d\"},"
                          "\"minItems\":1,\"maxItems\":%d}",
                          i > 1 ? "," : "", k - 1, i);
        sg_buf_puts(&b, "]}");
    }
    sg_buf_puts(&b, "},\"$ref\":\"#/$defs/a8\"}");
    refused(b.data, SG_ETOOBIG, "ways");
    /* the same through anyOf alone, and through type lists and nullable */
    sg_buf_reset(&b);
    sg_buf_puts(&b, "{\"$defs\":{\"a0\":{\"type\":\"integer\"}");
    for (int k = 1; k <= 12; k++)
        sg_buf_printf(&b,
                      ",\"a%d\":{\"anyOf\":[{\"$ref\":\"#/$defs/a%d\"},{\"$ref\":"
                      "\"#/$defs/a%d\"},{\"type\":\"null\"}]}",
                      k, k - 1, k - 1);
    sg_buf_puts(&b, "},\"$ref\":\"#/$defs/a12\"}");
    refused(b.data, SG_ETOOBIG, "ways");
    /* what real schemas do stays fine: an enum of 1,024 values that may be null, 64
     * alternatives, alternatives inside alternatives, many properties with alternatives */
    sg_buf_reset(&b);
    sg_buf_puts(&b, "{\"anyOf\":[{\"type\":\"null\"},{\"enum\":[");
    for (int i = 0; i < 1024; i++)
        sg_buf_printf(&b, "%s\"v%d\"", i ? "," : "", i);
    sg_buf_puts(&b, "]}]}");
    struct sg_error err;
    char *g = convert(b.data, &err);
    if (!g)
        fail_msg("nullable enum: %s", err.msg);
    free(g);
    sg_buf_reset(&b);
    sg_buf_puts(&b, "{\"type\":\"object\",\"properties\":{");
    for (int i = 0; i < 200; i++) {
        sg_buf_printf(&b, "%s\"p%d\":{\"anyOf\":[", i ? "," : "", i);
        for (int k = 0; k < 8; k++)
            sg_buf_printf(&b,
                          "%s{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":"
                          "\"string\",\"maxLength\":%d},{\"type\":\"integer\"}]}}",
                          k ? "," : "", k + 1);
        sg_buf_puts(&b, "]}");
    }
    sg_buf_puts(&b, "}}");
    g = convert(b.data, &err);
    if (!g)
        fail_msg("wide object: %s", err.msg);
    free(g);
    sg_buf_free(&b);
}

/* A character of an enum, const or property name that a vocabulary has only as byte tokens
 * (the engine never samples those under a grammar) can also be written as its \uXXXX
 * escape; before, the grammar admitted no token there and the answer ended unfinished with
 * finish_reason "stop". */
static void test_literals_may_be_escaped(void **state)
{
    (void)state;
    const char *good[] = {"\"\xF0\x9D\x84\x9E\"", "\"\\ud834\\udd1e\"", "\"K\xC3\xB6ln\"",
                          "\"K\\u00f6ln\"", NULL};
    const char *bad[] = {"\"Koln\"", "\"K\\u00f6\"", "\"\\ud834\"", NULL};
    expect("{\"enum\":[\"\xF0\x9D\x84\x9E\",\"K\xC3\xB6ln\"]}", good, bad);
    const char *good2[] = {"[\"\\u20ac\",1]", "[\"\xE2\x82\xAC\",1]", NULL};
    expect("{\"const\":[\"\xE2\x82\xAC\",1]}", good2, NULL);
    const char *good3[] = {"{\"gr\xC3\xB6\xC3\x9F\x65\":1}", "{\"gr\\u00f6\\u00dfe\":1}", NULL};
    const char *bad3[] = {"{\"grosse\":1}", NULL};
    expect("{\"properties\":{\"gr\xC3\xB6\xC3\x9F\x65\":{\"type\":\"integer\"}},\"required\":["
           "\"gr\xC3\xB6\xC3\x9F\x65\"]}",
           good3, bad3);
}

/* ---- tools.c ---- */

static int prepare(const char *body_json, struct sg_tools *t, struct sg_tools_error *e)
{
    json_error_t je;
    json_t *body = json_loads(body_json, 0, &je);
    if (!body)
        fail_msg("bad test body: %s", je.text);
    int rc = sg_tools_prepare(body, t, e);
    json_decref(body);
    return rc;
}

#define TOOLS                                                                                      \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"    \
    "\"Weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"          \
    "\"string\",\"maxLength\":8}},\"required\":[\"city\"]}}},{\"type\":\"function\","              \
    "\"function\":{\"name\":\"ping\"}}]"

static void test_tools_prepare(void **state)
{
    (void)state;
    struct sg_tools t;
    struct sg_tools_error e;
    const char *call = "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Köln\"}}"
                       "\n</tool_call>";
    const char *ping = "<tool_call>\n{\"name\":\"ping\",\"arguments\":{\"x\":[1]}}\n</tool_call>";
    /* auto: a call or text that does not start with '<' */
    assert_int_equal(prepare("{" TOOLS "}", &t, &e), 0);
    assert_true(t.calls);
    assert_non_null(t.addendum);
    assert_non_null(strstr(t.addendum, "\"name\":\"get_weather\""));
    assert_true(accepts(t.grammar, call));
    assert_true(accepts(t.grammar, ping));
    assert_true(accepts(t.grammar, "Hello <b>"));
    assert_false(accepts(t.grammar, "<b>"));
    assert_false(accepts(t.grammar, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{}}"
                                    "\n</tool_call>"));
    assert_false(
        accepts(t.grammar, "<tool_call>\n{\"name\":\"rm\",\"arguments\":{}}\n</tool_call>"));
    sg_tools_free(&t);
    /* required: a call only */
    assert_int_equal(prepare("{" TOOLS ",\"tool_choice\":\"required\"}", &t, &e), 0);
    assert_true(accepts(t.grammar, call));
    assert_false(accepts(t.grammar, "Hello"));
    assert_non_null(strstr(t.addendum, "must call"));
    sg_tools_free(&t);
    /* named */
    assert_int_equal(prepare("{" TOOLS ",\"tool_choice\":{\"type\":\"function\",\"function\":{"
                             "\"name\":\"ping\"}}}",
                             &t, &e),
                     0);
    assert_true(accepts(t.grammar, ping));
    assert_false(accepts(t.grammar, call));
    sg_tools_free(&t);
    /* none: no grammar, no definitions, no calls */
    assert_int_equal(prepare("{" TOOLS ",\"tool_choice\":\"none\"}", &t, &e), 0);
    assert_false(t.calls);
    assert_null(t.grammar);
    assert_null(t.addendum);
    sg_tools_free(&t);
    /* auto with a response format: a call or the schema's JSON */
    assert_int_equal(prepare("{" TOOLS ",\"response_format\":{\"type\":\"json_schema\","
                             "\"json_schema\":{\"name\":\"n\",\"schema\":{\"type\":\"object\","
                             "\"properties\":{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"]"
                             "}}}}",
                             &t, &e),
                     0);
    assert_true(accepts(t.grammar, call));
    assert_true(accepts(t.grammar, "{\"ok\":true}"));
    assert_false(accepts(t.grammar, "Hello"));
    sg_tools_free(&t);
    /* response formats alone */
    assert_int_equal(prepare("{\"response_format\":{\"type\":\"json_object\"}}", &t, &e), 0);
    assert_false(t.calls);
    assert_true(accepts(t.grammar, "{\"a\":1}"));
    assert_false(accepts(t.grammar, "1"));
    sg_tools_free(&t);
    assert_int_equal(prepare("{\"response_format\":{\"type\":\"text\"}}", &t, &e), 0);
    assert_null(t.grammar);
    sg_tools_free(&t);
}

static void test_tools_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body, *param, *needle;
    } cases[] = {
        {"{\"tools\":{}}", "tools", "array"},
        {"{\"tools\":[5]}", "tools[0]", "object"},
        {"{\"tools\":[{\"type\":\"code_interpreter\"}]}", "tools[0].type", "function"},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}",
         "tools[0].function.name", "letters"},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{}}]}", "tools[0].function.name", "name"},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},{\"type\":\"function\","
         "\"function\":{\"name\":\"a\"}}]}",
         "tools[1].function.name", "Duplicate"},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":5}}]}",
         "tools[0].function.parameters", "object"},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{"
         "\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\",\"pattern\":\"y\"}}}}}]}",
         "tools[0].function.parameters", "'pattern'"},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"description\":5}}]}",
         "tools[0].function.description", "string"},
        {"{\"tool_choice\":\"required\"}", "tool_choice", "tools"},
        {"{" TOOLS ",\"tool_choice\":\"sometimes\"}", "tool_choice", "required"},
        {"{" TOOLS ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}}",
         "tool_choice", "not in"},
        {"{" TOOLS ",\"tool_choice\":{\"type\":\"function\"}}", "tool_choice", "function"},
        {"{\"response_format\":{\"type\":\"yaml\"}}", "response_format.type", "json_schema"},
        {"{\"response_format\":{}}", "response_format.type", "type"},
        {"{\"response_format\":{\"type\":\"json_schema\"}}", "response_format.json_schema",
         "object"},
        {"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":5}}}",
         "response_format.json_schema.schema", "object"},
        {"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"type\":"
         "\"string\",\"format\":\"hostname\"}}}}",
         "response_format.json_schema.schema", "hostname"},
        {"{\"response_format\":5}", "response_format", "object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sg_tools t;
        struct sg_tools_error e;
        int rc = prepare(cases[i].body, &t, &e);
        if (rc == 0)
            fail_msg("accepted: %s", cases[i].body);
        assert_null(t.grammar);
        assert_null(t.addendum);
        if (strcmp(e.param, cases[i].param) != 0 || !strstr(e.msg, cases[i].needle))
            fail_msg("%s: param %s, message %s", cases[i].body, e.param, e.msg);
    }
    /* too many tools */
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    sg_buf_puts(&b, "{\"tools\":[");
    for (int i = 0; i < 129; i++)
        sg_buf_printf(&b, "%s{\"type\":\"function\",\"function\":{\"name\":\"f%d\"}}", i ? "," : "",
                      i);
    sg_buf_puts(&b, "]}");
    struct sg_tools t;
    struct sg_tools_error e;
    assert_int_not_equal(prepare(b.data, &t, &e), 0);
    assert_string_equal(e.param, "tools");
    sg_buf_free(&b);
}

static void test_tools_messages_and_parse(void **state)
{
    (void)state;
    json_error_t je;
    json_t *m =
        json_loads("{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
                   "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                   "\"arguments\":\"{\\\"city\\\":\\\"Bonn\\\"}\"}}]}",
                   0, &je);
    assert_non_null(m);
    const char *role = "assistant";
    bool oom;
    char *t = sg_tools_render_message(m, "", &role, &oom);
    assert_string_equal(t,
                        "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Bonn\"}}"
                        "\n</tool_call>");
    assert_string_equal(role, "assistant");
    /* what the engine renders it parses back */
    struct sg_tool_call c;
    assert_true(sg_tools_parse(t, strlen(t), &c));
    assert_true(c.name_done && c.complete);
    assert_int_equal(c.name_len, 11);
    assert_memory_equal(c.name, "get_weather", 11);
    assert_int_equal(c.args_len, strlen("{\"city\":\"Bonn\"}"));
    assert_memory_equal(c.args, "{\"city\":\"Bonn\"}", c.args_len);
    /* every prefix parses as an incomplete call */
    for (size_t n = 1; n < strlen(t); n++) {
        assert_true(sg_tools_parse(t, n, &c));
        assert_false(c.complete);
        if (c.name_done)
            assert_int_equal(c.name_len, 11);
    }
    free(t);
    json_decref(m);
    m = json_loads("{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"12 C\"}", 0, &je);
    role = "tool";
    t = sg_tools_render_message(m, "12 C", &role, &oom);
    assert_string_equal(t, "<tool_response>\n12 C\n</tool_response>");
    assert_string_equal(role, "user");
    free(t);
    json_decref(m);
    m = json_loads("{\"role\":\"user\",\"content\":\"hi\"}", 0, &je);
    assert_null(sg_tools_render_message(m, "hi", &role, &oom));
    assert_false(oom);
    json_decref(m);
    assert_false(sg_tools_parse("Hello", 5, &c));
    assert_false(sg_tools_parse("", 0, &c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_required_optional),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_literals_and_combinators),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_ambiguity_is_bounded),
        cmocka_unit_test(test_literals_may_be_escaped),
        cmocka_unit_test(test_tools_prepare),
        cmocka_unit_test(test_tools_errors),
        cmocka_unit_test(test_tools_messages_and_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
