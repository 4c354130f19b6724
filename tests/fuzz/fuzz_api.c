/* Fuzz target: the JSON parser and serializer (src/core/json.h) and OpenAI request
 * decoding (sg_api_decode for chat, completions and embeddings) with the text-field walker
 * (sg_api_text_fields), on one input.
 *
 * Invariants:
 * - JSON: sg_json_parse accepts exactly what jansson's json_loadb accepts (its documented
 *   contract; except that jansson drops a NUL byte after a number, which we refuse) and
 *   builds an equal value; parse -> dump -> parse gives an equal value, and
 *   jansson reads the dump as the same value too.
 * - Decoding: a refusal is a 400 with a message; an accepted body has a non-empty model,
 *   and its re-serialization (what goes upstream) decodes again to the same model and
 *   stream flag; embeddings are never streamed.
 * - Walker: the same fields (paths and strings) in the same order on a deep copy of the
 *   body (the redaction stage relies on "field i of a copy is field i of the original");
 *   a non-zero return from the callback stops the walk and is reported. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "api/openai.h"
#include "core/json.h"

#include "fuzz_util.h"

#define DUMP_MAX (1u << 20)

/* One input is at most a few hundred KB, so the walk records at most this many fields. */
#define MAX_FIELDS 4096

struct walk {
    size_t n, stop_after;
    json_t *s[MAX_FIELDS]; /* references: a member name's string is made for the call */
    char path[MAX_FIELDS][96];
};

static int record(json_t *s, const char *path, void *ctx)
{
    struct walk *w = ctx;
    FUZZ_CHECK(json_is_string(s) && path && path[0]);
    FUZZ_CHECK(w->n < w->stop_after); /* not called again after a stop */
    if (w->n < MAX_FIELDS) {
        w->s[w->n] = json_incref(s);
        snprintf(w->path[w->n], sizeof(w->path[0]), "%s", path);
    }
    w->n++;
    return w->n == w->stop_after ? 1 : 0;
}

static void walk_free(struct walk *w)
{
    for (size_t i = 0; i < w->n && i < MAX_FIELDS; i++)
        json_decref(w->s[i]);
    w->n = 0;
}

/* A transform pass: "T_" before every string visited, values and member names (api names
 * are not visited, so the body keeps its shape); with ctx non-NULL every string becomes
 * "same" (two names in one object then clash). */
static int prefix_all(json_t *s, const char *path, void *ctx)
{
    (void)path;
    if (ctx)
        return json_string_set(s, "same");
    size_t n = json_string_length(s);
    char *b = malloc(n + 2);
    FUZZ_CHECK(b);
    memcpy(b, "T_", 2);
    memcpy(b + 2, json_string_value(s), n);
    int rc = json_string_setn(s, b, n + 2);
    free(b);
    return rc;
}

static void check_json(const uint8_t *data, size_t size, unsigned flags)
{
    struct sg_json_error err = {0};
    json_t *a = sg_json_parse((const char *)data, size, flags, &err);
    json_error_t je;
    json_t *ref = json_loadb(
        (const char *)data, size,
        JSON_DECODE_ANY | (flags & SG_JSON_REJECT_DUPLICATES ? JSON_REJECT_DUPLICATES : 0), &je);
    if (!a) {
        FUZZ_CHECK(err.kind != SG_JSON_OK && err.text && err.offset <= size);
        /* jansson 2.14 skips a NUL byte that ends a number ("[1\0]" loads as [1]): with a
         * NUL in the input, only our refusals are right */
        FUZZ_CHECK(!ref || memchr(data, '\0', size));
        json_decref(ref);
        return;
    }
    FUZZ_CHECK(ref);
    FUZZ_CHECK(json_equal(a, ref));

    struct sg_buf out;
    sg_buf_init(&out, DUMP_MAX);
    if (sg_json_dump(a, &out) == 0) {
        struct sg_json_error err2 = {0};
        json_t *b = sg_json_parse(out.data, out.len, flags, &err2);
        FUZZ_CHECK(b);
        FUZZ_CHECK(json_equal(a, b));
        json_decref(b);
        /* what goes upstream must read the same in another parser: jansson's. (Not byte
         * for byte jansson's own dump: it writes exponents as "1e308", we as "1e+308".) */
        json_t *c = json_loadb(out.data, out.len, JSON_DECODE_ANY, NULL);
        FUZZ_CHECK(c && json_equal(a, c));
        json_decref(c);
    }
    sg_buf_free(&out);
    json_decref(a);
    json_decref(ref);
}

static void check_walk(enum sg_endpoint ep, json_t *body)
{
    static struct walk w1, w2;
    memset(&w1, 0, sizeof(w1));
    w1.stop_after = SIZE_MAX;
    FUZZ_CHECK(sg_api_text_fields(ep, body, record, &w1) == 0);
    json_t *copy = json_deep_copy(body);
    FUZZ_CHECK(copy);
    memset(&w2, 0, sizeof(w2));
    w2.stop_after = SIZE_MAX;
    FUZZ_CHECK(sg_api_text_fields(ep, copy, record, &w2) == 0);
    FUZZ_CHECK(w1.n == w2.n);
    for (size_t i = 0; i < w1.n && i < MAX_FIELDS; i++) {
        FUZZ_CHECK(strcmp(w1.path[i], w2.path[i]) == 0);
        FUZZ_CHECK(json_equal(w1.s[i], w2.s[i]));
        FUZZ_CHECK(w1.s[i] != w2.s[i]); /* the copy's own strings */
    }
    walk_free(&w2);
    /* a stop after k fields is reported and ends the walk */
    if (w1.n) {
        w2.stop_after = 1 + w1.n / 2;
        FUZZ_CHECK(sg_api_text_fields(ep, copy, record, &w2) != 0);
        FUZZ_CHECK(w2.n == w2.stop_after);
        walk_free(&w2);
    }
    json_decref(copy);
    /* renamed members keep their place and their values: a walk over the transformed body
     * visits the same fields in the same order, each with "T_" before it */
    copy = json_deep_copy(body);
    FUZZ_CHECK(sg_api_text_fields(ep, copy, prefix_all, NULL) == 0);
    w2.stop_after = SIZE_MAX;
    FUZZ_CHECK(sg_api_text_fields(ep, copy, record, &w2) == 0);
    FUZZ_CHECK(w1.n == w2.n);
    for (size_t i = 0; i < w1.n && i < MAX_FIELDS; i++) {
        const char *a = json_string_value(w1.s[i]), *b = json_string_value(w2.s[i]);
        size_t al = json_string_length(w1.s[i]);
        FUZZ_CHECK(json_string_length(w2.s[i]) == al + 2 && memcmp(b, "T_", 2) == 0 &&
                   memcmp(b + 2, a, al) == 0);
    }
    walk_free(&w2);
    json_decref(copy);
    /* names that become one: reported, never merged */
    copy = json_deep_copy(body);
    int rc = sg_api_text_fields(ep, copy, prefix_all, copy);
    FUZZ_CHECK(rc == 0 || rc == SG_API_NAME_CLASH);
    json_decref(copy);
    walk_free(&w1);
}

static void check_decode(enum sg_endpoint ep, const uint8_t *data, size_t size)
{
    json_t *j = NULL;
    const char *model = NULL;
    bool stream = false;
    struct sg_api_error e = {0};
    if (sg_api_decode(ep, (const char *)data, size, &j, &model, &stream, &e) != 0) {
        FUZZ_CHECK(!j && e.status == 400 && e.message[0] && e.type[0]);
        /* the error renders as an OpenAI error body that is valid JSON */
        struct sg_buf b;
        sg_buf_init(&b, 4096);
        FUZZ_CHECK(sg_api_error_json(&e, &b) == 0);
        json_t *eb = sg_json_parse(b.data, b.len, SG_JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(eb && json_is_object(json_object_get(eb, "error")));
        json_decref(eb);
        sg_buf_free(&b);
        return;
    }
    FUZZ_CHECK(j && json_is_object(j) && model && model[0]);
    FUZZ_CHECK(ep != SG_EP_EMBEDDINGS || !stream);
    check_walk(ep, j);
    /* what goes upstream: the body re-serialized */
    struct sg_buf up;
    sg_buf_init(&up, DUMP_MAX);
    if (sg_json_dump(j, &up) == 0) {
        json_t *j2 = NULL;
        const char *model2 = NULL;
        bool stream2 = false;
        struct sg_api_error e2 = {0};
        FUZZ_CHECK(sg_api_decode(ep, up.data, up.len, &j2, &model2, &stream2, &e2) == 0);
        FUZZ_CHECK(strcmp(model, model2) == 0 && stream == stream2);
        FUZZ_CHECK(json_equal(j, j2));
        json_decref(j2);
    }
    sg_buf_free(&up);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_json(data, size, 0);
    check_json(data, size, SG_JSON_REJECT_DUPLICATES);
    check_decode(SG_EP_CHAT, data, size);
    check_decode(SG_EP_COMPLETIONS, data, size);
    check_decode(SG_EP_EMBEDDINGS, data, size);
    return 0;
}
