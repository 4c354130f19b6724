/* sovgate-engine: one local inference worker. It loads a GGUF model (src/engine/llm.c on
 * llama.cpp) and serves the OpenAI-compatible API on a Unix socket only (mode 0600),
 * through the project's own HTTP server, request validation and error shapes:
 *   POST /v1/chat/completions, /v1/completions (streaming or not), /v1/embeddings,
 *   GET /v1/models, GET /health (status and the inference counters of sg_llm_stats).
 * It has no network of its own; the gateway starts it, watches it and routes to it.
 *
 * Threads: the event loop (HTTP) and the model's decode thread. Model events arrive on the
 * decode thread, are queued on the request under its mutex, and wake the loop with
 * event_active(); everything else happens on the loop. */
#include "api/openai.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/pool.h"
#include "engine/llm.h"
#include "engine/tools.h"
#include "http/server.h"
#include "http/sse.h"
#include "model/model.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#define SG_ENGINE_MAX_STOP 4
#define SG_ENGINE_MAX_INPUTS 256

struct engine {
    struct sg_llm *llm;
    struct event_base *base;
    struct sg_http_server *http;
    const char *model_name;
    const char *socket_path;
    int slots;
    uint64_t seq;
    bool draining;
};

enum ekind { K_CHAT, K_COMPLETION, K_EMBEDDINGS };

struct ereq;

/* One embedding input: its own job, result stored by index. */
struct emb_part {
    struct ereq *r;
    size_t idx;
    struct sg_llm_job *job;
};

/* One API request in the engine. Allocated in the HTTP request's arena; the resources it
 * holds are released by ereq_release(). */
struct ereq {
    struct engine *e;
    struct sg_http_req *http;
    enum ekind kind;
    bool stream, include_usage, started;
    char id[40];
    int64_t created;
    struct sg_llm_job *job;
    struct event *wake;
    /* filled on the decode thread, under mu */
    pthread_mutex_t mu;
    bool mu_init;
    struct sg_buf pending;
    bool done, failed;
    char finish[16];
    int prompt_tokens, cached_tokens, completion_tokens;
    char error[256];
    /* loop side */
    struct sg_buf text; /* non-streamed answer */
    struct sg_buf out;  /* scratch for one SSE event */
    /* tools (tools.h): the answer may be a tool call */
    bool calls;
    int tstate;        /* streamed: 0 undecided, 1 text, 2 tool call */
    bool call_started; /* streamed: the call's id and name were sent */
    size_t args_sent;  /* streamed: bytes of the arguments sent */
    struct sg_buf acc; /* streamed: all text so far */
    char call_id[40];
    /* embeddings */
    struct emb_part *parts;
    size_t nparts, parts_done;
    float **vectors;
    int dim;
    bool base64;
};

static volatile sig_atomic_t stop_signal;

/* ---- output helpers ---- */

static void respond_error(struct sg_http_req *http, int status, const char *type, const char *code,
                          const char *param, const char *msg)
{
    struct sg_api_error e;
    struct sg_buf b;
    sg_api_error_set(&e, status, type, code, param, "%s", msg);
    sg_buf_init(&b, 4096);
    sg_api_error_json(&e, &b);
    sg_http_respond(http, status, NULL, 0, "application/json", b.data ? b.data : "", b.len, false);
    sg_buf_free(&b);
}

static void ereq_release(struct ereq *r)
{
    if (r->job) {
        sg_llm_cancel(r->job);
        sg_llm_job_release(r->job);
        r->job = NULL;
    }
    for (size_t i = 0; i < r->nparts; i++) {
        if (r->parts[i].job) {
            sg_llm_cancel(r->parts[i].job);
            sg_llm_job_release(r->parts[i].job);
            r->parts[i].job = NULL;
        }
        if (r->vectors)
            free(r->vectors[i]);
    }
    r->nparts = 0;
    if (r->wake) {
        event_free(r->wake);
        r->wake = NULL;
    }
    if (r->mu_init) {
        pthread_mutex_destroy(&r->mu);
        r->mu_init = false;
    }
    sg_buf_free(&r->pending);
    sg_buf_free(&r->text);
    sg_buf_free(&r->out);
    sg_buf_free(&r->acc);
}

static void on_abort(void *arg)
{
    ereq_release(arg); /* cancelling the job frees its slot at the next step */
}

/* ---- model events (decode thread) ---- */

static void on_llm_event(void *arg, const struct sg_llm_event *ev)
{
    struct ereq *r = arg;
    pthread_mutex_lock(&r->mu);
    switch (ev->kind) {
    case SG_LLM_TEXT:
        if (sg_buf_append(&r->pending, ev->text, ev->len) != 0 && !r->failed) {
            r->failed = true;
            snprintf(r->error, sizeof(r->error), "the answer is too large");
        }
        break;
    case SG_LLM_DONE:
        r->done = true;
        snprintf(r->finish, sizeof(r->finish), "%s",
                 ev->finish_reason ? ev->finish_reason : "stop");
        r->prompt_tokens = ev->prompt_tokens;
        r->cached_tokens = ev->cached_tokens;
        r->completion_tokens = ev->completion_tokens;
        break;
    case SG_LLM_ERROR:
        r->failed = true;
        snprintf(r->error, sizeof(r->error), "%s", ev->error ? ev->error : "generation failed");
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&r->mu);
    event_active(r->wake, 0, 0);
}

static void on_emb_event(void *arg, const struct sg_llm_event *ev)
{
    struct emb_part *p = arg;
    struct ereq *r = p->r;
    pthread_mutex_lock(&r->mu);
    if (ev->kind == SG_LLM_EMBEDDING) {
        float *v = malloc(sizeof(float) * (size_t)ev->dim);
        if (v) {
            memcpy(v, ev->embedding, sizeof(float) * (size_t)ev->dim);
            r->vectors[p->idx] = v;
            r->dim = ev->dim;
            r->prompt_tokens += ev->prompt_tokens;
        } else {
            r->failed = true;
            snprintf(r->error, sizeof(r->error), "out of memory");
        }
    } else if (ev->kind == SG_LLM_ERROR) {
        r->failed = true;
        snprintf(r->error, sizeof(r->error), "%s", ev->error ? ev->error : "embedding failed");
    }
    r->parts_done++;
    pthread_mutex_unlock(&r->mu);
    event_active(r->wake, 0, 0);
}

/* ---- answers (loop) ---- */

static void put_usage(struct sg_buf *b, const struct ereq *r)
{
    sg_buf_printf(b,
                  "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":%d}}",
                  r->prompt_tokens, r->completion_tokens, r->prompt_tokens + r->completion_tokens,
                  r->cached_tokens);
}

static void put_head(struct sg_buf *b, const struct ereq *r, const char *object)
{
    sg_buf_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":\"", r->id,
                  object, (long long)r->created);
    sg_buf_json_escape(b, r->e->model_name, strlen(r->e->model_name));
    sg_buf_puts(b, "\",");
}

/* Closes a chunk other than the usage chunk. With include_usage OpenAI sends `"usage":null`
 * on every chunk but the last, the one with the numbers; without it, no usage key at all. */
static void put_chunk_end(struct sg_buf *b, const struct ereq *r)
{
    sg_buf_puts(b, r->include_usage ? ",\"usage\":null}\n\n" : "}\n\n");
}

/* Writes one SSE event with new text (or a role/finish marker when text is NULL). */
static void stream_event(struct ereq *r, const char *text, size_t len, const char *finish,
                         bool role)
{
    struct sg_buf *b = &r->out;
    sg_buf_reset(b);
    sg_buf_puts(b, "data: ");
    bool chat = r->kind == K_CHAT;
    put_head(b, r, chat ? "chat.completion.chunk" : "text_completion");
    sg_buf_puts(b, "\"choices\":[{\"index\":0,");
    if (chat) {
        sg_buf_puts(b, "\"delta\":{");
        if (role)
            sg_buf_puts(b, "\"role\":\"assistant\",\"content\":\"\"");
        else if (text) {
            sg_buf_puts(b, "\"content\":\"");
            sg_buf_json_escape(b, text, len);
            sg_buf_puts(b, "\"");
        }
        sg_buf_puts(b, "},");
    } else {
        sg_buf_puts(b, "\"text\":\"");
        if (text)
            sg_buf_json_escape(b, text, len);
        sg_buf_puts(b, "\",\"logprobs\":null,");
    }
    if (finish)
        sg_buf_printf(b, "\"finish_reason\":\"%s\"}]", finish);
    else
        sg_buf_puts(b, "\"finish_reason\":null}]");
    put_chunk_end(b, r);
    sg_http_stream_write(r->http, b->data, b->len);
}

/* OpenAI's closing order: the chunk with the finish_reason, then (include_usage only) one
 * with no choices and the usage, then [DONE]. */
static void finish_stream(struct ereq *r)
{
    stream_event(r, NULL, 0, r->finish, false);
    if (r->include_usage) {
        struct sg_buf *b = &r->out;
        sg_buf_reset(b);
        sg_buf_puts(b, "data: ");
        put_head(b, r, r->kind == K_CHAT ? "chat.completion.chunk" : "text_completion");
        sg_buf_puts(b, "\"choices\":[],");
        put_usage(b, r);
        sg_buf_puts(b, "}\n\n");
        sg_http_stream_write(r->http, b->data, b->len);
    }
    sg_http_stream_write(r->http, "data: [DONE]\n\n", 14);
    struct sg_http_req *http = r->http;
    ereq_release(r);
    sg_http_stream_end(http);
}

static void finish_json(struct ereq *r)
{
    struct sg_buf b;
    sg_buf_init(&b, (size_t)1 << 30);
    bool chat = r->kind == K_CHAT;
    put_head(&b, r, chat ? "chat.completion" : "text_completion");
    sg_buf_puts(&b, "\"choices\":[{\"index\":0,");
    struct sg_tool_call call;
    if (chat && r->calls && sg_tools_parse(r->text.data, r->text.len, &call)) {
        /* a tool call: content null, the call in OpenAI's shape; cut short by max_tokens
         * it keeps finish_reason "length" and its arguments may be incomplete */
        sg_buf_printf(&b,
                      "\"message\":{\"role\":\"assistant\",\"content\":null,"
                      "\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\","
                      "\"function\":{\"name\":\"",
                      r->call_id);
        sg_buf_json_escape(&b, call.name ? call.name : "", call.name_len);
        sg_buf_puts(&b, "\",\"arguments\":\"");
        sg_buf_json_escape(&b, call.args ? call.args : "", call.args_len);
        sg_buf_puts(&b, "\"}}]},");
        if (call.complete && strcmp(r->finish, "stop") == 0)
            snprintf(r->finish, sizeof(r->finish), "tool_calls");
    } else {
        if (chat)
            sg_buf_puts(&b, "\"message\":{\"role\":\"assistant\",\"content\":\"");
        else
            sg_buf_puts(&b, "\"text\":\"");
        sg_buf_json_escape(&b, r->text.data ? r->text.data : "", r->text.len);
        sg_buf_puts(&b, chat ? "\"}," : "\",\"logprobs\":null,");
    }
    sg_buf_printf(&b, "\"finish_reason\":\"%s\"}],", r->finish);
    put_usage(&b, r);
    sg_buf_puts(&b, "}");
    struct sg_http_req *http = r->http;
    ereq_release(r);
    sg_http_respond(http, 200, NULL, 0, "application/json", b.data, b.len, false);
    sg_buf_free(&b);
}

static void finish_embeddings(struct ereq *r)
{
    struct sg_buf b;
    sg_buf_init(&b, (size_t)1 << 30);
    sg_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < r->nparts; i++) {
        sg_buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "",
                      i);
        const float *v = r->vectors[i];
        if (r->base64) {
            size_t nbytes = sizeof(float) * (size_t)r->dim;
            size_t cap = (nbytes + 2) / 3 * 4 + 1;
            char *enc = malloc(cap);
            /* standard base64 with padding, as the OpenAI API sends */
            static const char tab[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            const unsigned char *p = (const unsigned char *)v;
            size_t o = 0;
            for (size_t k = 0; enc && k < nbytes; k += 3) {
                uint32_t x = (uint32_t)p[k] << 16 | (k + 1 < nbytes ? (uint32_t)p[k + 1] << 8 : 0) |
                             (k + 2 < nbytes ? p[k + 2] : 0);
                enc[o++] = tab[x >> 18 & 63];
                enc[o++] = tab[x >> 12 & 63];
                enc[o++] = k + 1 < nbytes ? tab[x >> 6 & 63] : '=';
                enc[o++] = k + 2 < nbytes ? tab[x & 63] : '=';
            }
            sg_buf_puts(&b, "\"");
            if (enc)
                sg_buf_append(&b, enc, o);
            sg_buf_puts(&b, "\"}");
            free(enc);
        } else {
            sg_buf_puts(&b, "[");
            for (int k = 0; k < r->dim; k++)
                sg_buf_printf(&b, "%s%.9g", k ? "," : "", (double)v[k]);
            sg_buf_puts(&b, "]}");
        }
    }
    sg_buf_puts(&b, "],\"model\":\"");
    sg_buf_json_escape(&b, r->e->model_name, strlen(r->e->model_name));
    sg_buf_printf(&b, "\",\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d}}", r->prompt_tokens,
                  r->prompt_tokens);
    struct sg_http_req *http = r->http;
    ereq_release(r);
    sg_http_respond(http, 200, NULL, 0, "application/json", b.data, b.len, false);
    sg_buf_free(&b);
}

/* Writes one chunk with a tool-call delta: the call's id and name (first) or a piece of its
 * arguments. */
static void stream_call(struct ereq *r, const struct sg_tool_call *c, const char *args, size_t len)
{
    struct sg_buf *b = &r->out;
    sg_buf_reset(b);
    sg_buf_puts(b, "data: ");
    put_head(b, r, "chat.completion.chunk");
    sg_buf_puts(b, "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,");
    if (c) {
        sg_buf_printf(b, "\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":\"",
                      r->call_id);
        sg_buf_json_escape(b, c->name, c->name_len);
        sg_buf_puts(b, "\",\"arguments\":\"\"}");
    } else {
        sg_buf_puts(b, "\"function\":{\"arguments\":\"");
        sg_buf_json_escape(b, args, len);
        sg_buf_puts(b, "\"}");
    }
    sg_buf_puts(b, "}]},\"finish_reason\":null}]");
    put_chunk_end(b, r);
    sg_http_stream_write(r->http, b->data, b->len);
}

/* Streamed answer of a request that may call a tool: text until it is known whether the
 * answer is a call (its first byte), then either content deltas or tool-call deltas (id
 * and name once the name is complete, then the arguments piece by piece, holding back
 * what may be the closing marker). */
static void stream_tools(struct ereq *r, const char *text, size_t len, bool done)
{
    if (len && sg_buf_append(&r->acc, text, len) != 0)
        return; /* over 64 MiB: the generation is bounded far below that */
    if (r->tstate == 0 && r->acc.len)
        r->tstate = r->acc.data[0] == '<' ? 2 : 1;
    if (r->tstate == 1) {
        if (len)
            stream_event(r, text, len, NULL, false);
        return;
    }
    struct sg_tool_call c;
    if (r->tstate != 2 || !sg_tools_parse(r->acc.data, r->acc.len, &c) || !c.name_done)
        return;
    if (!r->call_started) {
        r->call_started = true;
        stream_call(r, &c, NULL, 0);
    }
    size_t hold = strlen(SG_TOOLS_CLOSE);
    size_t upto = c.complete || done ? c.args_len : (c.args_len > hold ? c.args_len - hold : 0);
    while (upto > r->args_sent && upto < c.args_len && ((unsigned char)c.args[upto] & 0xC0) == 0x80)
        upto--; /* not inside a UTF-8 sequence */
    if (upto > r->args_sent) {
        stream_call(r, NULL, c.args + r->args_sent, upto - r->args_sent);
        r->args_sent = upto;
    }
    if (done && c.complete && strcmp(r->finish, "stop") == 0)
        snprintf(r->finish, sizeof(r->finish), "tool_calls");
}

/* The decode thread queued something: move it out under the lock, then write. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ereq *r = arg;
    struct sg_buf got;
    sg_buf_init(&got, 0);
    pthread_mutex_lock(&r->mu);
    got = r->pending;
    sg_buf_init(&r->pending, got.max);
    bool done = r->done, failed = r->failed;
    bool emb_done = r->kind == K_EMBEDDINGS && r->parts_done == r->nparts;
    pthread_mutex_unlock(&r->mu);

    if (r->kind == K_EMBEDDINGS) {
        sg_buf_free(&got);
        if (!emb_done)
            return;
        if (failed) {
            struct sg_http_req *http = r->http;
            char msg[256];
            snprintf(msg, sizeof(msg), "%s", r->error);
            ereq_release(r);
            respond_error(http, 500, "server_error", NULL, NULL, msg);
            return;
        }
        finish_embeddings(r);
        return;
    }
    if (failed) {
        sg_buf_free(&got);
        struct sg_http_req *http = r->http;
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", r->error);
        if (r->started) {
            struct sg_api_error e;
            struct sg_buf b, ev;
            sg_api_error_set(&e, 500, "server_error", NULL, NULL, "%s", msg);
            sg_buf_init(&b, 2048);
            sg_buf_init(&ev, 4096);
            sg_api_error_json(&e, &b);
            sg_sse_write(&ev, NULL, b.data, b.len);
            sg_http_stream_write(http, ev.data, ev.len);
            sg_buf_free(&b);
            sg_buf_free(&ev);
            ereq_release(r);
            sg_http_stream_end(http);
        } else {
            ereq_release(r);
            respond_error(http, 500, "server_error", NULL, NULL, msg);
        }
        return;
    }
    if (r->stream && r->calls) {
        stream_tools(r, got.data, got.len, done);
        sg_buf_free(&got);
        if (done)
            finish_stream(r);
        return;
    }
    if (r->stream) {
        if (got.len)
            stream_event(r, got.data, got.len, NULL, false);
        sg_buf_free(&got);
        if (done)
            finish_stream(r);
        return;
    }
    sg_buf_append(&r->text, got.data ? got.data : "", got.len);
    sg_buf_free(&got);
    if (done)
        finish_json(r);
}

/* ---- requests ---- */

/* Reads an optional number field; returns -1 (with a 400 sent) when it has the wrong
 * type. */
static int num_field(struct sg_http_req *http, const json_t *body, const char *name, double lo,
                     double hi, double *out)
{
    const json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "Invalid type for '%s': expected a number.", name);
        respond_error(http, 400, "invalid_request_error", "invalid_type", name, msg);
        return -1;
    }
    double d = json_number_value(v);
    if (d < lo || d > hi) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Invalid value for '%s': must be between %g and %g.", name, lo,
                 hi);
        respond_error(http, 400, "invalid_request_error", "invalid_value", name, msg);
        return -1;
    }
    *out = d;
    return 0;
}

/* The text of a message's content: a string, or the text parts of an array joined with
 * newlines. Returns NULL (and answers 400) for parts the engine cannot take. */
static const char *message_text(struct ereq *r, const json_t *content, size_t i)
{
    struct sg_arena *a = sg_http_req_arena(r->http);
    if (!content || json_is_null(content))
        return "";
    if (json_is_string(content))
        return json_string_value(content);
    struct sg_buf b;
    sg_buf_init(&b, 16u << 20);
    size_t j;
    const json_t *part;
    json_array_foreach(content, j, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        const char *text = json_string_value(json_object_get(part, "text"));
        if (!type || strcmp(type, "text") != 0 || !text) {
            char p[64];
            snprintf(p, sizeof(p), "messages[%zu].content[%zu]", i, j);
            sg_buf_free(&b);
            respond_error(r->http, 400, "invalid_request_error", "unsupported_content", p,
                          "This model takes text only.");
            return NULL;
        }
        if (j)
            sg_buf_puts(&b, "\n");
        sg_buf_puts(&b, text);
    }
    const char *s = sg_arena_strndup(a, b.data ? b.data : "", b.len);
    sg_buf_free(&b);
    return s;
}

/* The parameter an SG_EINVAL message of the inference core is about: its messages start
 * with the parameter's name ("stop: ...", "temperature must ..."); anything about the
 * prompt itself is about `input_param`. */
static const char *einval_param(const char *msg, const char *input_param)
{
    static const char *const names[] = {
        "temperature",       "top_p",   "top_k", "min_p", "stop", "presence_penalty",
        "frequency_penalty", "grammar", NULL};
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(msg, names[i], n) == 0 && (msg[n] == ':' || msg[n] == ' '))
            return names[i];
    }
    if (strncmp(msg, "messages", 8) == 0 || strstr(msg, "prompt"))
        return input_param;
    return NULL;
}

static void start_generation(struct ereq *r, const json_t *body)
{
    struct sg_http_req *http = r->http;
    struct sg_arena *a = sg_http_req_arena(http);
    struct sg_llm_params p = {.temperature = 1.0f, .top_p = 1.0f};
    double d = 1.0; /* absent or null: OpenAI's default */
    if (num_field(http, body, "temperature", 0, 2, &d))
        return;
    p.temperature = (float)d;
    d = 1.0;
    if (num_field(http, body, "top_p", 0, 1, &d))
        return;
    p.top_p = (float)d;
    d = 0;
    if (num_field(http, body, "min_p", 0, 1, &d))
        return;
    p.min_p = (float)d;
    d = 0;
    if (num_field(http, body, "top_k", 0, 1e6, &d))
        return;
    p.top_k = (int)d;
    d = 0;
    if (num_field(http, body, "presence_penalty", -2, 2, &d))
        return;
    p.presence_penalty = (float)d;
    d = 0;
    if (num_field(http, body, "frequency_penalty", -2, 2, &d))
        return;
    p.frequency_penalty = (float)d;
    const json_t *seed = json_object_get(body, "seed");
    if (json_is_integer(seed)) {
        p.seed = (uint64_t)json_integer_value(seed);
        p.has_seed = true;
    }
    const char *mt_name = "max_completion_tokens";
    const json_t *mt = json_object_get(body, mt_name);
    if (!json_is_integer(mt))
        mt = json_object_get(body, mt_name = "max_tokens");
    if (json_is_integer(mt)) {
        json_int_t v = json_integer_value(mt);
        if (v < 1) {
            char msg[160];
            snprintf(msg, sizeof(msg), "Invalid value for '%s': must be at least 1, got %lld.",
                     mt_name, (long long)v);
            respond_error(http, 400, "invalid_request_error", "invalid_value", mt_name, msg);
            return;
        }
        p.max_tokens = v > INT_MAX ? INT_MAX : (int)v; /* the slot's size limits it anyway */
    }
    const json_t *n = json_object_get(body, "n");
    if (json_is_integer(n) && json_integer_value(n) != 1) {
        respond_error(http, 400, "invalid_request_error", "unsupported_value", "n",
                      "This engine generates one choice per request (n = 1).");
        return;
    }
    const char *stops[SG_ENGINE_MAX_STOP];
    size_t nstop = 0;
    const json_t *stop = json_object_get(body, "stop");
    if (json_is_string(stop)) {
        stops[nstop++] = json_string_value(stop);
    } else if (json_is_array(stop)) {
        if (json_array_size(stop) > SG_ENGINE_MAX_STOP) {
            respond_error(http, 400, "invalid_request_error", "invalid_value", "stop",
                          "At most 4 stop sequences.");
            return;
        }
        size_t i;
        const json_t *s;
        json_array_foreach(stop, i, s) stops[nstop++] = json_string_value(s);
    }
    p.stop = stops;
    p.nstop = nstop;
    const json_t *so = json_object_get(body, "stream_options");
    r->include_usage = json_is_true(json_object_get(so, "include_usage"));

    /* tools, tool_choice, response_format (completions: response_format only) */
    struct sg_tools tl;
    struct sg_tools_error terr;
    json_t *only_rf = NULL;
    if (r->kind != K_CHAT) {
        only_rf = json_object();
        const json_t *rf = json_object_get(body, "response_format");
        if (only_rf && rf)
            json_object_set(only_rf, "response_format", (json_t *)rf);
    }
    int trc = sg_tools_prepare(only_rf ? only_rf : body, &tl, &terr);
    json_decref(only_rf);
    if (trc != 0) {
        if (trc == SG_ENOMEM)
            respond_error(http, 500, "server_error", NULL, NULL, "Out of memory.");
        else
            respond_error(http, 400, "invalid_request_error", "invalid_value", terr.param,
                          terr.msg);
        return;
    }
    p.grammar = tl.grammar;
    r->calls = tl.calls;
    if (r->calls)
        snprintf(r->call_id, sizeof(r->call_id), "call_%016llx%08x", (unsigned long long)r->e->seq,
                 (unsigned)(sg_clock_us() & 0xffffffffu));

    /* The prompt: the chat template over the messages, or the completion prompt. */
    char *prompt = NULL;
    struct sg_error err = {0};
    if (r->kind == K_CHAT) {
        const json_t *msgs = json_object_get(body, "messages");
        size_t nm0 = json_array_size(msgs), nm = 0;
        /* one more for the tool definitions when there is no system message to add them to */
        struct sg_llm_msg *m = sg_arena_calloc(a, (nm0 + 1) * sizeof(*m));
        if (!m) {
            sg_tools_free(&tl);
            respond_error(http, 500, "server_error", NULL, NULL, "Out of memory.");
            return;
        }
        if (tl.addendum) {
            const json_t *m0 = json_array_get(msgs, 0);
            const char *r0 = json_string_value(json_object_get(m0, "role"));
            if (!r0 || (strcmp(r0, "system") != 0 && strcmp(r0, "developer") != 0)) {
                m[nm].role = "system";
                m[nm++].content = tl.addendum;
            }
        }
        for (size_t i = 0; i < nm0; i++, nm++) {
            const json_t *msg = json_array_get(msgs, i);
            m[nm].role = json_string_value(json_object_get(msg, "role"));
            if (!(m[nm].content = message_text(r, json_object_get(msg, "content"), i))) {
                sg_tools_free(&tl);
                return;
            }
            bool oom = false;
            char *t = sg_tools_render_message(msg, m[nm].content, &m[nm].role, &oom);
            if (t) {
                m[nm].content = sg_arena_strndup(a, t, strlen(t));
                free(t);
            }
            if (i == 0 && tl.addendum && nm == 0) { /* the system message gets the tools */
                size_t l0 = strlen(m[nm].content), la = strlen(tl.addendum);
                char *c = sg_arena_calloc(a, l0 + la + 3);
                if (c) {
                    memcpy(c, m[nm].content, l0);
                    memcpy(c + l0, l0 ? "\n\n" : "", l0 ? 2 : 0);
                    memcpy(c + l0 + (l0 ? 2 : 0), tl.addendum, la + 1);
                }
                m[nm].content = c;
            }
            if (oom || !m[nm].content) {
                sg_tools_free(&tl);
                respond_error(http, 500, "server_error", NULL, NULL, "Out of memory.");
                return;
            }
        }
        if (sg_llm_chat_prompt(r->e->llm, m, nm, &prompt, &err) != 0) {
            sg_tools_free(&tl);
            if (err.code == SG_ENOMEM)
                respond_error(http, 500, "server_error", NULL, NULL, "Out of memory.");
            else
                respond_error(http, 400, "invalid_request_error",
                              err.code == SG_ETOOBIG ? "context_length_exceeded" : NULL, "messages",
                              err.msg);
            return;
        }
    } else {
        const json_t *pr = json_object_get(body, "prompt");
        if (json_is_array(pr)) {
            if (json_array_size(pr) != 1 || !json_is_string(json_array_get(pr, 0))) {
                sg_tools_free(&tl);
                respond_error(http, 400, "invalid_request_error", "unsupported_value", "prompt",
                              "This engine takes one text prompt per request.");
                return;
            }
            pr = json_array_get(pr, 0);
        }
        /* a completion prompt is text too: no control tokens from the client */
        prompt = sg_llm_literal(json_string_value(pr), json_string_length(pr));
    }
    if (!prompt) {
        sg_tools_free(&tl);
        respond_error(http, 500, "server_error", NULL, NULL, "Out of memory.");
        return;
    }
    r->job = sg_llm_submit(r->e->llm, prompt, strlen(prompt), &p, on_llm_event, r, &err);
    free(prompt);
    sg_tools_free(&tl); /* the grammar was copied */
    if (!r->job) {
        /* Answering finishes the request and frees its arena (r with it): release first. */
        const char *input = r->kind == K_CHAT ? "messages" : "prompt";
        ereq_release(r);
        if (err.code == SG_ETOOBIG)
            respond_error(http, 400, "invalid_request_error", "context_length_exceeded", input,
                          err.msg);
        else if (err.code == SG_EINVAL)
            respond_error(http, 400, "invalid_request_error", "invalid_value",
                          einval_param(err.msg, input), err.msg);
        else
            respond_error(http, 503, "server_error", NULL, NULL, err.msg);
        return;
    }
    if (r->stream) {
        r->started = true;
        struct sg_http_out_header h[1] = {{"cache-control", "no-cache"}};
        sg_http_stream_begin(http, 200, h, 1, "text/event-stream");
        if (r->kind == K_CHAT)
            stream_event(r, NULL, 0, NULL, true);
    }
}

static void start_embeddings(struct ereq *r, const json_t *body)
{
    struct sg_http_req *http = r->http;
    struct sg_arena *a = sg_http_req_arena(http);
    const json_t *input = json_object_get(body, "input");
    const char *fmt = json_string_value(json_object_get(body, "encoding_format"));
    if (fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0) {
        respond_error(http, 400, "invalid_request_error", "invalid_value", "encoding_format",
                      "encoding_format must be \"float\" or \"base64\".");
        return;
    }
    r->base64 = fmt && strcmp(fmt, "base64") == 0;
    size_t n = json_is_array(input) ? json_array_size(input) : 1;
    if (n > SG_ENGINE_MAX_INPUTS) {
        respond_error(http, 400, "invalid_request_error", "invalid_value", "input",
                      "At most 256 inputs per request.");
        return;
    }
    r->parts = sg_arena_calloc(a, n * sizeof(*r->parts));
    r->vectors = sg_arena_calloc(a, n * sizeof(*r->vectors));
    if (!r->parts || !r->vectors) {
        respond_error(http, 500, "server_error", NULL, NULL, "Out of memory.");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_is_array(input) ? json_array_get(input, i) : input;
        if (!json_is_string(t)) {
            ereq_release(r);
            respond_error(http, 400, "invalid_request_error", "unsupported_value", "input",
                          "This engine embeds text, not token ids.");
            return;
        }
        struct sg_error err = {0};
        r->parts[i] = (struct emb_part){r, i, NULL};
        r->nparts = i + 1;
        r->parts[i].job =
            sg_llm_submit_embedding(r->e->llm, json_string_value(t), json_string_length(t),
                                    on_emb_event, &r->parts[i], &err);
        if (!r->parts[i].job) {
            ereq_release(r);
            if (err.code == SG_ETOOBIG)
                respond_error(http, 400, "invalid_request_error", "context_length_exceeded",
                              "input", err.msg);
            else
                respond_error(http, 503, "server_error", NULL, NULL, err.msg);
            return;
        }
    }
}

static int on_head(void *app, struct sg_http_req *http)
{
    struct engine *e = app;
    const struct sg_http_head *h = sg_http_req_head(http);
    const struct sg_endpoint_info *ep = sg_api_endpoint(h->path, h->path_len);
    bool health = h->path_len == 7 && memcmp(h->path, "/health", 7) == 0;
    if (!ep && !health) {
        respond_error(http, 404, "invalid_request_error", "unknown_url", NULL, "Unknown URL.");
        return 1;
    }
    if (e->draining) {
        respond_error(http, 503, "server_error", NULL, NULL, "The engine is shutting down.");
        return 1;
    }
    return 0;
}

static void on_request(void *app, struct sg_http_req *http)
{
    struct engine *e = app;
    const struct sg_http_head *h = sg_http_req_head(http);
    if (h->path_len == 7 && memcmp(h->path, "/health", 7) == 0) {
        /* The counters are for tests and operators on the engine's own socket; the gateway
         * looks at the status code only. */
        struct sg_llm_stats st;
        char ok[320];
        sg_llm_stats(e->llm, &st);
        int n = snprintf(
            ok, sizeof(ok),
            "{\"status\":\"ok\",\"slots\":%d,\"slots_busy\":%d,\"queued\":%d,"
            "\"prompt_tokens_evaluated\":%llu,\"tokens_generated\":%llu,"
            "\"decode_calls\":%llu}",
            e->slots, st.slots_busy, st.queued, (unsigned long long)st.prompt_tokens_evaluated,
            (unsigned long long)st.tokens_generated, (unsigned long long)st.decode_calls);
        sg_http_respond(http, 200, NULL, 0, "application/json", ok, (size_t)n, false);
        return;
    }
    const struct sg_endpoint_info *ep = sg_api_endpoint(h->path, h->path_len);
    if (!sg_http_ieq(h->method, h->method_len, ep->method)) {
        respond_error(http, 405, "invalid_request_error", "method_not_allowed", NULL,
                      "Method not allowed.");
        return;
    }
    if (ep->ep == SG_EP_MODELS) {
        struct sg_buf b;
        sg_buf_init(&b, 4096);
        sg_buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":\"");
        sg_buf_json_escape(&b, e->model_name, strlen(e->model_name));
        sg_buf_puts(&b, "\",\"object\":\"model\",\"created\":0,\"owned_by\":\"sovgate-engine\"}]}");
        sg_http_respond(http, 200, NULL, 0, "application/json", b.data, b.len, false);
        sg_buf_free(&b);
        return;
    }
    if (!ep->proxied) {
        respond_error(http, 404, "invalid_request_error", "unknown_url", NULL, "Unknown URL.");
        return;
    }
    size_t len;
    const char *body = sg_http_req_body(http, &len);
    json_t *j = NULL;
    const char *model;
    bool stream;
    struct sg_api_error err;
    if (sg_api_decode(ep->ep, body, len, &j, &model, &stream, &err) != 0) {
        struct sg_buf b;
        sg_buf_init(&b, 4096);
        sg_api_error_json(&err, &b);
        sg_http_respond(http, err.status, NULL, 0, "application/json", b.data, b.len, false);
        sg_buf_free(&b);
        return;
    }
    struct ereq *r = sg_arena_calloc(sg_http_req_arena(http), sizeof(*r));
    if (!r) {
        json_decref(j);
        respond_error(http, 500, "server_error", NULL, NULL, "Out of memory.");
        return;
    }
    r->e = e;
    r->http = http;
    r->kind = ep->ep == SG_EP_CHAT          ? K_CHAT
              : ep->ep == SG_EP_COMPLETIONS ? K_COMPLETION
                                            : K_EMBEDDINGS;
    r->stream = stream;
    r->created = sg_clock_unix();
    snprintf(r->id, sizeof(r->id), "%s%016llx", r->kind == K_CHAT ? "chatcmpl-" : "cmpl-",
             (unsigned long long)++e->seq);
    sg_buf_init(&r->pending, 64u << 20);
    sg_buf_init(&r->text, 64u << 20);
    sg_buf_init(&r->out, 64u << 20);
    sg_buf_init(&r->acc, 64u << 20);
    pthread_mutex_init(&r->mu, NULL);
    r->mu_init = true;
    r->wake = event_new(e->base, -1, 0, on_wake, r);
    if (!r->wake) {
        json_decref(j);
        ereq_release(r);
        respond_error(http, 500, "server_error", NULL, NULL, "Out of memory.");
        return;
    }
    sg_http_req_attach(http, r, on_abort, NULL);
    if (r->kind == K_EMBEDDINGS)
        start_embeddings(r, j);
    else
        start_generation(r, j);
    json_decref(j);
}

static void on_done(void *app, struct sg_http_req *http)
{
    (void)app;
    struct ereq *r = sg_http_req_app(http);
    if (r)
        ereq_release(r); /* idempotent: already released on the normal paths */
}

/* ---- main ---- */

static const char usage[] =
    "usage: sovgate-engine --model FILE --socket PATH [--ctx N] [--parallel N] [--threads N]\n"
    "                      [--gpu-layers N] [--batch N] [--name NAME]\n"
    "       sovgate-engine --model-ref NAME@CHANNEL|NAME:VERSION --store DIR --pubkey REF\n"
    "                      [--encryption-key REF] [--manifest-sha256 HEX] --socket PATH\n"
    "                      [options as above]\n";

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct engine *e = arg;
    stop_signal = (int)sig;
    if (!e->draining) {
        e->draining = true;
        sg_http_server_drain(e->http);
    }
    event_base_loopexit(e->base, NULL);
}

int main(int argc, char **argv)
{
    struct sg_llm_opts o = {.parallel = 4, .gpu_layers = 0};
    const char *sock = NULL, *name = NULL;
    const char *mref = NULL, *mstore = NULL, *mpub = NULL, *menc = NULL; /* model store */
    const char *mpin = NULL; /* the manifest digest the gateway resolved the channel to */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = !v;
        if (!bad && strcmp(a, "--model") == 0)
            o.model_path = v;
        else if (!bad && strcmp(a, "--socket") == 0)
            sock = v;
        else if (!bad && strcmp(a, "--model-ref") == 0)
            mref = v;
        else if (!bad && strcmp(a, "--store") == 0)
            mstore = v;
        else if (!bad && strcmp(a, "--pubkey") == 0)
            mpub = v;
        else if (!bad && strcmp(a, "--encryption-key") == 0)
            menc = v;
        else if (!bad && strcmp(a, "--manifest-sha256") == 0)
            mpin = v;
        else if (!bad && strcmp(a, "--name") == 0)
            name = v;
        else if (!bad && strcmp(a, "--ctx") == 0)
            bad = parse_int(v, 0, 1 << 20, &o.ctx);
        else if (!bad && strcmp(a, "--parallel") == 0)
            bad = parse_int(v, 1, 256, &o.parallel);
        else if (!bad && strcmp(a, "--threads") == 0)
            bad = parse_int(v, 0, 1024, &o.threads);
        else if (!bad && strcmp(a, "--gpu-layers") == 0)
            bad = parse_int(v, -1, 100000, &o.gpu_layers);
        else if (!bad && strcmp(a, "--batch") == 0)
            bad = parse_int(v, 1, 1 << 16, &o.batch);
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "sovgate-engine: bad or unknown option %s\n%s", a, usage);
            return 2;
        }
        i++;
    }
    if (!o.model_path == !mref || !sock || (mref && (!mstore || !mpub))) {
        fputs(usage, stderr);
        return 2;
    }
    if (mpin && !mref) {
        fprintf(stderr,
                "sovgate-engine: --manifest-sha256 pins a store model's manifest: it "
                "needs --model-ref, not --model\n%s",
                usage);
        return 2;
    }
    if (mpin) { /* strictly: 64 lower-case hex digits (docs/engine.md) */
        char hex[SG_MODEL_DIGEST_HEX + 1];
        struct sg_error perr = {0};
        if (sg_model_digest_parse(mpin, hex, &perr) != 0) {
            fprintf(stderr, "sovgate-engine: --manifest-sha256: %s\n%s", perr.msg, usage);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    /* The engine holds the model store's key and the decrypted weights, and prompts: as
     * the gateway, no core dump and no tracer of its own user (an exec made it dumpable
     * again; the gateway's child needed the flag to map its user, see route/isolate.h). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sg_pool_install(); /* before any libevent or jansson object */
    evthread_use_pthreads();

    struct engine e = {0};
    struct sg_error err = {0};
    uint64_t t0 = sg_clock_us();
    char fdpath[64];
    int model_fd = -1;
    if (mref) { /* a verified store model (docs/models.md): decrypted into a sealed memfd */
        json_t *m = NULL;
        if (sg_model_open_ref(mstore, mref, mpub, menc, mpin, &model_fd, &m, &err) != 0) {
            sg_log(SG_LOG_ERROR, "engine", "refusing model %s: %s", mref, err.msg);
            return 1;
        }
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", model_fd);
        o.model_path = fdpath;
        struct sg_logline l;
        sg_logline_begin(&l, SG_LOG_INFO, "model_verified");
        sg_logline_str(&l, "ref", mref);
        sg_logline_str(&l, "version", json_string_value(json_object_get(m, "version")));
        char mhex[SG_MODEL_DIGEST_HEX + 1];
        if (sg_model_manifest_sha256(m, mhex) == 0)
            sg_logline_str(&l, "manifest", mhex);
        sg_logline_int(&l, "pinned", mpin != NULL);
        sg_logline_str(&l, "sha256",
                       json_string_value(json_object_get(json_object_get(m, "weights"), "sha256")));
        sg_logline_int(&l, "encrypted",
                       json_is_object(json_object_get(json_object_get(m, "blob"), "encryption")));
        sg_logline_ms(&l, "verify_ms", sg_clock_us() - t0);
        sg_logline_end(&l);
        json_decref(m);
    }
    if (sg_llm_open(&o, &e.llm, &err) != 0) {
        sg_log(SG_LOG_ERROR, "engine", "cannot load %s: %s", o.model_path, err.msg);
        return 1;
    }
    e.model_name = name ? name : sg_llm_model_name(e.llm);
    e.socket_path = sock;
    e.slots = o.parallel;
    e.base = event_base_new();
    char addr[4200];
    snprintf(addr, sizeof(addr), "unix:%s", sock);
    struct sg_http_limits lim = {.max_header = 16u << 10,
                                 .max_body = 32u << 20,
                                 .header_ms = 10000,
                                 .body_ms = 60000,
                                 .idle_ms = 300000,
                                 .write_ms = 600000,
                                 .out_high = 1u << 20,
                                 .out_low = 256u << 10};
    struct sg_http_callbacks cb = {on_head, on_request, NULL, on_done};
    if (!e.base || !(e.http = sg_http_server_new(e.base, addr, &lim, &cb, &e, &err))) {
        sg_log(SG_LOG_ERROR, "engine", "%s", err.msg[0] ? err.msg : "cannot start");
        sg_llm_close(e.llm);
        return 1;
    }
    /* The socket file this engine made. A restarted engine (new settings) binds the same
     * path while this one may still be draining: at exit this one removes the path only
     * if it is still its own socket. */
    struct stat own = {0};
    bool own_ok = stat(sock, &own) == 0;
    struct event *sigs[2] = {evsignal_new(e.base, SIGTERM, on_signal, &e),
                             evsignal_new(e.base, SIGINT, on_signal, &e)};
    for (int i = 0; i < 2; i++)
        if (sigs[i])
            event_add(sigs[i], NULL);
    {
        struct sg_logline l;
        sg_logline_begin(&l, SG_LOG_INFO, "engine_ready");
        sg_logline_str(&l, "model", e.model_name);
        sg_logline_str(&l, "socket", sock);
        sg_logline_int(&l, "slots", o.parallel);
        sg_logline_int(&l, "slot_ctx", sg_llm_slot_ctx(e.llm));
        sg_logline_ms(&l, "load_ms", sg_clock_us() - t0);
        sg_logline_end(&l);
    }
    event_base_loop(e.base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* Draining: finish answers in flight for up to 10 s. */
    uint64_t deadline = sg_clock_us() + 10000000;
    while (sg_http_server_connections(e.http) > 0 && sg_clock_us() < deadline)
        event_base_loop(e.base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    sg_http_server_free(e.http);
    for (int i = 0; i < 2; i++)
        if (sigs[i])
            event_free(sigs[i]);
    event_base_free(e.base);
    sg_llm_close(e.llm);
    struct stat now;
    if (own_ok && stat(sock, &now) == 0 && now.st_dev == own.st_dev && now.st_ino == own.st_ino)
        unlink(sock);
    sg_pool_thread_release();
    libevent_global_shutdown();
    sg_log(SG_LOG_INFO, "engine", "stopped");
    return 0;
}
