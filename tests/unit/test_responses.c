/* Unit tests of the OpenAI Responses translation (api/dialect_responses.c) and of its
 * conversation state store (gateway/respstore.c): tool calls in whole and streamed answers
 * (the fake upstream never makes tool calls), routing of /v1/responses paths, and the
 * store's encryption, size limit, expiry, pruning, client binding and key check. (The
 * vault export/import that carries surrogates from turn to turn is covered end to end by
 * tests/integration/test_responses.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/dialect.h"
#include "core/json.h"
#include "gateway/respstore.h"

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_request_translation(void **state)
{
    (void)state;
    struct sg_responses_params p;
    struct sg_api_error e;
    json_t *in = parse("{\"model\":\"m\",\"instructions\":\"I\",\"input\":[{\"type\":"
                       "\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"},"
                       "{\"type\":\"function_call\",\"call_id\":\"c2\",\"name\":\"g\","
                       "\"arguments\":\"{}\"},{\"type\":\"function_call_output\",\"call_id\":"
                       "\"c1\",\"output\":[{\"type\":\"input_text\",\"text\":\"ok\"}]}],"
                       "\"store\":false,\"previous_response_id\":\"resp_1\"}");
    json_t *c = sg_responses_request(in, &p, &e);
    assert_non_null(c);
    json_t *m = json_object_get(c, "messages");
    assert_int_equal(json_array_size(m), 3); /* system, one assistant with two calls, tool */
    assert_int_equal(json_array_size(json_object_get(json_array_get(m, 1), "tool_calls")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "content")), "ok");
    assert_true(p.instructions);
    assert_false(p.store);
    assert_string_equal(p.previous_id, "resp_1");
    assert_false(json_is_true(json_object_get(p.echo, "store")));
    json_decref(c);
    sg_responses_params_free(&p);
    json_decref(in);

    in = parse("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":"
               "\"f\"},{\"type\":\"computer_use_preview\"}]}");
    assert_null(sg_responses_request(in, &p, &e));
    assert_int_equal(e.status, 400);
    assert_string_equal(e.param, "tools[1]");
    assert_non_null(strstr(e.message, "computer_use_preview"));
    sg_responses_params_free(&p);
    json_decref(in);
}

static const char completion_with_calls[] =
    "{\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Let me look.\",\"tool_calls\":[{\"id\":\"call_9\",\"type\":"
    "\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"id\\\":1}\"}}]}}],"
    "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}";

static void test_response_with_tool_calls(void **state)
{
    (void)state;
    json_t *c = parse(completion_with_calls);
    json_t *r = sg_responses_response(c, "resp_abc", 5, "gpt-5-mini", NULL);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "completed");
    json_t *out = json_object_get(r, "output");
    assert_int_equal(json_array_size(out), 2);
    json_t *msg = json_array_get(out, 0), *fc = json_array_get(out, 1);
    assert_string_equal(json_string_value(json_object_get(msg, "id")), "msg_abc");
    assert_string_equal(json_string_value(json_object_get(fc, "type")), "function_call");
    assert_string_equal(json_string_value(json_object_get(fc, "call_id")), "call_9");
    assert_string_equal(json_string_value(json_object_get(fc, "name")), "lookup");
    assert_string_equal(json_string_value(json_object_get(fc, "arguments")), "{\"id\":1}");
    json_t *u = json_object_get(r, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "input_tokens")), 7);
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")), 10);
    /* the same completion gives the same object (ids are derived from the response id) */
    json_t *again = sg_responses_response(c, "resp_abc", 5, "gpt-5-mini", NULL);
    assert_true(json_equal(r, again));
    json_decref(again);
    json_decref(r);
    json_decref(c);

    c = parse("{\"choices\":[{\"index\":0,\"finish_reason\":\"length\",\"message\":{"
              "\"content\":\"cut\"}}]}");
    r = sg_responses_response(c, "resp_x", 5, "m", NULL);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "incomplete");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r, "incomplete_details"), "reason")),
        "max_output_tokens");
    json_decref(r);
    json_decref(c);
}

static void test_stream_tool_call_events(void **state)
{
    (void)state;
    static const char *const chunks[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
        "\"arguments\":\":1}\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}",
    };
    struct sg_responses_stream s;
    sg_responses_stream_init(&s, "resp_s", 1, "m", NULL);
    struct sg_buf out;
    sg_buf_init(&out, 1 << 20);
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        json_t *c = parse(chunks[i]);
        assert_int_equal(sg_responses_stream_chunk(&s, c, &out), 0);
        json_decref(c);
    }
    assert_int_equal(sg_responses_stream_end(&s, &out), 0);
    const char *order[] = {"response.created",
                           "response.in_progress",
                           "response.output_item.added",
                           "response.content_part.added",
                           "response.output_text.delta",
                           "response.output_text.done",
                           "response.content_part.done",
                           "response.output_item.done",
                           "response.output_item.added",
                           "response.function_call_arguments.delta",
                           "response.function_call_arguments.delta",
                           "response.function_call_arguments.done",
                           "response.output_item.done",
                           "response.completed"};
    const char *p = out.data;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        char want[96];
        snprintf(want, sizeof(want), "event: %s\ndata: ", order[i]);
        assert_true(strncmp(p, want, strlen(want)) == 0);
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        json_t *d = json_loadb(p + strlen(want), (size_t)(end - p) - strlen(want), 0, NULL);
        assert_non_null(d);
        assert_int_equal(json_integer_value(json_object_get(d, "sequence_number")), (int)i);
        if (i == 11)
            assert_string_equal(json_string_value(json_object_get(d, "arguments")), "{\"a\":1}");
        if (i == 13) {
            json_t *r = json_object_get(d, "response");
            json_t *fc = json_array_get(json_object_get(r, "output"), 1);
            assert_string_equal(json_string_value(json_object_get(fc, "call_id")), "call_1");
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(r, "usage"), "output_tokens")),
                2);
        }
        json_decref(d);
        p = end + 2;
    }
    assert_int_equal(*p, '\0');
    sg_buf_free(&out);
    sg_responses_stream_free(&s);
}

static void test_routes(void **state)
{
    (void)state;
    char id[128];
    const struct sg_endpoint_info *i = sg_api_route("/v1/responses", 13, id, sizeof(id));
    assert_non_null(i);
    assert_int_equal(i->dialect, SG_DIALECT_RESPONSES);
    assert_true(i->proxied);
    i = sg_api_route("/v1/responses/resp_1", 20, id, sizeof(id));
    assert_non_null(i);
    assert_false(i->proxied);
    assert_string_equal(id, "resp_1");
    assert_null(sg_api_route("/v1/responses/a/b", 17, id, sizeof(id)));
    char small[4];
    assert_null(sg_api_route("/v1/responses/resp_1", 20, small, sizeof(small)));
}

static void test_store(void **state)
{
    (void)state;
    char path[] = "/tmp/sg-respstore-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    uint8_t key[32], other[32];
    memset(key, 7, sizeof(key));
    memset(other, 8, sizeof(other));
    struct sg_respstore_opts o = {.path = path, .key = key, .ttl_s = 10, .max_record = 1024};
    struct sg_respstore *s;
    struct sg_error err = {0};
    assert_int_equal(sg_respstore_open(&o, &s, &err), 0);
    assert_int_equal(sg_respstore_put(s, "resp_1", "shop", "secret text", 11, 100), 0);
    char big[2048];
    memset(big, 'x', sizeof(big));
    assert_int_equal(sg_respstore_put(s, "resp_2", "shop", big, sizeof(big), 100), SG_ETOOBIG);
    char *d;
    size_t n;
    assert_int_equal(sg_respstore_get(s, "resp_1", "shop", 105, &d, &n), 0);
    assert_int_equal(n, 11);
    assert_string_equal(d, "secret text");
    free(d);
    assert_int_equal(sg_respstore_get(s, "resp_1", "other", 105, &d, &n), SG_ENOTFOUND);
    assert_int_equal(sg_respstore_get(s, "resp_1", "shop", 110, &d, &n), SG_ENOTFOUND);
    assert_int_equal(sg_respstore_prune(s, 110), 1);
    sg_respstore_close(s);
    /* the file never holds the text in clear */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[65536];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    for (size_t i = 0; i + 6 <= len; i++)
        assert_false(memcmp(buf + i, "secret", 6) == 0);
    o.key = other;
    assert_int_equal(sg_respstore_open(&o, &s, &err), SG_EDENIED);
    assert_non_null(strstr(err.msg, "responses.key"));
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_translation),
        cmocka_unit_test(test_response_with_tool_calls),
        cmocka_unit_test(test_stream_tool_call_events),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
