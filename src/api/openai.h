/* The OpenAI-compatible API surface: which endpoints exist, how request bodies are
 * decoded and type-checked (errors name the byte offset or the offending field), and the
 * error shape {"error":{"message","type","param","code"}} that every failure is answered
 * with. Pure functions; no I/O. */
#ifndef SG_API_OPENAI_H
#define SG_API_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"

enum sg_endpoint {
    SG_EP_CHAT = 0,
    SG_EP_COMPLETIONS,
    SG_EP_EMBEDDINGS,
    SG_EP_MODELS,
    SG_EP_HEALTHZ,
    SG_EP_READYZ,
    SG_EP_METRICS,
    SG_EP_COUNT
};

/* Other APIs the gateway also speaks: their requests are translated into the OpenAI one
 * (src/api/dialect*.c), so that redaction, policy, routing and audit run once, the same
 * way, for all of them; the answers are translated back. */
enum sg_dialect {
    SG_DIALECT_OPENAI = 0,
    SG_DIALECT_ANTHROPIC, /* POST /v1/messages */
    SG_DIALECT_AZURE,     /* /openai/deployments/{deployment}/chat/completions|... */
    SG_DIALECT_RESPONSES, /* POST /v1/responses, GET|DELETE /v1/responses/{id} (below) */
    SG_DIALECT_GEMINI,    /* /v1beta/models/{model}:generateContent|... (dialect_gemini.c) */
    SG_DIALECT_OLLAMA,    /* /api/chat|generate|embed|tags (dialect_ollama.c) */
};

struct sg_endpoint_info {
    enum sg_endpoint ep; /* what it is inside the gateway (chat for Anthropic messages) */
    const char *path;    /* public path (a pattern with {model} for Azure), the metrics label */
    const char *method;  /* "GET" or "POST" */
    bool auth;           /* needs a client key */
    bool proxied;        /* answered by a backend */
    enum sg_dialect dialect;
};

/* Finds the OpenAI endpoint for a request path (without query). NULL when none matches. */
const struct sg_endpoint_info *sg_api_endpoint(const char *path, size_t len);
/* Same, with the other dialects too. For a path that names the model (Azure deployments),
 * the name is copied into `model` (empty otherwise). */
const struct sg_endpoint_info *sg_api_route(const char *path, size_t len, char *model, size_t cap);
const struct sg_endpoint_info *sg_api_endpoint_info(enum sg_endpoint ep);

/* An error to answer with. */
struct sg_api_error {
    int status;
    char type[48];
    char code[48];  /* empty when none */
    char param[96]; /* empty when none */
    char message[320];
    unsigned retry_after; /* seconds; 0 = no Retry-After header */
};

/* Fills `e`. `type`, `code` and `param` may be NULL. The message must not contain request content.
 */
void sg_api_error_set(struct sg_api_error *e, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Renders `e` as an OpenAI error body. Returns 0 or an sg_buf error. */
int sg_api_error_json(const struct sg_api_error *e, struct sg_buf *out);

/* Decodes and validates the JSON body of a chat, completions or embeddings request.
 * On success returns 0, stores the parsed object in `*out` (the caller owns the
 * reference), the requested model in `*model` (borrowed from `*out`) and whether a stream
 * was requested in `*stream`. On failure returns -1 with `e` filled (status 400). */
int sg_api_decode(enum sg_endpoint ep, const char *body, size_t len, json_t **out,
                  const char **model, bool *stream, struct sg_api_error *e);
/* The validation part of sg_api_decode, on an object already parsed (e.g. translated
 * from another API dialect). `j` stays the caller's. */
int sg_api_validate(enum sg_endpoint ep, json_t *j, const char **model, bool *stream,
                    struct sg_api_error *e);

/* The text fields of a validated request body, in a fixed order (so that field i of a
 * copy of a body is field i of the original): every string of every chat message but its
 * role and base64 payloads (tool-call ids and type names included), completion prompts and
 * embedding inputs (a string or each string of an array; token arrays are skipped: see
 * sg_api_token_ids), "user", the data of response_format's schema (descriptions, titles,
 * examples, defaults, enum and const values, the names of required properties), then
 * every string of every other top-level field but the model: tools and their
 * descriptions, tool_choice, stop, suffix, metadata, enumerations and unknown fields.
 * `fn` gets each JSON string with its path ("messages[1].content[0].text",
 * "tools[0].function.description").
 *
 * Member names are text too: every name in those parts (and at the top level) that is not
 * one of the API's own field names reaches `fn` as a string made for the call, which lives
 * until `fn` returns (take a reference to keep it), with the object's path and the
 * member's position in braces ("metadata{0}", "{3}" at the top level), not the name. When
 * `fn` changes such a string, the member is renamed in place, keeping its position; if
 * two names of one object become the same the walk stops and returns SG_API_NAME_CLASH
 * (nothing is merged). Otherwise a non-zero return of `fn` (which must not be
 * SG_API_NAME_CLASH) stops the walk and is returned; -1 when out of memory. */
#define SG_API_NAME_CLASH (-2)
typedef int (*sg_api_field_fn)(json_t *s, const char *path, void *ctx);
int sg_api_text_fields(enum sg_endpoint ep, json_t *body, sg_api_field_fn fn, void *ctx);

/* Whether a validated completions or embeddings body gives its prompt or input as token ids
 * (an array of integers, or of arrays of them): text that no detector can read. Returns the
 * field's name ("prompt" or "input"), or NULL when it is text (or another endpoint). */
const char *sg_api_token_ids(enum sg_endpoint ep, const json_t *body);

/* Sets stream_options.include_usage on the body of a streamed request: the gateway asks
 * every stream for its usage, so that its tokens are accounted for. Returns 0, or -1 when
 * out of memory. */
int sg_api_ask_usage(json_t *body);

/* Whether a request asks for its answer as JSON: response_format of type json_object or
 * json_schema (what the Responses, Gemini and Ollama JSON modes become). */
bool sg_api_json_answer(const json_t *body);

#endif
