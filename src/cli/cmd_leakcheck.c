/* `sovgate leakcheck --config FILE [--keep DIR]`: proof that nothing leaks, with the
 * operator's own policy.
 *
 * It starts one capture backend per configured backend (loopback servers that record
 * every byte and echo the prompt back; engines are replaced too), writes a copy of the
 * configuration whose backends point at them (same names, same sovereign flags and
 * jurisdictions, same routes, redaction and policy; a plaintext loopback listener, a
 * temporary keys database), starts `sovgate serve` on it, and replays a corpus of shop
 * requests full of canary values (personal data, restricted data, the configuration's
 * own custom detector terms) through every route, in every API dialect the gateway
 * serves: OpenAI chat (streamed and not, tool calls and results, multi-turn), completions
 * and embeddings; Anthropic Messages; OpenAI Responses, with follow-up turns
 * (previous_response_id) that make the gateway re-send the stored conversation; Azure
 * deployment paths; Gemini generateContent, streamGenerateContent (SSE and JSON array),
 * embedContent and batchEmbedContents; Ollama chat, generate, embed and embeddings. The
 * values go into every text-carrying field of each dialect (system prompts, messages, tool
 * definitions, tool calls and results, user and metadata fields, stop sequences, output
 * schemas' descriptions and enumerations). Each route's corpus is replayed once per backend
 * of the route, with the backends before it failing (503), so that failover targets are
 * checked too. The bytes each backend received are searched after every request, so that a
 * leak names the dialect and endpoint whose requests carried it. It fails when
 *   - any canary reached an EXTERNAL backend (in any byte, also as bare digits), or
 *   - any restricted canary (card, IBAN, secret, national ID) reached ANY backend, or
 *   - the gateway answered something other than 200 or a policy refusal (a 200 whose
 *     stream ended in an error event counts as failed), or died, or
 *   - a path of the corpus is not (any more) the gateway's endpoint of its dialect, or
 *   - the audit trail disagrees with what the backends received.
 * With --keep, what each backend received is kept too (received-N.log).
 * Exit status 0 when clean, 1 when something leaked or failed, 2 for usage errors. */
#include "api/dialect.h"
#include "api/openai.h"
#include "audit/audit.h"
#include "auth/keys.h"
#include "cli/cli.h"
#include "cli/leakcheck.h"
#include "config/config.h"
#include "core/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <yaml.h>

/* ---- canaries ---- */

enum canary_class { C_PERSONAL, C_RESTRICTED, C_BUSINESS };

struct canary {
    const char *value;
    const char *type;
    enum canary_class cls;
};

static const struct canary canaries[] = {
    {"Margarete Vollbrecht", "PERSON", C_PERSONAL},
    {"margarete.vollbrecht@example.org", "EMAIL", C_PERSONAL},
    {"+49 30 90182736", "PHONE", C_PERSONAL},
    {"Lindenstraße 17, 10969 Berlin", "ADDRESS", C_PERSONAL},
    {"5555 5555 5555 4444", "CARD", C_RESTRICTED},
    {"DE89 3704 0044 0532 0130 00", "IBAN", C_RESTRICTED},
    {"sk-proj-Zq8vR3mN5tW1xY7bK2cD4fG6hJ9lP0sAu", "SECRET", C_RESTRICTED},
    {"86095742719", "NATIONAL_ID", C_RESTRICTED},
};
#define NCANARIES (sizeof(canaries) / sizeof(canaries[0]))

/* The texts of the corpus: shop situations with the canaries in them. */
static const char *const texts[] = {
    "Hello, my name is Margarete Vollbrecht. My order has not arrived yet. You can reach me "
    "at margarete.vollbrecht@example.org or +49 30 90182736.",
    "Please change the delivery address of order 10482 to Lindenstraße 17, 10969 Berlin. "
    "Thanks, Margarete Vollbrecht",
    "I paid with my card 5555 5555 5555 4444 but the payment failed twice. Can you refund to "
    "IBAN DE89 3704 0044 0532 0130 00 instead?",
    "Our developer pasted this into the chat by mistake: OPENAI_API_KEY=sk-proj-"
    "Zq8vR3mN5tW1xY7bK2cD4fG6hJ9lP0sAu",
    "For the invoice my tax ID (Steuer-ID) is 86095742719.",
};
#define NTEXTS (sizeof(texts) / sizeof(texts[0]))

/* ---- YAML to JSON (the configuration, to rewrite its backends) ---- */

static json_t *scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(v, "true") == 0)
            return json_true();
        if (strcmp(v, "false") == 0)
            return json_false();
        if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || len == 0)
            return json_null();
        char *end;
        long long x = strtoll(v, &end, 10);
        if (*v && !*end)
            return json_integer(x);
    }
    return json_stringn(v, len);
}

static json_t *to_json(yaml_document_t *d, yaml_node_t *n, int depth)
{
    if (!n || depth > 64)
        return NULL;
    if (n->type == YAML_SCALAR_NODE)
        return scalar(n);
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++)
            json_array_append_new(a, to_json(d, yaml_document_get_node(d, *i), depth + 1));
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE)
            json_object_set_new(o, (const char *)k->data.scalar.value,
                                to_json(d, yaml_document_get_node(d, p->value), depth + 1));
    }
    return o;
}

static json_t *load_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    yaml_parser_t p;
    yaml_document_t d;
    json_t *out = NULL;
    if (yaml_parser_initialize(&p)) {
        yaml_parser_set_input_file(&p, f);
        if (yaml_parser_load(&p, &d)) {
            out = to_json(&d, yaml_document_get_root_node(&d), 0);
            yaml_document_delete(&d);
        }
        yaml_parser_delete(&p);
    }
    fclose(f);
    return out;
}

/* Rewrites obj[key], a "file:PATH" reference or a path, to an absolute path against
 * `dir`. */
static void absolutize(json_t *obj, const char *key, const char *dir)
{
    const char *v = json_string_value(json_object_get(obj, key));
    if (!v || !dir)
        return;
    bool ref = strncmp(v, "file:", 5) == 0;
    const char *p = ref ? v + 5 : v;
    if (*p == '/' || strncmp(v, "env:", 4) == 0)
        return;
    char full[4200];
    snprintf(full, sizeof(full), "%s%s/%s", ref ? "file:" : "", dir, p);
    json_object_set_new(obj, key, json_string(full));
}

/* ---- the gateway under test ---- */

static pid_t start_gateway(const char *dir, int *port)
{
    char cfg[4200], log[4200];
    snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
    snprintf(log, sizeof(log), "%s/gateway.log", dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        execl("/proc/self/exe", "sovgate", "serve", "--config", cfg, (char *)NULL);
        _exit(127);
    }
    close(fd);
    if (pid < 0)
        return -1;
    /* the port from the "listening" log line */
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(log, "r");
        char line[4096];
        while (f && fgets(line, sizeof(line), f)) {
            const char *e = strstr(line, "\"event\":\"listening\"");
            const char *pp = e ? strstr(line, "\"port\":") : NULL;
            if (pp) {
                *port = atoi(pp + 7);
                fclose(f);
                return pid;
            }
        }
        if (f)
            fclose(f);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return -1;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* POSTs `body` to `target` of the gateway with the header lines `headers` (each ending in
 * CRLF: the client key as the dialect's clients send it); returns the status (0 on a
 * transport failure) and the response in `resp`. */
static int post(int port, const char *headers, const char *target, const char *body,
                struct sg_buf *resp)
{
    sg_buf_reset(resp);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    struct timeval tv = {30, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sg_buf req;
    sg_buf_init(&req, 1u << 24);
    sg_buf_printf(&req,
                  "POST %s HTTP/1.1\r\nHost: localhost\r\n%s"
                  "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                  "Connection: close\r\n\r\n%s",
                  target, headers, strlen(body), body);
    int status = 0;
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        send(s, req.data, req.len, MSG_NOSIGNAL) == (ssize_t)req.len) {
        char buf[65536];
        ssize_t n;
        while ((n = recv(s, buf, sizeof(buf), 0)) > 0)
            sg_buf_append(resp, buf, (size_t)n);
        if (resp->len > 12 && memcmp(resp->data, "HTTP/1.1 ", 9) == 0)
            status = atoi(resp->data + 9);
    }
    sg_buf_free(&req);
    close(s);
    return status;
}

/* ---- the corpus: one request per shape, dialect and endpoint ----
 *
 * Every text of the corpus goes into every text-carrying field a shape has: system prompts
 * and instructions, messages, tool definitions (descriptions, parameter descriptions and
 * enumerations, property names), tool calls and their results, user and metadata fields (a
 * metadata key too), stop sequences and structured output schemas (descriptions,
 * enumerations, property names). One text per request: a request
 * that the policy refuses for one value then hides nothing else. */

enum shape {
    S_CHAT,          /* OpenAI chat: a system prompt and the text */
    S_CHAT_TOOLS,    /* OpenAI chat: a conversation with a tool call, tools, schema, user */
    S_COMPLETION,    /* OpenAI completions */
    S_EMBEDDING,     /* OpenAI embeddings */
    S_ANTHROPIC,     /* Anthropic Messages: system, tool_use and tool_result blocks, tools */
    S_GEMINI,        /* Gemini generateContent: systemInstruction, functionCall/Response */
    S_GEMINI_EMBED,  /* Gemini embedContent */
    S_GEMINI_BATCH,  /* Gemini batchEmbedContents */
    S_OLLAMA_CHAT,   /* Ollama /api/chat: system, tool calls and results, tools, format */
    S_OLLAMA_GEN,    /* Ollama /api/generate: system, prompt, format */
    S_OLLAMA_EMBED,  /* Ollama /api/embed */
    S_OLLAMA_LEGACY, /* Ollama /api/embeddings */
};

/* A request of the corpus: the path as a client calls it ({model}: the route's model, for
 * the dialects that name it in the path), a query, the body's shape, streamed or not. Each
 * path is routed by the gateway's own table (sg_api_route) before it is sent: it must be a
 * proxied POST endpoint of `dialect`, or the check fails (the corpus fell behind the
 * gateway). The integration test compares the endpoints this corpus reached with the
 * gateway's tables (src/api/), so that an endpoint added there without a replay here is
 * noticed. OpenAI Responses (POST /v1/responses) has its own conversations below. */
struct dcase {
    enum sg_dialect dialect;
    const char *path;
    const char *query;
    enum shape shape;
    bool stream;
};

static const struct dcase cases[] = {
    {SG_DIALECT_OPENAI, "/v1/chat/completions", "", S_CHAT, false},
    {SG_DIALECT_OPENAI, "/v1/chat/completions", "", S_CHAT, true},
    {SG_DIALECT_OPENAI, "/v1/chat/completions", "", S_CHAT_TOOLS, false},
    {SG_DIALECT_OPENAI, "/v1/chat/completions", "", S_CHAT_TOOLS, true},
    {SG_DIALECT_OPENAI, "/v1/completions", "", S_COMPLETION, false},
    {SG_DIALECT_OPENAI, "/v1/completions", "", S_COMPLETION, true},
    {SG_DIALECT_OPENAI, "/v1/embeddings", "", S_EMBEDDING, false},
    {SG_DIALECT_ANTHROPIC, "/v1/messages", "", S_ANTHROPIC, false},
    {SG_DIALECT_ANTHROPIC, "/v1/messages", "", S_ANTHROPIC, true},
    {SG_DIALECT_AZURE, "/openai/deployments/{model}/chat/completions", "?api-version=2024-10-21",
     S_CHAT_TOOLS, false},
    {SG_DIALECT_AZURE, "/openai/deployments/{model}/chat/completions", "?api-version=2024-10-21",
     S_CHAT_TOOLS, true},
    {SG_DIALECT_AZURE, "/openai/deployments/{model}/completions", "?api-version=2024-10-21",
     S_COMPLETION, false},
    {SG_DIALECT_AZURE, "/openai/deployments/{model}/completions", "?api-version=2024-10-21",
     S_COMPLETION, true},
    {SG_DIALECT_AZURE, "/openai/deployments/{model}/embeddings", "?api-version=2024-10-21",
     S_EMBEDDING, false},
    {SG_DIALECT_GEMINI, "/v1beta/models/{model}:generateContent", "", S_GEMINI, false},
    {SG_DIALECT_GEMINI, "/v1/models/{model}:generateContent", "", S_GEMINI, false},
    {SG_DIALECT_GEMINI, "/v1beta/models/{model}:streamGenerateContent", "?alt=sse", S_GEMINI, true},
    {SG_DIALECT_GEMINI, "/v1beta/models/{model}:streamGenerateContent", "", S_GEMINI, true},
    {SG_DIALECT_GEMINI, "/v1beta/models/{model}:embedContent", "", S_GEMINI_EMBED, false},
    {SG_DIALECT_GEMINI, "/v1beta/models/{model}:batchEmbedContents", "", S_GEMINI_BATCH, false},
    {SG_DIALECT_OLLAMA, "/api/chat", "", S_OLLAMA_CHAT, false},
    {SG_DIALECT_OLLAMA, "/api/chat", "", S_OLLAMA_CHAT, true},
    {SG_DIALECT_OLLAMA, "/api/generate", "", S_OLLAMA_GEN, false},
    {SG_DIALECT_OLLAMA, "/api/generate", "", S_OLLAMA_GEN, true},
    {SG_DIALECT_OLLAMA, "/api/embed", "", S_OLLAMA_EMBED, false},
    {SG_DIALECT_OLLAMA, "/api/embeddings", "", S_OLLAMA_LEGACY, false},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

#define NDIALECTS (SG_DIALECT_OLLAMA + 1)

/* The key as the dialect's own clients send it (header lines, CRLF-terminated). */
static void auth_headers(enum sg_dialect d, const char *key, char *out, size_t cap)
{
    switch (d) {
    case SG_DIALECT_ANTHROPIC:
        snprintf(out, cap, "x-api-key: %s\r\nanthropic-version: 2023-06-01\r\n", key);
        break;
    case SG_DIALECT_AZURE:
        snprintf(out, cap, "api-key: %s\r\n", key);
        break;
    case SG_DIALECT_GEMINI:
        snprintf(out, cap, "x-goog-api-key: %s\r\n", key);
        break;
    default:
        snprintf(out, cap, "Authorization: Bearer %s\r\n", key);
        break;
    }
}

static const char tool_name[] = "lookup_order";

/* An object schema whose annotations carry the text: its description, a property's
 * description and enumeration, and the name of a second property, which `required` lists
 * (tool parameters, structured output). `gemini`: the Gemini Schema's upper-case type
 * names. */
static json_t *schema_with(const char *text, bool gemini)
{
    const char *str = gemini ? "STRING" : "string";
    return json_pack("{s:s,s:s,s:{s:{s:s,s:s,s:[s]},s:{s:s}},s:[s,s]}", "type",
                     gemini ? "OBJECT" : "object", "description", text, "properties", "customer",
                     "type", str, "description", text, "enum", text, text, "type", str, "required",
                     "customer", text);
}

/* The arguments of a tool call, as an object: the text and the e-mail canary. */
static json_t *call_args(const char *text)
{
    return json_pack("{s:s,s:s}", "customer", text, "billing_email", canaries[1].value);
}

/* The same as a JSON string (OpenAI and Responses carry arguments so). */
static json_t *call_args_string(const char *text)
{
    json_t *a = call_args(text);
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    json_t *out = json_string(s ? s : "{}");
    free(s);
    return out;
}

static json_t *openai_tools(const char *text)
{
    return json_pack("[{s:s,s:{s:s,s:s,s:o}}]", "type", "function", "function", "name", tool_name,
                     "description", text, "parameters", schema_with(text, false));
}

static json_t *body_of(enum shape sh, const char *model, const char *text, bool stream)
{
    switch (sh) {
    case S_CHAT:
        return json_pack("{s:s,s:b,s:[{s:s,s:s},{s:s,s:s}]}", "model", model, "stream", stream,
                         "messages", "role", "system", "content",
                         "You are the shop's support assistant.", "role", "user", "content", text);
    case S_CHAT_TOOLS:
        /* multi-turn with a tool call whose arguments and result carry the values */
        return json_pack(
            "{s:s,s:b,s:s,s:[s],s:{s:s},s:o,s:{s:s,s:{s:s,s:s,s:o}},"
            "s:[{s:s,s:s},{s:s,s:s},{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:o}}]},{s:s,s:s,s:s},"
            "{s:s,s:[{s:s,s:s}]}]}",
            "model", model, "stream", stream, "user", text, "stop", text, "metadata", text, "note",
            "tools", openai_tools(text), "response_format", "type", "json_schema", "json_schema",
            "name", "reply", "description", text, "schema", schema_with(text, false), "messages",
            "role", "system", "content", text, "role", "user", "content", text, "role", "assistant",
            "content", "tool_calls", "id", "t1", "type", "function", "function", "name", tool_name,
            "arguments", call_args_string(text), "role", "tool", "tool_call_id", "t1", "content",
            text, "role", "user", "content", "type", "text", "text", text);
    case S_COMPLETION:
        return json_pack("{s:s,s:b,s:s,s:s}", "model", model, "stream", stream, "prompt", text,
                         "user", text);
    case S_EMBEDDING:
        return json_pack("{s:s,s:[s,s],s:s}", "model", model, "input", text, "a plain sentence",
                         "user", text);
    case S_ANTHROPIC:
        return json_pack("{s:s,s:i,s:b,s:[{s:s,s:s}],s:{s:s},s:[s],s:[{s:s,s:s,s:o}],s:{s:s},"
                         "s:[{s:s,s:s},{s:s,s:[{s:s,s:s},{s:s,s:s,s:s,s:o}]},"
                         "{s:s,s:[{s:s,s:s,s:[{s:s,s:s}]},{s:s,s:s}]}]}",
                         "model", model, "max_tokens", 256, "stream", stream, "system", "type",
                         "text", "text", text, "metadata", "user_id", text, "stop_sequences", text,
                         "tools", "name", tool_name, "description", text, "input_schema",
                         schema_with(text, false), "tool_choice", "type", "auto", "messages",
                         "role", "user", "content", text, "role", "assistant", "content", "type",
                         "text", "text", text, "type", "tool_use", "id", "toolu_1", "name",
                         tool_name, "input", call_args(text), "role", "user", "content", "type",
                         "tool_result", "tool_use_id", "toolu_1", "content", "type", "text", "text",
                         text, "type", "text", "text", text);
    case S_GEMINI:
        return json_pack(
            "{s:{s:[{s:s}]},s:[{s:s,s:[{s:s}]},{s:s,s:[{s:s},{s:{s:s,s:o}}]},"
            "{s:s,s:[{s:{s:s,s:{s:s}}},{s:s}]}],s:[{s:[{s:s,s:s,s:o}]}],s:{s:{s:s}},"
            "s:{s:[s],s:s,s:o}}",
            "systemInstruction", "parts", "text", text, "contents", "role", "user", "parts", "text",
            text, "role", "model", "parts", "text", text, "functionCall", "name", tool_name, "args",
            call_args(text), "role", "user", "parts", "functionResponse", "name", tool_name,
            "response", "result", text, "text", text, "tools", "functionDeclarations", "name",
            tool_name, "description", text, "parameters", schema_with(text, true), "toolConfig",
            "functionCallingConfig", "mode", "AUTO", "generationConfig", "stopSequences", text,
            "responseMimeType", "application/json", "responseSchema", schema_with(text, true));
    case S_GEMINI_EMBED:
        return json_pack("{s:{s:[{s:s}]}}", "content", "parts", "text", text);
    case S_GEMINI_BATCH:
        return json_pack("{s:[{s:{s:[{s:s}]}},{s:{s:[{s:s}]}}]}", "requests", "content", "parts",
                         "text", text, "content", "parts", "text", "a plain sentence");
    case S_OLLAMA_CHAT:
        return json_pack(
            "{s:s,s:b,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s,s:[{s:{s:s,s:o}}]},{s:s,s:s,s:s},"
            "{s:s,s:s}],s:[{s:s,s:{s:s,s:s,s:o}}],s:o,s:{s:[s]}}",
            "model", model, "stream", stream, "messages", "role", "system", "content", text, "role",
            "user", "content", text, "role", "assistant", "content", "", "tool_calls", "function",
            "name", tool_name, "arguments", call_args(text), "role", "tool", "tool_name", tool_name,
            "content", text, "role", "user", "content", text, "tools", "type", "function",
            "function", "name", tool_name, "description", text, "parameters",
            schema_with(text, false), "format", schema_with(text, false), "options", "stop", text);
    case S_OLLAMA_GEN:
        return json_pack("{s:s,s:b,s:s,s:s,s:o}", "model", model, "stream", stream, "system", text,
                         "prompt", text, "format", schema_with(text, false));
    case S_OLLAMA_EMBED:
        return json_pack("{s:s,s:[s,s]}", "model", model, "input", text, "a plain sentence");
    case S_OLLAMA_LEGACY:
        return json_pack("{s:s,s:s}", "model", model, "prompt", text);
    }
    return NULL;
}

/* OpenAI Responses: the first turn of a conversation carries the text everywhere it can
 * (instructions, input messages, a function call and its output, tools, the output schema,
 * user, metadata); later turns continue it with previous_response_id, so that the gateway
 * re-sends the stored (transformed) history. */
static json_t *responses_first(const char *model, const char *text, bool stream)
{
    json_t *b =
        json_pack("{s:s,s:b,s:b,s:s,s:s,s:[{s:s,s:s,s:s,s:o}],s:{s:{s:s,s:s,s:s,s:o}},"
                  "s:[{s:s,s:s,s:[{s:s,s:s}]},{s:s,s:s,s:s,s:o},{s:s,s:s,s:s},{s:s,s:s}]}",
                  "model", model, "stream", stream, "store", 1, "instructions", text, "user", text,
                  "tools", "type", "function", "name", tool_name, "description", text, "parameters",
                  schema_with(text, false), "text", "format", "type", "json_schema", "name",
                  "reply", "description", text, "schema", schema_with(text, false), "input", "type",
                  "message", "role", "user", "content", "type", "input_text", "text", text, "type",
                  "function_call", "call_id", "call_1", "name", tool_name, "arguments",
                  call_args_string(text), "type", "function_call_output", "call_id", "call_1",
                  "output", text, "role", "user", "content", text);
    /* metadata values are at most 512 characters */
    if (b && strlen(text) <= 512)
        json_object_set_new(b, "metadata", json_pack("{s:s}", "note", text));
    return b;
}

/* The value of "key":"..." first found after `from` in `b` (a response id, a call id),
 * copied into `out`; false when there is none. */
static bool find_field(const struct sg_buf *b, const char *key, const char *prefix, char *out,
                       size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"%s", key, prefix);
    const char *p = b->len ? memmem(b->data, b->len, pat, strlen(pat)) : NULL;
    if (!p)
        return false;
    p += strlen(key) + 4;
    const char *end = b->data + b->len;
    size_t n = 0;
    while (p + n < end && p[n] != '"' && n + 1 < cap)
        n++;
    if (p + n >= end || p[n] != '"')
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* ---- checks ---- */

/* The digits of a value, when it has at least 8 (so the bare number is looked for too). */
static size_t digits_of(const char *v, char *out, size_t cap)
{
    size_t n = 0;
    for (; *v && n + 1 < cap; v++)
        if (*v >= '0' && *v <= '9')
            out[n++] = *v;
    out[n] = '\0';
    return n >= 8 ? n : 0;
}

static bool contains(const struct sg_buf *b, const char *needle)
{
    return b->len && memmem(b->data, b->len, needle, strlen(needle)) != NULL;
}

/* The value as it is, or inside a JSON string, or inside a JSON string in a JSON string (tool
 * call arguments): a quote, a backslash or a control character changes its bytes. */
static bool contains_value(const struct sg_buf *b, const char *v)
{
    if (contains(b, v))
        return true;
    struct sg_buf e1, e2;
    sg_buf_init(&e1, 1u << 20);
    sg_buf_init(&e2, 1u << 20);
    bool hit = false;
    if (sg_buf_json_escape(&e1, v, strlen(v)) == 0 && sg_buf_append(&e1, "", 1) == 0 &&
        strcmp(e1.data, v) != 0) {
        hit = contains(b, e1.data);
        if (!hit && sg_buf_json_escape(&e2, e1.data, e1.len - 1) == 0 &&
            sg_buf_append(&e2, "", 1) == 0)
            hit = contains(b, e2.data);
    }
    sg_buf_free(&e1);
    sg_buf_free(&e2);
    return hit;
}

/* Digits with anything but digits between them, e.g. "5555 5555" vs "5555-5555". */
static bool contains_digits(const struct sg_buf *b, const char *digits)
{
    size_t nd = strlen(digits);
    for (size_t i = 0; i + nd <= b->len; i++) {
        if (b->data[i] != digits[0])
            continue;
        size_t k = 0, j = i;
        while (j < b->len && k < nd && j - i < nd * 3) {
            char c = b->data[j++];
            if (c >= '0' && c <= '9') {
                if (c != digits[k])
                    break;
                k++;
            } else if (c != ' ' && c != '-' && c != '.' && c != '/') {
                break;
            }
        }
        if (k == nd)
            return true;
    }
    return false;
}

static bool found(const struct sg_buf *b, const char *v)
{
    char digits[64];
    return contains_value(b, v) ||
           (digits_of(v, digits, sizeof(digits)) && contains_digits(b, digits));
}

/* What the requests of one endpoint (or the Responses follow-ups) came to. */
struct row {
    const char *path; /* the gateway's table path (a pattern for Gemini and Azure) */
    enum sg_dialect dialect;
    int followup; /* Responses: 0 first turns, 1 later turns, 2 later turns with no value of
                   * their own (whatever of the corpus they carry is the stored history) */
    unsigned sent, ok, refused, failed, unserved, skipped;
    unsigned upstream; /* API requests the backends answered for them */
};
#define MAXROWS 64

struct run {
    int port;
    const char *key;
    struct lc_captures *cs;
    size_t nbackends;
    const bool *external; /* per backend */
    const char *const *terms;
    size_t nterms, nvalues; /* canaries, then the custom terms */
    uint64_t *via;          /* [backend * nvalues + value]: rows whose requests leaked it */
    size_t *len0;           /* per backend: bytes received before the current request */
    unsigned *api0;         /* per backend: API requests answered before it */
    const bool *failset;    /* per backend: failing in this pass */
    unsigned sent, ok, refused, failed;
    bool failing;      /* a failover pass: backends before the one under test fail */
    unsigned unserved; /* 503 in such a pass: no backend left that the policy allows */
    unsigned conversations, continued, not_continued, followups;
    bool case_noted[NCASES]; /* a skip was explained */
    struct row rows[MAXROWS];
    size_t nrows;
    struct sg_buf resp, slice;
};

static const char *value_of(const struct run *r, size_t v)
{
    return v < NCANARIES ? canaries[v].value : r->terms[v - NCANARIES];
}

static const char *type_of(size_t v)
{
    return v < NCANARIES ? canaries[v].type : "custom detector term";
}

/* Whether value v must never reach backend b: every canary must stay away from external
 * backends, restricted ones from all. */
static bool forbidden(const struct run *r, size_t b, size_t v)
{
    return r->external[b] || (v < NCANARIES && canaries[v].cls == C_RESTRICTED);
}

static const char *const followup_label[] = {"", " (previous_response_id)",
                                             " (previous_response_id, stored history only)"};

static struct row *row_of(struct run *r, const char *path, enum sg_dialect d, int followup)
{
    for (size_t i = 0; i < r->nrows; i++)
        if (r->rows[i].dialect == d && r->rows[i].followup == followup &&
            strcmp(r->rows[i].path, path) == 0)
            return &r->rows[i];
    if (r->nrows == MAXROWS)
        return &r->rows[MAXROWS - 1];
    struct row *w = &r->rows[r->nrows++];
    *w = (struct row){.path = path, .dialect = d, .followup = followup};
    return w;
}

/* A stream (or a body) that the gateway answered 200 but that ended in an error: the
 * dialects' error events (OpenAI and Gemini data: {"error":…}, Anthropic event: error,
 * Responses response.failed, an Ollama {"error":…} line). */
static bool ended_in_error(const struct sg_buf *b)
{
    return contains(b, "{\"error\":") || contains(b, "\nevent: error") ||
           contains(b, "\"type\":\"response.failed\"");
}

/* Sends one request of the corpus and counts it in `w`; the bytes each backend received
 * because of it are searched for the values it must not get, so that a leak can be
 * traced to the requests (dialect and endpoint) that caused it. Returns the status, or -1
 * when it was neither answered nor refused. */
static int send_one(struct run *r, struct row *w, const char *target, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) {
        /* a body of the corpus that could not be built: the check is broken */
        r->sent++, w->sent++;
        r->failed++, w->failed++;
        fprintf(stderr, "leakcheck: no body for %s\n", target);
        return -1;
    }
    char headers[256];
    auth_headers(w->dialect, r->key, headers, sizeof(headers));
    for (size_t b = 0; b < r->nbackends; b++) {
        r->len0[b] = lc_capture_slice(r->cs, b, 0, NULL);
        r->api0[b] = lc_capture_api_requests(r->cs, b);
    }
    int st = post(r->port, headers, target, s, &r->resp);
    free(s);
    r->sent++, w->sent++;
    int res = st;
    if (st == 200 && !ended_in_error(&r->resp)) {
        r->ok++, w->ok++;
    } else if ((st == 403 || st == 400) &&
               (contains(&r->resp, "policy_violation") || contains(&r->resp, "content_blocked") ||
                contains(&r->resp, "policy does not allow") ||
                (st == 403 && contains(&r->resp, "could not be redacted")))) {
        /* a policy refusal, in the dialect's shape (the code is only in OpenAI's) */
        r->refused++, w->refused++;
    } else if (r->failing && st == 503 &&
               (contains(&r->resp, "backend_unavailable") ||
                contains(&r->resp, "No backend for the model"))) {
        r->unserved++, w->unserved++;
    } else {
        r->failed++, w->failed++;
        res = -1;
        fprintf(stderr, "leakcheck: %s (%s) answered %d%s\n", target, sg_dialect_name(w->dialect),
                st, st == 200 ? " but its stream ended in an error" : "");
    }
    size_t wi = (size_t)(w - r->rows);
    for (size_t b = 0; b < r->nbackends; b++) {
        w->upstream += lc_capture_api_requests(r->cs, b) - r->api0[b];
        sg_buf_reset(&r->slice);
        lc_capture_slice(r->cs, b, r->len0[b], &r->slice);
        if (!r->slice.len)
            continue;
        for (size_t v = 0; v < r->nvalues; v++)
            if (forbidden(r, b, v) && found(&r->slice, value_of(r, v)))
                r->via[b * r->nvalues + v] |= (uint64_t)1 << wi;
    }
    return res;
}

/* Whether a model name can be put into a request path as it is. */
static bool path_safe(const char *m)
{
    for (; *m; m++)
        if (!((*m >= 'a' && *m <= 'z') || (*m >= 'A' && *m <= 'Z') || (*m >= '0' && *m <= '9') ||
              strchr("._-@~:", *m)))
            return false;
    return true;
}

/* `tpl` with {model} replaced by `model`. */
static void fill(const char *tpl, const char *model, char *out, size_t cap)
{
    const char *slot = strstr(tpl, "{model}");
    if (slot)
        snprintf(out, cap, "%.*s%s%s", (int)(slot - tpl), tpl, model, slot + 7);
    else
        snprintf(out, cap, "%s", tpl);
}

/* Routes case k with the gateway's table: its row, and its request target in `target`.
 * NULL when it cannot be sent (counted and explained). */
static struct row *route_case(struct run *r, size_t k, const char *model, char *target, size_t cap)
{
    const struct dcase *c = &cases[k];
    char path[512], pm[160];
    fill(c->path, "leakcheck-model", path, sizeof(path));
    const struct sg_endpoint_info *ep = sg_api_route(path, strlen(path), pm, sizeof(pm));
    if (!ep || !ep->proxied || ep->dialect != c->dialect || strcmp(ep->method, "POST") != 0) {
        /* the corpus names an endpoint the gateway does not serve (any more) as such */
        struct row *w = row_of(r, c->path, c->dialect, 0);
        r->sent++, w->sent++;
        r->failed++, w->failed++;
        if (!r->case_noted[k])
            printf("  FAIL: the corpus sends POST %s as a %s request, but the gateway does not "
                   "serve it as one (the corpus must follow the gateway's endpoints)\n",
                   c->path, sg_dialect_name(c->dialect));
        r->case_noted[k] = true;
        return NULL;
    }
    struct row *w = row_of(r, ep->path, c->dialect, 0);
    fill(c->path, model, path, sizeof(path));
    const struct sg_endpoint_info *mine =
        path_safe(model) ? sg_api_route(path, strlen(path), pm, sizeof(pm)) : NULL;
    if (mine != ep || (strstr(c->path, "{model}") && strcmp(pm, model) != 0)) {
        w->skipped++;
        if (!r->case_noted[k])
            printf("  note: the model %s cannot be named in the path %s: skipped there\n", model,
                   c->path);
        r->case_noted[k] = true;
        return NULL;
    }
    snprintf(target, cap, "%s%s", path, c->query);
    return w;
}

/* Sets the failing backends: those of the pass (`failset`), or none. */
static void set_failing(struct run *r, bool pass)
{
    for (size_t b = 0; b < r->nbackends; b++)
        lc_capture_set_fail(r->cs, b, pass && r->failset[b]);
}

/* OpenAI Responses conversations with the text: two, one starting with a plain and one
 * with a streamed turn. The first continues twice: once in the pass's state, then once
 * more with every backend up, so that a history one backend answered (a sovereign one,
 * while the external one failed) is also re-sent to the route's first backend. */
static void responses_replay(struct run *r, const char *model, const char *text)
{
    static const char target[] = "/v1/responses";
    struct row *w1 = row_of(r, target, SG_DIALECT_RESPONSES, 0);
    struct row *wf = row_of(r, target, SG_DIALECT_RESPONSES, 1);
    struct row *wh = row_of(r, target, SG_DIALECT_RESPONSES, 2);
    for (int streamed = 0; streamed < 2; streamed++) {
        char id[128], call[128];
        r->conversations++;
        int st = send_one(r, w1, target, responses_first(model, text, streamed));
        if (st == 200 && !find_field(&r->resp, "id", "resp_", id, sizeof(id))) {
            /* an answer without a response id: the translation is broken */
            r->failed++, w1->failed++, w1->ok--, r->ok--;
            fprintf(stderr, "leakcheck: %s answered 200 without a response id\n", target);
            st = -1;
        }
        if (st != 200) {
            /* refused or unserved: nothing was stored, there is nothing to continue */
            r->not_continued++;
            continue;
        }
        r->continued++;
        bool has_call = find_field(&r->resp, "call_id", "", call, sizeof(call));
        json_t *b2;
        if (has_call)
            b2 =
                json_pack("{s:s,s:s,s:b,s:s,s:[{s:s,s:s,s:s}]}", "model", model,
                          "previous_response_id", id, "stream", !streamed, "instructions", text,
                          "input", "type", "function_call_output", "call_id", call, "output", text);
        else
            b2 = json_pack("{s:s,s:s,s:b,s:s,s:[{s:s,s:s}]}", "model", model,
                           "previous_response_id", id, "stream", !streamed, "instructions", text,
                           "input", "role", "user", "content", text);
        r->followups++;
        st = send_one(r, wf, target, b2);
        if (streamed)
            continue;
        /* the third turn adds no value of its own: whatever a backend gets of the corpus
         * now comes from the stored history */
        if (st == 200)
            find_field(&r->resp, "id", "resp_", id, sizeof(id));
        bool was = r->failing;
        set_failing(r, false);
        r->failing = false;
        r->followups++;
        send_one(r, wh, target,
                 json_pack("{s:s,s:s,s:s}", "model", model, "previous_response_id", id, "input",
                           "Thank you. When will it arrive?"));
        r->failing = was;
        set_failing(r, true);
    }
}

static void replay(struct run *r, const char *model, const char *const *extra, size_t nextra)
{
    for (size_t t = 0; t < NTEXTS + nextra; t++) {
        const char *text = t < NTEXTS ? texts[t] : extra[t - NTEXTS];
        for (size_t k = 0; k < NCASES; k++) {
            char target[700];
            struct row *w = route_case(r, k, model, target, sizeof(target));
            if (w)
                send_one(r, w, target, body_of(cases[k].shape, model, text, cases[k].stream));
        }
        responses_replay(r, model, text);
    }
}

static void report(const struct run *r, const char *store)
{
    struct row tot[NDIALECTS];
    memset(tot, 0, sizeof(tot));
    for (size_t i = 0; i < r->nrows; i++) {
        const struct row *w = &r->rows[i];
        char label[200];
        snprintf(label, sizeof(label), "POST %s%s", w->path, followup_label[w->followup]);
        printf("  %-9s %-66s %4u requests: %u answered, %u refused by the policy, %u failed, %u "
               "reached a backend",
               sg_dialect_name(w->dialect), label, w->sent, w->ok, w->refused, w->failed,
               w->upstream);
        if (w->unserved)
            printf(", %u unserved", w->unserved);
        if (w->skipped)
            printf(", %u skipped", w->skipped);
        printf("\n");
        struct row *t = &tot[w->dialect];
        t->sent += w->sent, t->ok += w->ok, t->refused += w->refused, t->failed += w->failed;
        t->upstream += w->upstream, t->unserved += w->unserved, t->skipped += w->skipped;
    }
    for (int d = 0; d < NDIALECTS; d++) {
        const struct row *t = &tot[d];
        printf("  dialect %-9s %5u requests: %u answered, %u refused by the policy, %u failed, "
               "%u reached a backend%s\n",
               sg_dialect_name((enum sg_dialect)d), t->sent, t->ok, t->refused, t->failed,
               t->upstream, t->sent ? "" : " (NOT REPLAYED)");
    }
    printf("  responses: %u conversations; %u continued with previous_response_id (%u follow-up "
           "turns, the stored history re-sent, the last one with every backend up)",
           r->conversations, r->continued, r->followups);
    if (r->not_continued)
        printf("; follow-ups skipped for %u whose first turn was not answered (refused by the "
               "policy, or no backend left in a failover pass): nothing was stored to continue",
               r->not_continued);
    printf("\n  responses: conversation state %s\n", store);
}

static int check(struct run *r, const json_t *backends)
{
    int leaks = 0;
    struct sg_buf got;
    sg_buf_init(&got, (size_t)512 << 20);
    size_t i;
    const json_t *b;
    json_array_foreach(backends, i, b)
    {
        const char *name = json_string_value(json_object_get(b, "name"));
        bool external = r->external[i];
        sg_buf_reset(&got);
        lc_capture_bytes(r->cs, i, &got);
        printf("  backend %-20s %-9s %5u requests, %8zu bytes received\n", name,
               external ? "external" : "sovereign", lc_capture_requests(r->cs, i), got.len);
        for (size_t v = 0; v < r->nvalues; v++) {
            if (!forbidden(r, i, v) || !found(&got, value_of(r, v)))
                continue;
            leaks++;
            printf("  LEAK: %s (%s) reached %s backend %s\n", value_of(r, v), type_of(v),
                   external ? "external" : "sovereign", name);
            uint64_t via = r->via[i * r->nvalues + v];
            if (!via)
                continue;
            printf("        sent by:");
            const char *sep = " ";
            for (size_t k = 0; k < r->nrows; k++)
                if (via & ((uint64_t)1 << k)) {
                    printf("%s%s POST %s%s", sep, sg_dialect_name(r->rows[k].dialect),
                           r->rows[k].path, followup_label[r->rows[k].followup]);
                    sep = ", ";
                }
            printf("\n");
        }
    }
    sg_buf_free(&got);
    return leaks;
}

/* The trail must say what was sent: per backend, as many answered requests recorded with
 * that backend as API requests the backend received, and for an external backend as
 * many decision records. */
struct audit_count {
    const json_t *backends;
    unsigned requests[64], decisions[64];
    unsigned records;
};

static int count_row(void *arg, const struct sg_audit_row *row)
{
    struct audit_count *c = arg;
    json_t *j = sg_json_parse(row->content, row->len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *be = json_string_value(json_object_get(j, "backend"));
    size_t i;
    const json_t *b;
    json_array_foreach(c->backends, i, b)
    {
        if (!be || i >= 64 || strcmp(be, json_string_value(json_object_get(b, "name"))) != 0)
            continue;
        if (type && strcmp(type, "decision") == 0)
            c->decisions[i]++;
        else if (type && strcmp(type, "request") == 0 &&
                 json_integer_value(json_object_get(j, "status")) == 200)
            c->requests[i]++;
    }
    c->records++;
    json_decref(j);
    return 0;
}

/* API requests capture i answered; `failed` gets those it answered 503 on purpose. */
static unsigned api_requests(struct lc_captures *cs, size_t i, unsigned *failed)
{
    struct sg_buf b;
    sg_buf_init(&b, (size_t)512 << 20);
    lc_capture_bytes(cs, i, &b);
    unsigned n = 0;
    *failed = 0;
    for (size_t k = 0; k + 13 <= b.len; k++) {
        if (k != 0 && b.data[k - 1] != '\n')
            continue;
        if (memcmp(b.data + k, "POST /v1/", 9) == 0)
            n++;
        else if (memcmp(b.data + k, "503 POST /v1/", 13) == 0)
            (*failed)++;
    }
    sg_buf_free(&b);
    return n;
}

static int audit_check(const char *db, struct lc_captures *cs, const json_t *backends)
{
    struct audit_count c = {.backends = backends};
    struct sg_error err = {0};
    if (sg_audit_scan(db, NULL, count_row, &c, &err) != 0) {
        printf("  FAIL: the audit trail cannot be read: %s\n", err.msg);
        return 1;
    }
    struct sg_audit_verify_report rep;
    if (sg_audit_verify(db, NULL, &rep, &err) != 0) {
        printf("  FAIL: the audit trail does not verify: %s\n", err.msg);
        return 1;
    }
    int bad = 0;
    size_t i;
    const json_t *b;
    json_array_foreach(backends, i, b)
    {
        if (i >= 64)
            break;
        unsigned failed, got = api_requests(cs, i, &failed);
        bool external = json_is_false(json_object_get(b, "sovereign"));
        const char *name = json_string_value(json_object_get(b, "name"));
        /* an external backend's decision comes before the attempt, also a failed one */
        if (got != c.requests[i] || (external && got + failed != c.decisions[i])) {
            printf("  FAIL: backend %s answered %u requests (and failed %u); the audit trail "
                   "records %u (and %u decisions)\n",
                   name, got, failed, c.requests[i], c.decisions[i]);
            bad++;
        }
    }
    if (!bad)
        printf("  audit trail: %u records, chain intact, agrees with what every backend "
               "received\n",
               c.records);
    return bad;
}

/* With --keep: what each backend received, as received-N.log in the work folder (N its
 * index in the configuration; every request's head line, then its body). */
static void keep_received(struct lc_captures *cs, size_t n, const char *dir)
{
    struct sg_buf got;
    sg_buf_init(&got, (size_t)512 << 20);
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/received-%zu.log", dir, i);
        sg_buf_reset(&got);
        lc_capture_bytes(cs, i, &got);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            continue;
        size_t off = 0;
        while (off < got.len) {
            ssize_t w = write(fd, got.data + off, got.len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(fd);
    }
    sg_buf_free(&got);
}

/* ---- the command ---- */

int sg_cmd_leakcheck(int argc, char **argv)
{
    const char *config = NULL, *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = argv[++i];
        else
            return sg_cli_usage_error("leakcheck takes --config FILE [--keep DIR]");
    }
    if (!config)
        return sg_cli_usage_error("leakcheck needs --config FILE");
    /* the configuration must be valid as it is */
    struct sg_config *cfg = NULL;
    struct sg_config_diags d = {0};
    int rc = sg_config_load_file(config, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    if (rc)
        return 1;
    json_t *j = load_json(config);
    if (!json_is_object(j)) {
        fprintf(stderr, "sovgate: cannot read %s as YAML\n", config);
        sg_config_free(cfg);
        json_decref(j);
        return 1;
    }
    char dir[4096];
    if (keep) {
        snprintf(dir, sizeof(dir), "%s", keep);
        mkdir(dir, 0700);
    } else {
        snprintf(dir, sizeof(dir), "/tmp/sovgate-leakcheck-XXXXXX");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "sovgate: cannot make a temporary folder: %s\n", strerror(errno));
            sg_config_free(cfg);
            json_decref(j);
            return 1;
        }
    }
    /* capture backends, one per configured backend, in the configuration's order */
    const char **names = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*names));
    for (size_t i = 0; names && i < cfg->nbackends; i++)
        names[i] = cfg->backends[i].name;
    /* per backend: external or not, failing in the current pass or not */
    bool *external = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*external));
    bool *fails = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*fails));
    struct lc_captures *cs = NULL;
    struct sg_error err = {0};
    int status = 1;
    pid_t gw = -1;
    if (!names || !external || !fails) {
        fprintf(stderr, "sovgate: out of memory\n");
        goto out;
    }
    if (lc_captures_start(cfg->nbackends, names, &cs, &err) != 0) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        goto out;
    }
    json_t *backends = json_array();
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const struct sg_config_backend *b = &cfg->backends[i];
        external[i] = !b->sovereign;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", lc_capture_port(cs, i));
        json_t *o = json_pack("{s:s,s:s,s:b,s:s}", "name", b->name, "url", url, "sovereign",
                              b->sovereign, "health_path", "/health");
        if (b->jurisdiction)
            json_object_set_new(o, "jurisdiction", json_string(b->jurisdiction));
        json_array_append_new(backends, o);
    }
    char path[4200];
    json_object_set_new(j, "backends", backends);
    json_object_set_new(j, "listen",
                        json_pack("{s:s,s:b}", "address", "127.0.0.1:0", "plaintext", 1));
    json_object_set_new(j, "workers", json_integer(1));
    json_object_del(j, "clients");
    snprintf(path, sizeof(path), "%s/keys.db", dir);
    unlink(path);
    json_object_set_new(j, "keys_db", json_string(path));
    json_object_set_new(j, "runtime_dir", json_string(dir));
    json_object_set_new(
        j, "health",
        json_pack("{s:s,s:s,s:s}", "interval", "200ms", "timeout", "1s", "max_backoff", "1s"));
    json_object_set_new(j, "log", json_pack("{s:s}", "level", "info"));
    /* always an audit trail: what it says is checked against what the backends got */
    json_t *audit = json_object_get(j, "audit");
    if (!json_is_object(audit)) {
        audit = json_object();
        json_object_set_new(j, "audit", audit);
    }
    snprintf(path, sizeof(path), "%s/audit.db", dir);
    unlink(path);
    json_object_set_new(audit, "path", json_string(path));
    json_object_del(audit, "postgres");
    /* relative file references of the original stay valid from the work folder */
    char cfg_dir[4096];
    if (!cfg->dir || !realpath(cfg->dir, cfg_dir))
        snprintf(cfg_dir, sizeof(cfg_dir), "%s", cfg->dir ? cfg->dir : ".");
    absolutize(json_object_get(j, "redaction"), "key", cfg_dir);
    absolutize(audit, "signing_key", cfg_dir);
    /* OpenAI Responses state: never the operator's store (the corpus would be written into
     * it); a fresh one in the work folder under the same key, or, as configured, memory */
    const char *store_said = "in memory, as configured (no responses.store: the gateway keeps "
                             "conversations in memory while it runs)";
    json_t *responses = json_object_get(j, "responses");
    if (json_is_object(responses)) {
        absolutize(responses, "key", cfg_dir);
        if (cfg->responses.store) {
            snprintf(path, sizeof(path), "%s/responses.db", dir);
            unlink(path);
            json_object_set_new(responses, "store", json_string(path));
            store_said = "in a new store in the work folder, under the configured responses.key "
                         "(the configured responses.store is not touched)";
        }
    }
    char key[SG_KEY_LEN + 1];
    snprintf(path, sizeof(path), "%s/keys.db", dir);
    if (sg_keydb_create(path, "leakcheck", NULL, 0, key, &err) != 0) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (json_dump_file(j, path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "sovgate: cannot write %s\n", path);
        goto out;
    }
    chmod(path, 0600);
    int port = 0;
    if ((gw = start_gateway(dir, &port)) < 0) {
        fprintf(stderr,
                "sovgate: the gateway did not start on the rewritten configuration; "
                "see %s/gateway.log\n",
                dir);
        goto out;
    }
    /* the custom detectors' terms are canaries too (business secrets) */
    size_t nterms = 0;
    for (size_t i = 0; i < cfg->redaction.ndetectors; i++)
        nterms += cfg->redaction.detectors[i].nterms;
    const char **terms = calloc(nterms ? nterms : 1, sizeof(*terms));
    char **term_texts = calloc(nterms ? nterms : 1, sizeof(*term_texts));
    size_t k = 0;
    for (size_t i = 0; i < cfg->redaction.ndetectors; i++)
        for (size_t t = 0; t < cfg->redaction.detectors[i].nterms; t++, k++) {
            terms[k] = cfg->redaction.detectors[i].terms[t];
            size_t need = strlen(terms[k]) + 96;
            term_texts[k] = malloc(need);
            if (term_texts[k])
                snprintf(term_texts[k], need,
                         "Write a teaser for our coming product %s, due in "
                         "spring.",
                         terms[k]);
        }
    struct run r = {.port = port,
                    .key = key,
                    .cs = cs,
                    .nbackends = cfg->nbackends,
                    .external = external,
                    .failset = fails,
                    .terms = terms,
                    .nterms = nterms,
                    .nvalues = NCANARIES + nterms};
    r.via = calloc((cfg->nbackends ? cfg->nbackends : 1) * r.nvalues, sizeof(*r.via));
    r.len0 = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*r.len0));
    r.api0 = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*r.api0));
    sg_buf_init(&r.resp, 64u << 20);
    sg_buf_init(&r.slice, (size_t)256 << 20);
    bool oom = !r.via || !r.len0 || !r.api0;
    if (oom) {
        fprintf(stderr, "sovgate: out of memory\n");
        r.failed++;
    }
    printf("leakcheck: %s, gateway on 127.0.0.1:%d, work folder %s\n", config, port, dir);
    /* Every backend of a route gets the corpus, also one that is only a failover target: in
     * pass t the backends before the t-th fail (503), as when they are down in production. */
    for (size_t i = 0; i < cfg->nroutes && !oom; i++) {
        const struct sg_config_route *rt = &cfg->routes[i];
        for (size_t t = 0; t < rt->ntargets; t++) {
            bool again = false;
            for (size_t u = 0; u < t; u++)
                again = again || strcmp(rt->targets[u].backend, rt->targets[t].backend) == 0;
            if (again)
                continue;
            for (size_t b = 0; b < cfg->nbackends; b++) {
                fails[b] = false;
                for (size_t u = 0; u < t; u++)
                    fails[b] =
                        fails[b] || strcmp(cfg->backends[b].name, rt->targets[u].backend) == 0;
            }
            set_failing(&r, true);
            r.failing = t > 0;
            replay(&r, rt->model, (const char *const *)term_texts, nterms);
            set_failing(&r, false);
        }
    }
    int alive = waitpid(gw, NULL, WNOHANG) == 0;
    report(&r, store_said);
    printf("  %u requests: %u answered, %u refused by the policy, %u failed\n", r.sent, r.ok,
           r.refused, r.failed);
    if (r.unserved)
        printf("  %u requests unserved while the backends before failed (the policy allows no "
               "backend after them)\n",
               r.unserved);
    int leaks = check(&r, backends);
    if (keep)
        keep_received(cs, cfg->nbackends, dir);
    /* stop the gateway (its trail is closed and complete), then compare */
    int exit_st = 0;
    kill(gw, SIGTERM);
    waitpid(gw, &exit_st, 0);
    gw = -1;
    bool clean_exit = WIFEXITED(exit_st) && WEXITSTATUS(exit_st) == 0;
    if (!clean_exit)
        printf("  FAIL: the gateway exited with status %d (see %s/gateway.log)\n",
               WIFEXITED(exit_st) ? WEXITSTATUS(exit_st) : 128 + WTERMSIG(exit_st), dir);
    snprintf(path, sizeof(path), "%s/audit.db", dir);
    int disagree = audit_check(path, cs, backends);
    alive = alive && clean_exit;
    leaks += disagree;
    if (!alive)
        printf("  FAIL: the gateway died or did not exit cleanly (see %s/gateway.log)\n", dir);
    if (leaks || r.failed || !alive)
        printf("leakcheck: FAILED (%d leaks, %u failed requests)\n", leaks, r.failed);
    else
        printf("leakcheck: OK: no canary reached an external backend, no restricted value "
               "reached any backend, the audit trail agrees\n");
    status = leaks || r.failed || !alive ? 1 : 0;
    sg_buf_free(&r.resp);
    sg_buf_free(&r.slice);
    free(r.via);
    free(r.len0);
    free(r.api0);
    for (size_t i = 0; i < nterms; i++)
        free(term_texts[i]);
    free(term_texts);
    free(terms);
out:
    if (gw > 0) {
        int st = 0;
        kill(gw, SIGTERM);
        waitpid(gw, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            /* a clean drain exits 0; anything else (a sanitizer report) is a failure */
            printf("leakcheck: FAILED: the gateway exited with status %d (see %s/gateway.log)\n",
                   WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), dir);
            status = 1;
        }
    }
    lc_captures_stop(cs);
    free(names);
    free(external);
    free(fails);
    json_decref(j);
    sg_config_free(cfg);
    if (!keep && status == 0) {
        const char *files[] = {"config.json",      "gateway.log",     "keys.db",
                               "keys.db-wal",      "keys.db-shm",     "audit.db",
                               "audit.db-wal",     "audit.db-shm",    "responses.db",
                               "responses.db-wal", "responses.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    return status;
}
