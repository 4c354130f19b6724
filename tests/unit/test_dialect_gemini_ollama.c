/* Unit tests of the Gemini and Ollama dialects and of the unserved-endpoint table: path
 * routing (model names from the path, lookalike paths refused), query parameters, the
 * stream translation (text passed on as it comes, tool-call argument deltas assembled into
 * one call, the framing of SSE, JSON-array and NDJSON streams, error events), and request
 * translation details (Gemini schemas, function call ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/dialect.h"
#include "core/json.h"

static void test_gemini_route(void **state)
{
    (void)state;
    char m[32];
    const struct sg_endpoint_info *e;
#define R(p) sg_gemini_route(p, strlen(p), m, sizeof(m))
    e = R("/v1beta/models/gemini-2.0-flash:generateContent");
    assert_non_null(e);
    assert_int_equal(e->ep, SG_EP_CHAT);
    assert_int_equal(e->dialect, SG_DIALECT_GEMINI);
    assert_string_equal(m, "gemini-2.0-flash");
    e = R("/v1/models/assistant:streamGenerateContent");
    assert_non_null(e);
    assert_non_null(strstr(e->path, ":streamGenerateContent"));
    assert_string_equal(m, "assistant");
    e = R("/v1beta/models/e:batchEmbedContents");
    assert_non_null(e);
    assert_int_equal(e->ep, SG_EP_EMBEDDINGS);
    e = R("/v1beta/models");
    assert_non_null(e);
    assert_int_equal(e->ep, SG_EP_MODELS);
    assert_null(R("/v1/models"));                         /* OpenAI's */
    assert_null(R("/v1beta/models/:generateContent"));    /* no name */
    assert_null(R("/v1beta/models/a/b:generateContent")); /* a slash in the name */
    assert_null(R("/v1beta/models/a:countTokens"));       /* not served */
    assert_null(R("/v1beta/models/a:generateContentX"));  /* lookalike */
    assert_null(R("/v1beta/modelsx/a:generateContent"));  /* lookalike */
    assert_null(R("/v1beta/models/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:generateContent"));
#undef R
    assert_non_null(sg_ollama_route("/api/chat", 9));
    assert_null(sg_ollama_route("/api/chats", 10));
    assert_null(sg_ollama_route("/api/cha", 8));
}

static void test_query_param(void **state)
{
    (void)state;
    const char *t = "/p?alt=sse&key=sg-123&x";
    size_t n = 0;
    const char *v = sg_query_param(t, strlen(t), "key", &n);
    assert_non_null(v);
    assert_int_equal(n, 6);
    assert_memory_equal(v, "sg-123", 6);
    v = sg_query_param(t, strlen(t), "alt", &n);
    assert_int_equal(n, 3);
    assert_null(sg_query_param(t, strlen(t), "x", &n)); /* no '=' */
    assert_null(sg_query_param(t, strlen(t), "ke", &n));
    assert_null(sg_query_param("/p", 2, "key", &n));
    /* the length bounds the search: "key" after it is not seen */
    assert_null(sg_query_param(t, 10, "key", &n));
}

static void test_unserved(void **state)
{
    (void)state;
#define U(p, a) sg_api_unserved(p, strlen(p), a)
    const struct sg_endpoint_info *u = U("/v1/images/generations", false);
    assert_non_null(u);
    assert_string_equal(u->path, "/v1/images/*");
    assert_int_equal(u->dialect, SG_DIALECT_OPENAI);
    assert_int_equal(u->ep, SG_EP_COUNT);
    assert_true(u->proxied); /* audited */
    assert_int_equal(U("/v1/images/generations", true)->dialect, SG_DIALECT_ANTHROPIC);
    assert_int_equal(U("/v1/messages/batches", false)->dialect, SG_DIALECT_ANTHROPIC);
    assert_int_equal(U("/v1beta/models/x:countTokens", false)->dialect, SG_DIALECT_GEMINI);
    assert_int_equal(U("/v1/models/x:countTokens", false)->dialect, SG_DIALECT_GEMINI);
    assert_string_equal(U("/api/pull", false)->path, "/api/pull");
    assert_string_equal(U("/api/whatever", false)->path, "/api/*");
    assert_string_equal(U("/v1/moderations/", false)->path, "/v1/moderations");
    assert_null(U("/v1/imagesx", false));
    assert_null(U("/apix", false));
    assert_null(U("/v1/chat/completionz", false));
    assert_null(U("/", false));
#undef U
    struct sg_api_error e;
    u = sg_api_unserved("/v1beta/files", 13, false);
    sg_api_unserved_error(u, "GET", 3, "/v1beta/files", 13, &e);
    assert_int_equal(e.status, 501);
    assert_non_null(strstr(e.message, "GET /v1beta/files is not served by this deployment"));
    struct sg_buf b;
    sg_buf_init(&b, 4096);
    assert_int_equal(sg_gemini_error(&e, &b), 0);
    assert_non_null(strstr(b.data, "\"status\":\"UNIMPLEMENTED\""));
    assert_non_null(strstr(b.data, "\"code\":501"));
    sg_buf_reset(&b);
    assert_int_equal(sg_ollama_error(&e, &b), 0);
    assert_int_equal(strncmp(b.data, "{\"error\":\"GET /v1beta/files", 27), 0);
    sg_buf_free(&b);
}

static json_t *parse(const char *s)
{
    json_t *j = sg_json_parse(s, strlen(s), 0, NULL);
    assert_non_null(j);
    return j;
}

static void feed(struct sg_dstream *s, const char *chunk, struct sg_buf *out)
{
    json_t *j = parse(chunk);
    assert_int_equal(sg_dstream_chunk(s, j, out), 0);
    json_decref(j);
}

static const char *const tool_chunks[] = {
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
    "\"function\":{\"name\":\"save\",\"arguments\":\"{\\\"a\\\":\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"1}\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}",
    NULL,
};

static const struct sg_endpoint_info *gemini_stream_ep(char *m)
{
    static const char p[] = "/v1beta/models/g:streamGenerateContent";
    return sg_gemini_route(p, sizeof(p) - 1, m, 32);
}

static void test_gemini_array_stream(void **state)
{
    (void)state;
    char m[32];
    struct sg_dstream s;
    const char target[] = "/v1beta/models/g:streamGenerateContent";
    sg_dstream_init(&s, gemini_stream_ep(m), target, sizeof(target) - 1, "g", 0);
    assert_string_equal(sg_dstream_content_type(&s), "application/json");
    struct sg_buf out;
    sg_buf_init(&out, 1 << 20);
    for (int i = 0; tool_chunks[i]; i++)
        feed(&s, tool_chunks[i], &out);
    assert_int_equal(sg_dstream_end(&s, &out), 0);
    /* the whole stream is one JSON array */
    json_t *arr = sg_json_parse(out.data, out.len, 0, NULL);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 2);
    json_t *first = json_array_get(arr, 0);
    json_t *part0 = json_array_get(
        json_object_get(
            json_object_get(json_array_get(json_object_get(first, "candidates"), 0), "content"),
            "parts"),
        0);
    assert_string_equal(json_string_value(json_object_get(part0, "text")), "Hi");
    json_t *last = json_array_get(arr, 1);
    json_t *cand = json_array_get(json_object_get(last, "candidates"), 0);
    assert_string_equal(json_string_value(json_object_get(cand, "finishReason")), "STOP");
    json_t *fc = json_object_get(
        json_array_get(json_object_get(json_object_get(cand, "content"), "parts"), 0),
        "functionCall");
    assert_string_equal(json_string_value(json_object_get(fc, "name")), "save");
    assert_string_equal(json_string_value(json_object_get(fc, "id")), "call_1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(fc, "args"), "a")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(last, "usageMetadata"),
                                                        "totalTokenCount")),
                     7);
    json_decref(arr);
    sg_dstream_free(&s);
    sg_buf_free(&out);
}

static void test_gemini_sse_error(void **state)
{
    (void)state;
    char m[32];
    struct sg_dstream s;
    const char target[] = "/v1beta/models/g:streamGenerateContent?alt=sse";
    sg_dstream_init(&s, gemini_stream_ep(m), target, sizeof(target) - 1, "g", 0);
    assert_string_equal(sg_dstream_content_type(&s), "text/event-stream");
    struct sg_buf out;
    sg_buf_init(&out, 1 << 20);
    feed(&s, tool_chunks[0], &out);
    assert_int_equal(strncmp(out.data, "data: {\"candidates\"", 19), 0);
    assert_int_equal(memcmp(out.data + out.len - 2, "\n\n", 2), 0);
    sg_buf_reset(&out);
    struct sg_api_error e;
    sg_api_error_set(&e, 502, "server_error", NULL, NULL, "broken");
    assert_int_equal(sg_dstream_error(&s, &e, &out), 0);
    assert_string_equal(out.data, "data: {\"error\":{\"code\":502,\"message\":\"broken\","
                                  "\"status\":\"UNAVAILABLE\"}}\n\n");
    sg_dstream_free(&s);
    sg_buf_free(&out);
}

static void test_ollama_ndjson(void **state)
{
    (void)state;
    struct sg_dstream s;
    sg_dstream_init(&s, sg_ollama_route("/api/chat", 9), "/api/chat", 9, "llama3", 0);
    assert_string_equal(sg_dstream_content_type(&s), "application/x-ndjson");
    struct sg_buf out;
    sg_buf_init(&out, 1 << 20);
    for (int i = 0; tool_chunks[i]; i++)
        feed(&s, tool_chunks[i], &out);
    assert_int_equal(sg_dstream_end(&s, &out), 0);
    /* three lines: text, the tool call, done */
    int lines = 0;
    char *p = out.data, *nl;
    json_t *line[4] = {0};
    while ((nl = memchr(p, '\n', (size_t)(out.data + out.len - p))) && lines < 4) {
        line[lines++] = sg_json_parse(p, (size_t)(nl - p), 0, NULL);
        p = nl + 1;
    }
    assert_int_equal(lines, 3);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(line[0], "message"), "content")), "Hi");
    json_t *call =
        json_array_get(json_object_get(json_object_get(line[1], "message"), "tool_calls"), 0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(call, "function"), "arguments"), "a")),
                     1);
    assert_true(json_is_true(json_object_get(line[2], "done")));
    assert_int_equal(json_integer_value(json_object_get(line[2], "eval_count")), 4);
    for (int i = 0; i < lines; i++)
        json_decref(line[i]);
    sg_dstream_free(&s);
    sg_buf_free(&out);
}

static void test_tool_call_limits(void **state)
{
    (void)state;
    struct sg_dstream s;
    sg_dstream_init(&s, sg_ollama_route("/api/chat", 9), "/api/chat", 9, "llama3", 0);
    struct sg_buf out;
    sg_buf_init(&out, 1 << 20);
    json_t *j = parse("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":100000,"
                      "\"function\":{\"name\":\"x\"}}]}}]}");
    assert_int_not_equal(sg_dstream_chunk(&s, j, &out), 0); /* refused, not allocated */
    json_decref(j);
    j = parse("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":-1}]}}]}");
    assert_int_not_equal(sg_dstream_chunk(&s, j, &out), 0);
    json_decref(j);
    sg_dstream_free(&s);
    sg_buf_free(&out);
}

/* Embedding answers of an odd shape (no data, an embedding that is not an array) still
 * give the dialect's shape, and nothing leaks (LSan checks). */
static void test_odd_embedding_answers(void **state)
{
    (void)state;
    static const char *const paths[] = {"/api/embeddings", "/api/embed"};
    static const char *const answers[] = {"{\"data\":[]}", "{\"data\":[{\"embedding\":\"x\"}]}"};
    char m[64];
    for (size_t a = 0; a < 2; a++) {
        json_t *j = parse(answers[a]);
        for (size_t p = 0; p < 2; p++) {
            struct sg_dstream s;
            sg_dstream_init(&s, sg_ollama_route(paths[p], strlen(paths[p])), paths[p],
                            strlen(paths[p]), "e", 0);
            json_t *o = sg_dstream_response(&s, j);
            assert_non_null(o);
            json_decref(o);
            sg_dstream_free(&s);
        }
        static const char g[] = "/v1beta/models/e:embedContent";
        struct sg_dstream s;
        sg_dstream_init(&s, sg_gemini_route(g, sizeof(g) - 1, m, sizeof(m)), g, sizeof(g) - 1, "e",
                        0);
        json_t *o = sg_dstream_response(&s, j);
        assert_non_null(json_object_get(json_object_get(o, "embedding"), "values"));
        json_decref(o);
        sg_dstream_free(&s);
        json_decref(j);
    }
}

static void test_gemini_request_details(void **state)
{
    (void)state;
    struct sg_api_error e = {0};
    json_t *in =
        parse("{\"contents\":[{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"f\","
              "\"args\":{}}},{\"functionCall\":{\"name\":\"g\",\"args\":{\"x\":1}}}]},"
              "{\"parts\":[{\"functionResponse\":{\"name\":\"g\",\"response\":{\"ok\":true}}},"
              "{\"functionResponse\":{\"name\":\"f\",\"response\":{}}}]}],"
              "\"generationConfig\":{\"responseMimeType\":\"application/json\","
              "\"responseJsonSchema\":{\"type\":\"object\"}}}");
    json_t *out = sg_gemini_request(in, "m", false, &e);
    assert_non_null(out);
    json_t *msgs = json_object_get(out, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    json_t *calls = json_object_get(json_array_get(msgs, 0), "tool_calls");
    const char *idf = json_string_value(json_object_get(json_array_get(calls, 0), "id"));
    const char *idg = json_string_value(json_object_get(json_array_get(calls, 1), "id"));
    assert_string_not_equal(idf, idg);
    /* each response answers the call of its name, whatever the order */
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "tool_call_id")),
                        idg);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "tool_call_id")),
                        idf);
    json_t *schema = json_object_get(
        json_object_get(json_object_get(out, "response_format"), "json_schema"), "schema");
    assert_string_equal(json_string_value(json_object_get(schema, "type")), "object");
    json_decref(out);
    json_decref(in);
    /* a function call in a user turn is refused */
    in = parse("{\"contents\":[{\"parts\":[{\"functionCall\":{\"name\":\"f\"}}]}]}");
    assert_null(sg_gemini_request(in, "m", false, &e));
    assert_int_equal(e.status, 400);
    json_decref(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemini_route),
        cmocka_unit_test(test_query_param),
        cmocka_unit_test(test_unserved),
        cmocka_unit_test(test_gemini_array_stream),
        cmocka_unit_test(test_gemini_sse_error),
        cmocka_unit_test(test_ollama_ndjson),
        cmocka_unit_test(test_tool_call_limits),
        cmocka_unit_test(test_gemini_request_details),
        cmocka_unit_test(test_odd_embedding_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
