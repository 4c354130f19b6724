/* Capture backends for `sovgate leakcheck`: small OpenAI-compatible servers on loopback
 * that record every byte they receive and answer by echoing the last user text (so that
 * the gateway's restore path runs as in production), with a call of the first tool when
 * the request offers tools. Every dialect the gateway speaks reaches them as OpenAI chat,
 * completions or embeddings requests. One event loop thread serves all of them. */
#include "cli/leakcheck.h"
#include "core/json.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

struct lc_capture {
    struct sg_http_server *http;
    char name[128];
    pthread_mutex_t mu;
    struct sg_buf got; /* every request head line and body received */
    unsigned requests;
    unsigned api; /* API requests answered (not failed on purpose) */
    bool fail;    /* answer API requests 503 (guarded by mu) */
};

struct lc_captures {
    struct event_base *base;
    pthread_t thread;
    bool running;
    atomic_bool stop; /* set before event_base_loopbreak(): see loop() */
    struct lc_capture *v;
    size_t n;
};

static void respond(struct sg_http_req *req, int status, const char *ct, const struct sg_buf *b)
{
    sg_http_respond(req, status, NULL, 0, ct, b->data ? b->data : "", b->len, false);
}

/* The last user text of a chat body, the prompt of a completion, else "". */
static const char *echo_of(const json_t *body)
{
    const json_t *msgs = json_object_get(body, "messages");
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i);
        const json_t *c = json_object_get(m, "content");
        if (json_is_string(c))
            return json_string_value(c);
        const json_t *t = json_object_get(json_array_get(c, 0), "text");
        if (json_is_string(t))
            return json_string_value(t);
    }
    const json_t *p = json_object_get(body, "prompt");
    if (json_is_array(p))
        p = json_array_get(p, 0);
    return json_is_string(p) ? json_string_value(p) : "";
}

/* The name of the first function tool a chat body offers, unless tool_choice is "none";
 * else NULL. */
static const char *tool_of(const json_t *body)
{
    const json_t *tc = json_object_get(body, "tool_choice");
    if (json_is_string(tc) && strcmp(json_string_value(tc), "none") == 0)
        return NULL;
    const json_t *fn =
        json_object_get(json_array_get(json_object_get(body, "tools"), 0), "function");
    return json_string_value(json_object_get(fn, "name"));
}

static void answer(struct lc_capture *c, struct sg_http_req *req)
{
    const struct sg_http_head *h = sg_http_req_head(req);
    size_t blen = 0;
    const char *body = sg_http_req_body(req, &blen);
    bool post = h->method_len == 4 && memcmp(h->method, "POST", 4) == 0;
    bool api = post && h->path_len >= 4 && memcmp(h->path, "/v1/", 4) == 0;
    pthread_mutex_lock(&c->mu);
    bool fail = api && c->fail;
    c->requests++;
    if (api && !fail)
        c->api++;
    sg_buf_printf(&c->got, "%s%.*s %.*s\n", fail ? "503 " : "", (int)h->method_len, h->method,
                  (int)h->path_len, h->path);
    sg_buf_append(&c->got, body ? body : "", blen);
    sg_buf_append(&c->got, "\n", 1);
    pthread_mutex_unlock(&c->mu);

    struct sg_buf out;
    sg_buf_init(&out, 16u << 20);
    if (fail) {
        sg_buf_printf(&out, "{\"error\":{\"message\":\"failing on purpose\",\"type\":"
                            "\"server_error\",\"param\":null,\"code\":null}}");
        respond(req, 503, "application/json", &out);
        sg_buf_free(&out);
        return;
    }
    if (!post) {
        sg_buf_printf(&out, "{\"object\":\"list\",\"data\":[]}");
        respond(req, 200, "application/json", &out);
        sg_buf_free(&out);
        return;
    }
    json_t *j = sg_json_parse(body ? body : "", blen, 0, NULL);
    bool chat = h->path_len >= 17 && memmem(h->path, h->path_len, "/chat/completions", 17);
    bool emb = memmem(h->path, h->path_len, "/embeddings", 11) != NULL;
    if (!json_is_object(j)) {
        sg_buf_printf(&out, "{\"error\":{\"message\":\"bad json\",\"type\":\"invalid_request\"}}");
        respond(req, 400, "application/json", &out);
    } else if (emb) {
        const json_t *in = json_object_get(j, "input");
        size_t n = json_is_array(in) ? json_array_size(in) : 1;
        sg_buf_printf(&out, "{\"object\":\"list\",\"data\":[");
        for (size_t i = 0; i < n; i++)
            sg_buf_printf(&out,
                          "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":[0.5,0.5,"
                          "0.5,0.5]}",
                          i ? "," : "", i);
        sg_buf_printf(&out, "],\"model\":\"capture\",\"usage\":{\"prompt_tokens\":1,"
                            "\"total_tokens\":1}}");
        respond(req, 200, "application/json", &out);
    } else {
        const char *text = echo_of(j);
        json_t *jt = json_string(text);
        char *esc = json_dumps(jt, JSON_ENCODE_ANY);
        json_decref(jt);
        const char *obj = chat ? "chat.completion" : "text_completion";
        /* a request that offers tools is answered with a call of the first one too, its
         * arguments echoing the text: the answer translations of every dialect then carry a
         * tool call back, and a Responses conversation stores one for its next turn */
        const char *tool = chat ? tool_of(j) : NULL;
        char *args = NULL, *args_esc = NULL, *name_esc = NULL;
        if (tool) {
            json_t *a = json_pack("{s:s}", "customer", text);
            args = a ? json_dumps(a, JSON_COMPACT) : NULL;
            json_decref(a);
            json_t *as = json_string(args ? args : "{}");
            args_esc = as ? json_dumps(as, JSON_ENCODE_ANY) : NULL;
            json_decref(as);
            json_t *ns = json_string(tool);
            name_esc = ns ? json_dumps(ns, JSON_ENCODE_ANY) : NULL;
            json_decref(ns);
        }
        const char *finish = tool ? "tool_calls" : "stop";
        if (json_is_true(json_object_get(j, "stream"))) {
            /* the text in two events, split in the middle of a word */
            size_t tl = strlen(text), half = tl / 2;
            while (half > 0 && (text[half] & 0xC0) == 0x80)
                half--;
            for (int k = 0; k < 2; k++) {
                json_t *part = json_stringn(text + (k ? half : 0), k ? tl - half : half);
                char *pe = json_dumps(part, JSON_ENCODE_ANY);
                json_decref(part);
                if (chat)
                    sg_buf_printf(&out,
                                  "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
                                  "\"created\":0,\"model\":\"capture\",\"choices\":[{\"index\":0,"
                                  "\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n",
                                  pe ? pe : "\"\"");
                else
                    sg_buf_printf(&out,
                                  "data: {\"id\":\"c\",\"object\":\"text_completion\",\"created\":"
                                  "0,\"model\":\"capture\",\"choices\":[{\"index\":0,\"text\":%s,"
                                  "\"finish_reason\":null}]}\n\n",
                                  pe ? pe : "\"\"");
                free(pe);
            }
            if (tool) {
                /* the call opens, then its arguments in two deltas */
                sg_buf_printf(&out,
                              "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
                              "\"created\":0,\"model\":\"capture\",\"choices\":[{\"index\":0,"
                              "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_capture\","
                              "\"type\":\"function\",\"function\":{\"name\":%s,\"arguments\":"
                              "\"\"}}]},\"finish_reason\":null}]}\n\n",
                              name_esc ? name_esc : "\"f\"");
                const char *as = args ? args : "{}";
                size_t al = strlen(as), ah = al / 2;
                while (ah > 0 && (as[ah] & 0xC0) == 0x80)
                    ah--;
                for (int k = 0; k < 2; k++) {
                    json_t *part = json_stringn(as + (k ? ah : 0), k ? al - ah : ah);
                    char *pe = json_dumps(part, JSON_ENCODE_ANY);
                    json_decref(part);
                    sg_buf_printf(&out,
                                  "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
                                  "\"created\":0,\"model\":\"capture\",\"choices\":[{\"index\":0,"
                                  "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
                                  "\"arguments\":%s}}]},\"finish_reason\":null}]}\n\n",
                                  pe ? pe : "\"\"");
                    free(pe);
                }
            }
            sg_buf_printf(&out,
                          "data: {\"id\":\"c\",\"object\":\"%s\",\"created\":0,\"model\":"
                          "\"capture\",\"choices\":[{\"index\":0,%s,\"finish_reason\":\"%s\"}]}"
                          "\n\ndata: {\"id\":\"c\",\"object\":\"%s\",\"created\":0,\"model\":"
                          "\"capture\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
                          "\"completion_tokens\":1,\"total_tokens\":2}}\n\ndata: [DONE]\n\n",
                          chat ? "chat.completion.chunk" : obj,
                          chat ? "\"delta\":{}" : "\"text\":\"\"", finish,
                          chat ? "chat.completion.chunk" : obj);
            respond(req, 200, "text/event-stream", &out);
        } else {
            if (chat && tool)
                sg_buf_printf(&out,
                              "{\"id\":\"c\",\"object\":\"%s\",\"created\":0,\"model\":\"capture\","
                              "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                              "\"content\":%s,\"tool_calls\":[{\"id\":\"call_capture\",\"type\":"
                              "\"function\",\"function\":{\"name\":%s,\"arguments\":%s}}]},"
                              "\"finish_reason\":\"tool_calls\"}],",
                              obj, esc ? esc : "\"\"", name_esc ? name_esc : "\"f\"",
                              args_esc ? args_esc : "\"{}\"");
            else if (chat)
                sg_buf_printf(&out,
                              "{\"id\":\"c\",\"object\":\"%s\",\"created\":0,\"model\":\"capture\","
                              "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                              "\"content\":%s},\"finish_reason\":\"stop\"}],",
                              obj, esc ? esc : "\"\"");
            else
                sg_buf_printf(&out,
                              "{\"id\":\"c\",\"object\":\"%s\",\"created\":0,\"model\":\"capture\","
                              "\"choices\":[{\"index\":0,\"text\":%s,\"finish_reason\":\"stop\"}],",
                              obj, esc ? esc : "\"\"");
            sg_buf_printf(&out, "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,"
                                "\"total_tokens\":2}}");
            respond(req, 200, "application/json", &out);
        }
        free(esc);
        free(args);
        free(args_esc);
        free(name_esc);
    }
    json_decref(j);
    sg_buf_free(&out);
}

static int on_head(void *app, struct sg_http_req *req)
{
    (void)app;
    (void)req;
    return 0;
}

static void on_request(void *app, struct sg_http_req *req)
{
    answer(app, req);
}

/* One iteration at a time, the stop flag checked between them: event_base_loop() clears a
 * break requested before it started (a stop right after the start would be lost). */
static void *loop(void *arg)
{
    struct lc_captures *cs = arg;
    while (!atomic_load(&cs->stop))
        if (event_base_loop(cs->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
            break;
    return NULL;
}

int lc_captures_start(size_t n, const char *const *names, struct lc_captures **out,
                      struct sg_error *err)
{
    evthread_use_pthreads();
    struct lc_captures *cs = calloc(1, sizeof(*cs));
    if (!cs || !(cs->v = calloc(n ? n : 1, sizeof(*cs->v))) || !(cs->base = event_base_new())) {
        lc_captures_stop(cs);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    struct sg_http_limits lim = {64 << 10, 64 << 20, 30000, 30000, 30000, 30000, 1 << 20, 1 << 18};
    struct sg_http_callbacks cb = {on_head, on_request, NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        struct lc_capture *c = &cs->v[i];
        cs->n = i + 1;
        snprintf(c->name, sizeof(c->name), "%s", names[i]);
        pthread_mutex_init(&c->mu, NULL);
        sg_buf_init(&c->got, (size_t)256 << 20);
        if (!(c->http = sg_http_server_new(cs->base, "127.0.0.1:0", &lim, &cb, c, err))) {
            lc_captures_stop(cs);
            return err->code ? err->code : SG_EIO;
        }
    }
    if (pthread_create(&cs->thread, NULL, loop, cs) != 0) {
        lc_captures_stop(cs);
        return sg_error_set(err, SG_EIO, "cannot start the capture thread");
    }
    cs->running = true;
    *out = cs;
    return 0;
}

int lc_capture_port(const struct lc_captures *cs, size_t i)
{
    return sg_http_server_port(cs->v[i].http);
}

size_t lc_capture_bytes(struct lc_captures *cs, size_t i, struct sg_buf *copy)
{
    struct lc_capture *c = &cs->v[i];
    pthread_mutex_lock(&c->mu);
    size_t n = c->got.len;
    if (copy)
        sg_buf_append(copy, c->got.data ? c->got.data : "", c->got.len);
    pthread_mutex_unlock(&c->mu);
    return n;
}

size_t lc_capture_slice(struct lc_captures *cs, size_t i, size_t from, struct sg_buf *copy)
{
    struct lc_capture *c = &cs->v[i];
    pthread_mutex_lock(&c->mu);
    size_t n = c->got.len;
    if (copy && from < n)
        sg_buf_append(copy, c->got.data + from, n - from);
    pthread_mutex_unlock(&c->mu);
    return n;
}

unsigned lc_capture_api_requests(struct lc_captures *cs, size_t i)
{
    struct lc_capture *c = &cs->v[i];
    pthread_mutex_lock(&c->mu);
    unsigned n = c->api;
    pthread_mutex_unlock(&c->mu);
    return n;
}

unsigned lc_capture_requests(struct lc_captures *cs, size_t i)
{
    struct lc_capture *c = &cs->v[i];
    pthread_mutex_lock(&c->mu);
    unsigned n = c->requests;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void lc_capture_set_fail(struct lc_captures *cs, size_t i, bool fail)
{
    struct lc_capture *c = &cs->v[i];
    pthread_mutex_lock(&c->mu);
    c->fail = fail;
    pthread_mutex_unlock(&c->mu);
}

void lc_captures_stop(struct lc_captures *cs)
{
    if (!cs)
        return;
    if (cs->running) {
        atomic_store(&cs->stop, true);
        event_base_loopbreak(cs->base);
        pthread_join(cs->thread, NULL);
    }
    for (size_t i = 0; i < cs->n; i++) {
        sg_http_server_free(cs->v[i].http);
        sg_buf_free(&cs->v[i].got);
        pthread_mutex_destroy(&cs->v[i].mu);
    }
    free(cs->v);
    if (cs->base)
        event_base_free(cs->base);
    free(cs);
}
