/* Unit tests of the OpenAI API module: error bodies (shape and escaping), request
 * decoding errors (byte offsets, invalid UTF-8, field types naming the field), the
 * endpoint table, and which fields the text-field walk (what redaction sees) visits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/openai.h"

static void test_error_body(void **state)
{
    (void)state;
    struct sg_api_error e;
    struct sg_buf b;
    sg_buf_init(&b, 4096);
    sg_api_error_set(&e, 404, "invalid_request_error", "model_not_found", "model",
                     "The model '%s' does not exist.", "a\"b\\c\n");
    assert_int_equal(sg_api_error_json(&e, &b), 0);
    assert_string_equal(b.data, "{\"error\":{\"message\":\"The model 'a\\\"b\\\\c\\n' does not "
                                "exist.\",\"type\":\"invalid_request_error\",\"param\":\"model\","
                                "\"code\":\"model_not_found\"}}");
    /* It parses as JSON with the four members. */
    json_t *j = json_loads(b.data, 0, NULL);
    assert_non_null(j);
    json_t *err = json_object_get(j, "error");
    assert_int_equal(json_object_size(err), 4);
    json_decref(j);
    sg_buf_reset(&b);
    sg_api_error_set(&e, 401, NULL, NULL, NULL, "x");
    sg_api_error_json(&e, &b);
    assert_string_equal(b.data, "{\"error\":{\"message\":\"x\",\"type\":\"invalid_request_error\","
                                "\"param\":null,\"code\":null}}");
    sg_buf_free(&b);
}

/* Decodes `body` as a chat request and expects an error whose message contains `needle`
 * and whose param equals `param` (NULL for none). */
static void chat_error(const char *body, size_t len, const char *needle, const char *param)
{
    json_t *j;
    const char *model;
    bool stream;
    struct sg_api_error e;
    assert_int_equal(sg_api_decode(SG_EP_CHAT, body, len, &j, &model, &stream, &e), -1);
    assert_null(j);
    assert_int_equal(e.status, 400);
    if (!strstr(e.message, needle))
        fail_msg("message '%s' lacks '%s'", e.message, needle);
    assert_string_equal(e.param, param ? param : "");
}

#define CHAT_ERROR(s, needle, param) chat_error((s), sizeof(s) - 1, (needle), (param))

static void test_decode_errors(void **state)
{
    (void)state;
    CHAT_ERROR("", "empty", NULL);
    CHAT_ERROR("{\"model\": \"m\",}", "at byte offset 14", NULL);
    /* The input is never quoted back. */
    CHAT_ERROR("{\"model\": \"m\", \"x\": tru}",
               "not valid JSON: invalid token (at byte offset 20)", NULL);
    CHAT_ERROR("[1,2]", "must be a JSON object", NULL);
    CHAT_ERROR("{\"model\":\"m\",\"model\":\"n\",\"messages\":[]}", "duplicate", NULL);
    CHAT_ERROR("{\"model\":\"\xff\xfe\",\"messages\":[]}", "not valid UTF-8 (at byte offset 10)",
               NULL);
    CHAT_ERROR("{\"model\":\"\xed\xa0\x80\",\"messages\":[]}", "not valid UTF-8",
               NULL);                                                                /* surrogate */
    CHAT_ERROR("{\"model\":\"\xc0\xaf\",\"messages\":[]}", "not valid UTF-8", NULL); /* overlong */
    CHAT_ERROR("{\"model\":\"a\\u0000b\",\"messages\":[]}", "not valid JSON", NULL);
    CHAT_ERROR("{\"messages\":[]}", "Missing required parameter: 'model'", "model");
    CHAT_ERROR("{\"model\":7,\"messages\":[]}", "expected a string", "model");
    CHAT_ERROR("{\"model\":\"m\"}", "'messages'", "messages");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":{}}", "expected an array", "messages");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[]}", "at least one", "messages");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages[0].role",
               "messages[0].role");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}",
               "expected one of", "messages[0].role");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}",
               "messages[0].content", "messages[0].content");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
               "\"text\":1}]}]}",
               "expected a string", "messages[0].content[0].text");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":"
               "\"yes\"}",
               "expected a boolean", "stream");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"max_tokens\":1.5}",
               "expected an integer", "max_tokens");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"temperature\":\"hot\"}",
               "expected a number", "temperature");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"stop\":[\"a\",2]}",
               "expected a string", "stop[1]");
    CHAT_ERROR("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"stream_options\":{\"include_usage\":1}}",
               "boolean", "stream_options.include_usage");
    /* NUL byte in the raw body */
    static const char nul[] = "{\"model\":\"m\0\",\"messages\":[]}";
    chat_error(nul, sizeof(nul) - 1, "byte offset", NULL);
}

static void test_decode_ok(void **state)
{
    (void)state;
    static const char body[] =
        "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"unknown_field\":"
        "{\"kept\":1},\"messages\":[{\"role\":\"system\",\"content\":null},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}";
    json_t *j;
    const char *model;
    bool stream;
    struct sg_api_error e;
    assert_int_equal(sg_api_decode(SG_EP_CHAT, body, sizeof(body) - 1, &j, &model, &stream, &e), 0);
    assert_string_equal(model, "gpt-4o-mini");
    assert_true(stream);
    assert_non_null(json_object_get(j, "unknown_field")); /* passed through */
    json_decref(j);

    static const char emb[] = "{\"model\":\"e\",\"input\":[[1,2],[3]]}";
    assert_int_equal(sg_api_decode(SG_EP_EMBEDDINGS, emb, sizeof(emb) - 1, &j, &model, &stream, &e),
                     0);
    json_decref(j);
    static const char emb_bad[] = "{\"model\":\"e\",\"input\":[\"a\",1]}";
    assert_int_equal(
        sg_api_decode(SG_EP_EMBEDDINGS, emb_bad, sizeof(emb_bad) - 1, &j, &model, &stream, &e), -1);
    assert_string_equal(e.param, "input[1]");
    static const char cmp[] = "{\"model\":\"c\",\"prompt\":\"say hi\",\"echo\":false}";
    assert_int_equal(
        sg_api_decode(SG_EP_COMPLETIONS, cmp, sizeof(cmp) - 1, &j, &model, &stream, &e), 0);
    json_decref(j);
    static const char cmp_bad[] = "{\"model\":\"c\"}";
    assert_int_equal(
        sg_api_decode(SG_EP_COMPLETIONS, cmp_bad, sizeof(cmp_bad) - 1, &j, &model, &stream, &e),
        -1);
    assert_string_equal(e.param, "prompt");
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* 100,000 nested arrays: refused by the parser's depth limit, without crashing. */
    size_t n = 100000;
    char *s = malloc(2 * n + 64);
    size_t o = 0;
    o += (size_t)sprintf(s, "{\"model\":\"m\",\"x\":");
    memset(s + o, '[', n);
    o += n;
    memset(s + o, ']', n);
    o += n;
    s[o++] = '}';
    json_t *j;
    const char *model;
    bool stream;
    struct sg_api_error e;
    assert_int_equal(sg_api_decode(SG_EP_CHAT, s, o, &j, &model, &stream, &e), -1);
    assert_int_equal(e.status, 400);
    free(s);
}

static void test_endpoints(void **state)
{
    (void)state;
    const struct sg_endpoint_info *i = sg_api_endpoint("/v1/chat/completions", 20);
    assert_non_null(i);
    assert_int_equal(i->ep, SG_EP_CHAT);
    assert_true(i->auth);
    i = sg_api_endpoint("/v1/models/", 11);
    assert_non_null(i);
    assert_int_equal(i->ep, SG_EP_MODELS);
    assert_null(sg_api_endpoint("/v1/chat/completions2", 21));
    assert_null(sg_api_endpoint("/v1/images/generations", 22));
    assert_null(sg_api_endpoint("/", 1));
    i = sg_api_endpoint("/healthz", 8);
    assert_false(i->auth);
}

/* Collects the visited paths, one per line. */
static int collect(json_t *s, const char *path, void *ctx)
{
    (void)s;
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 4096 - n, "%s\n", path);
    return 0;
}

/* Decodes a chat body and collects the paths of its text fields into `got`. */
static json_t *chat_fields(const char *body, size_t len, char got[4096])
{
    json_t *j;
    const char *model;
    bool stream;
    struct sg_api_error e;
    assert_int_equal(sg_api_decode(SG_EP_CHAT, body, len, &j, &model, &stream, &e), 0);
    assert_int_equal(sg_api_text_fields(SG_EP_CHAT, j, collect, got), 0);
    return j;
}

static void test_text_fields(void **state)
{
    (void)state;
    /* ids, types, tool_choice, stream_options, enumerations and a schema's enum values are
     * text a client can fill; the role, base64 payloads, the model, the schema's structure
     * (type, the format's name) and member names that are the API's own words (a property
     * named "title" included) are not */
    static const char body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"data:image/png;base64,QUJD\"}}]},{\"role\":\"assistant\","
        "\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":"
        "{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\","
        "\"content\":\"x\"}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
        "\"stream_options\":{\"include_usage\":true},\"service_tier\":\"auto\",\"temperature\":1,"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\","
        "\"description\":\"d\",\"schema\":{\"type\":\"object\",\"properties\":{\"title\":{"
        "\"type\":\"string\",\"title\":\"t\",\"enum\":[\"a\"]}},\"examples\":[{\"title\":\"e\"}]}}}"
        "}";
    char got[4096] = "";
    json_t *j = chat_fields(body, sizeof(body) - 1, got);
    assert_string_equal(got, "messages[0].content[0].type\n"
                             "messages[1].tool_calls[0].id\n"
                             "messages[1].tool_calls[0].type\n"
                             "messages[1].tool_calls[0].function.name\n"
                             "messages[1].tool_calls[0].function.arguments\n"
                             "messages[2].tool_call_id\n"
                             "messages[2].content\n"
                             "response_format.json_schema.description\n"
                             "response_format.json_schema.schema.properties.title.title\n"
                             "response_format.json_schema.schema.properties.title.enum[0]\n"
                             "response_format.json_schema.schema.examples[0].title\n"
                             "tool_choice.type\n"
                             "tool_choice.function.name\n"
                             "service_tier\n");
    assert_null(sg_api_token_ids(SG_EP_CHAT, j));
    json_decref(j);

    const char *model;
    bool stream;
    struct sg_api_error e;
    static const char emb[] = "{\"model\":\"e\",\"input\":[[1,2],[3]]}";
    assert_int_equal(sg_api_decode(SG_EP_EMBEDDINGS, emb, sizeof(emb) - 1, &j, &model, &stream, &e),
                     0);
    assert_string_equal(sg_api_token_ids(SG_EP_EMBEDDINGS, j), "input");
    json_decref(j);
    static const char cmp[] = "{\"model\":\"c\",\"prompt\":[1,2]}";
    assert_int_equal(
        sg_api_decode(SG_EP_COMPLETIONS, cmp, sizeof(cmp) - 1, &j, &model, &stream, &e), 0);
    assert_string_equal(sg_api_token_ids(SG_EP_COMPLETIONS, j), "prompt");
    json_decref(j);
    static const char txt[] = "{\"model\":\"c\",\"prompt\":[\"a\",\"b\"]}";
    assert_int_equal(
        sg_api_decode(SG_EP_COMPLETIONS, txt, sizeof(txt) - 1, &j, &model, &stream, &e), 0);
    assert_null(sg_api_token_ids(SG_EP_COMPLETIONS, j));
    json_decref(j);
}

/* A transform pass over member names only: every visited name becomes "N<its length>"
 * ("same" when ctx is given: two in one object clash). */
static int rename_names(json_t *s, const char *path, void *ctx)
{
    size_t n = strlen(path);
    if (n == 0 || path[n - 1] != '}') /* a name's path: no name in this body ends so */
        return 0;
    char b[32];
    snprintf(b, sizeof(b), "N%zu", json_string_length(s));
    return json_string_set(s, ctx ? "same" : b);
}

static void test_member_names(void **state)
{
    (void)state;
    /* a client's own member names reach the backend like its values: metadata keys, an
     * unknown field of a message, a content part's extension, a schema's property names
     * (and the required list naming them), an unknown top-level field; the API's own
     * names (role, content, type, properties, ...) are not visited */
    static const char body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"hi\",\"x-part\":{\"a@b.de\":1}}],\"x-note\":{\"Anna\":1}}],"
        "\"metadata\":{\"kunde@example.com\":\"vip\",\"order\":\"7\"},"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\","
        "\"schema\":{\"type\":\"object\",\"properties\":{\"Anna Schmidt\":{\"type\":"
        "\"string\"},\"title\":{\"type\":\"string\"}},\"required\":[\"Anna Schmidt\"]}}},"
        "\"Custom Key\":true,\"\":0}";
    char got[4096] = "";
    json_t *j = chat_fields(body, sizeof(body) - 1, got);
    assert_string_equal(got, "messages[0]{2}\n"
                             "messages[0].content[0]{2}\n"
                             "messages[0].content[0].type\n"
                             "messages[0].content[0].text\n"
                             "messages[0].content[0].x-part{0}\n"
                             "messages[0].x-note{0}\n"
                             "response_format.json_schema.schema.properties{0}\n"
                             "response_format.json_schema.schema.required[0]\n"
                             "{4}\n"
                             "{5}\n"
                             "metadata{0}\n"
                             "metadata{1}\n"
                             "metadata.kunde@example.com\n"
                             "metadata.order\n");
    /* a changed name renames its member in place: same position, same value */
    json_t *copy = json_deep_copy(j);
    assert_int_equal(sg_api_text_fields(SG_EP_CHAT, copy, rename_names, NULL), 0);
    char *dump = json_dumps(copy, JSON_COMPACT);
    assert_string_equal(
        dump, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
              "\"text\":\"hi\",\"N6\":{\"N6\":1}}],\"N6\":{\"N4\":1}}],"
              "\"metadata\":{\"N17\":\"vip\",\"N5\":\"7\"},"
              "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\","
              "\"schema\":{\"type\":\"object\",\"properties\":{\"N12\":{\"type\":"
              "\"string\"},\"title\":{\"type\":\"string\"}},\"required\":[\"Anna Schmidt\"]}}},"
              "\"N10\":true,\"N0\":0}");
    free(dump);
    json_decref(copy);
    /* two names that become one: the walk stops and says so; nothing is merged */
    copy = json_deep_copy(j);
    assert_int_equal(sg_api_text_fields(SG_EP_CHAT, copy, rename_names, copy), SG_API_NAME_CLASH);
    json_decref(copy);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_body),   cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_decode_ok),    cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_endpoints),    cmocka_unit_test(test_text_fields),
        cmocka_unit_test(test_member_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
