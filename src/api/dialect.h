/* Translations between the OpenAI API (the gateway's one internal shape) and other API
 * dialects that plugins speak. Pure functions on jansson values; no I/O.
 *
 * Anthropic Messages (POST /v1/messages, API version 2023-06-01):
 *   request:  system (string or text blocks), messages with string or block content (text,
 *             image with base64 or URL source, tool_use, tool_result), max_tokens,
 *             stop_sequences, temperature, top_p, top_k, stream, tools, tool_choice,
 *             metadata.user_id  ->  an OpenAI chat completion request;
 *   answer:   a chat.completion  ->  a message (text and tool_use blocks, stop_reason,
 *             usage); streamed chunks  ->  its typed events (message_start,
 *             content_block_start/delta/stop, message_delta, message_stop; ping);
 *   errors:   {"type":"error","error":{"type":"invalid_request_error","message":"…"}}. */
#ifndef SG_API_DIALECT_H
#define SG_API_DIALECT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api/openai.h"
#include "core/buf.h"

/* Translates an Anthropic Messages request. Returns a new OpenAI chat request (caller
 * owns it) or NULL with `e` filled (400, naming the field). */
json_t *sg_anthropic_request(const json_t *in, struct sg_api_error *e);

/* Translates a chat.completion into a message; `model` is the name the client asked for.
 * Returns a new object (caller owns it) or NULL when out of memory. */
json_t *sg_anthropic_response(const json_t *completion, const char *model);

/* The state of one streamed answer. */
struct sg_anthropic_stream {
    bool started;  /* message_start was sent */
    int open;      /* index of the open content block, -1 when none */
    int open_tool; /* the OpenAI tool call index of the open tool_use block, or -1 */
    int next;      /* index of the next content block */
    char stop_reason[24];
    int64_t input_tokens, output_tokens;
    char id[64];
    char model[160];
};

void sg_anthropic_stream_init(struct sg_anthropic_stream *s, const char *model);
/* Appends the events for one chat.completion.chunk to `out` ("event: T\ndata: {…}\n\n").
 * Returns 0 or an sg_buf error. */
int sg_anthropic_stream_chunk(struct sg_anthropic_stream *s, const json_t *chunk,
                              struct sg_buf *out);
/* The answer is complete: closes the open block and appends message_delta and
 * message_stop. */
int sg_anthropic_stream_end(struct sg_anthropic_stream *s, struct sg_buf *out);
/* An error event (for a failure after the stream started). */
int sg_anthropic_stream_error(struct sg_anthropic_stream *s, const struct sg_api_error *e,
                              struct sg_buf *out);

/* The Anthropic error body for an OpenAI-style error. */
int sg_anthropic_error(const struct sg_api_error *e, struct sg_buf *out);

/* ---- OpenAI Responses (POST /v1/responses; dialect_responses.c) ----
 *
 * request:  input (a string, or items: messages with input_text/output_text/input_image
 *           parts, function_call and function_call_output; reasoning items are skipped),
 *           instructions, tools (function tools only: built-in tools are refused),
 *           tool_choice, text.format (text, json_object, json_schema -> response_format),
 *           temperature, top_p, max_output_tokens, parallel_tool_calls, user, stream, and
 *           the state fields store, previous_response_id, metadata  ->  an OpenAI chat
 *           request;
 * answer:   a chat.completion  ->  a Response object (message with output_text, and
 *           function_call items; usage input_tokens/output_tokens); streamed chunks  ->
 *           typed events with sequence_number (response.created, response.in_progress,
 *           response.output_item.added/done, response.content_part.added/done,
 *           response.output_text.delta/done, response.function_call_arguments.delta/done,
 *           response.completed; error and response.failed on failure);
 * errors:   OpenAI's shape. */

/* What a Responses request says besides the chat request. */
struct sg_responses_params {
    bool store;            /* keep the conversation for previous_response_id (default) */
    bool instructions;     /* messages[0] of the chat request is the instructions */
    char previous_id[128]; /* "" when none */
    json_t *echo;          /* the request fields a Response object repeats; owned */
};

/* Translates a Responses request. Returns a new OpenAI chat request (caller owns it) and
 * fills `p` (free with sg_responses_params_free), or NULL with `e` filled (400, naming
 * the field). */
json_t *sg_responses_request(const json_t *in, struct sg_responses_params *p,
                             struct sg_api_error *e);
void sg_responses_params_free(struct sg_responses_params *p);

/* A new Response id ("resp_" and 48 hex digits) into `out`. */
void sg_responses_new_id(char out[64]);

/* The Response object for a chat.completion: `id` and `created` name it, `model` is the
 * name the client asked for, `echo` the request's fields (borrowed, may be NULL). Item ids
 * are derived from `id`, so the same completion gives the same object. Returns a new
 * object (caller owns it) or NULL when out of memory. */
json_t *sg_responses_response(const json_t *completion, const char *id, int64_t created,
                              const char *model, const json_t *echo);

/* Streamed chunks collected into one chat.completion (what a stream amounted to). */
struct sg_chat_acc {
    struct sg_buf text;
    json_t *calls; /* tool calls by index: [{id, type, function: {name, arguments}}] */
    char finish[24];
    int64_t prompt_tokens, completion_tokens;
};
void sg_chat_acc_init(struct sg_chat_acc *a);
void sg_chat_acc_free(struct sg_chat_acc *a);
/* Adds a chat.completion.chunk (choice 0). Returns 0 or SG_ENOMEM/SG_ETOOBIG. */
int sg_chat_acc_feed(struct sg_chat_acc *a, const json_t *chunk);
/* The chat.completion so far (new object, caller owns it; NULL when out of memory). */
json_t *sg_chat_acc_completion(const struct sg_chat_acc *a);

/* The state of one streamed Response. */
struct sg_responses_stream {
    bool started, ended;
    int64_t seq;            /* the next sequence_number */
    int next_output;        /* the next output_index */
    int text_out;           /* output_index of the open message item, -1 when none */
    int tool_out;           /* output_index of the open function_call item, -1 when none */
    int tool_index;         /* the chat tool call index of the open function_call item */
    struct sg_chat_acc acc; /* the answer as the client saw it */
    json_t *items;          /* finished output items, in output_index order; owned */
    json_t *echo;           /* borrowed */
    int64_t created;
    char id[64];
    char model[160];
};

void sg_responses_stream_init(struct sg_responses_stream *s, const char *id, int64_t created,
                              const char *model, const json_t *echo);
void sg_responses_stream_free(struct sg_responses_stream *s);
/* Appends the events ("event: T\ndata: {...}\n\n") for one chat.completion.chunk. */
int sg_responses_stream_chunk(struct sg_responses_stream *s, const json_t *chunk,
                              struct sg_buf *out);
/* The answer is complete: closes the open items and appends response.completed (or
 * response.incomplete when the output was cut at max_output_tokens). */
int sg_responses_stream_end(struct sg_responses_stream *s, struct sg_buf *out);
/* A failure after the stream started: appends error and response.failed. */
int sg_responses_stream_error(struct sg_responses_stream *s, const struct sg_api_error *e,
                              struct sg_buf *out);

/* ---- Gemini and Ollama (dialect_gemini.c, dialect_ollama.c, dialect_stream.c) ----
 *
 * Gemini (generativelanguage API, v1beta and v1):
 *   POST /v1beta/models/{model}:generateContent, :streamGenerateContent (alt=sse: SSE
 *   "data: {GenerateContentResponse}" events; without it a streamed JSON array),
 *   :embedContent, :batchEmbedContents; GET /v1beta/models. Keys in x-goog-api-key or
 *   ?key=. Errors {"error":{"code":400,"message":"…","status":"INVALID_ARGUMENT"}}.
 * Ollama:
 *   POST /api/chat, /api/generate (NDJSON streams by default, "stream": false for one
 *   object), /api/embed, /api/embeddings; GET /api/tags. Errors {"error":"…"}.
 * Both are translated into the OpenAI chat / embeddings request and back. */

/* The endpoints of these dialects for a path without query (with one trailing slash
 * removed); the model named by the path is copied into `model` (cap bytes). NULL when the
 * path is not one of them. */
const struct sg_endpoint_info *sg_gemini_route(const char *path, size_t len, char *model,
                                               size_t cap);
const struct sg_endpoint_info *sg_ollama_route(const char *path, size_t len);

/* An endpoint of the OpenAI, Anthropic, Gemini or Ollama APIs that this gateway does not
 * serve (images, audio, files, assistants, batches, realtime, …): a static description
 * whose `path` is a fixed label (for metrics and audit), `dialect` the shape its error is
 * answered in, `ep` SG_EP_COUNT. `anthropic` says the client sent Anthropic headers. NULL
 * for paths that belong to no known API. */
const struct sg_endpoint_info *sg_api_unserved(const char *path, size_t len, bool anthropic);
/* Fills `e` with the refusal for an unserved endpoint (404, or 501 for Gemini), naming the
 * method and path (both truncated). */
void sg_api_unserved_error(const struct sg_endpoint_info *u, const char *method, size_t mlen,
                           const char *path, size_t plen, struct sg_api_error *e);

/* The value of query parameter `name` in a request target ("/p?a=1&key=x"), borrowed from
 * it, or NULL. Values are not percent-decoded. */
const char *sg_query_param(const char *target, size_t len, const char *name, size_t *vlen);

/* Requests: return a new OpenAI request (caller owns it) or NULL with `e` filled (400,
 * naming the field). `model` is the one named by the path. */
json_t *sg_gemini_request(const json_t *in, const char *model, bool stream, struct sg_api_error *e);
json_t *sg_gemini_embed_request(const json_t *in, const char *model, bool batch,
                                struct sg_api_error *e);
/* `ep` is the Ollama endpoint (sg_ollama_route) the request came to. */
json_t *sg_ollama_request(const struct sg_endpoint_info *ep, const json_t *in,
                          struct sg_api_error *e);

/* Error bodies. */
int sg_gemini_error(const struct sg_api_error *e, struct sg_buf *out);
int sg_ollama_error(const struct sg_api_error *e, struct sg_buf *out);

/* The model list (an OpenAI {"object":"list","data":[…]}) in the dialect's shape: Gemini's
 * {"models":[…]} or Ollama's /api/tags. Returns a new object or NULL. */
json_t *sg_dialect_models(enum sg_dialect d, const json_t *list);

/* The answer of one Gemini or Ollama request, streamed or not. Zeroed = not in use. */
enum sg_dop {
    SG_DOP_NONE = 0,
    SG_DOP_CHAT,
    SG_DOP_GENERATE,
    SG_DOP_EMBED,
    SG_DOP_EMBED_BATCH,
    SG_DOP_EMBED_LEGACY
};
enum sg_dframe { SG_DFRAME_SSE = 0, SG_DFRAME_JSON_ARRAY, SG_DFRAME_NDJSON };
struct sg_dstream {
    enum sg_dialect dialect; /* SG_DIALECT_GEMINI or SG_DIALECT_OLLAMA when in use */
    enum sg_dop op;
    enum sg_dframe frame;
    bool opened;   /* the first element of a JSON array stream was written */
    json_t *calls; /* tool calls assembled from deltas: [{id,name,arguments}]; owned */
    char finish[24];
    int64_t input_tokens, output_tokens;
    uint64_t t0_us; /* when the request started (Ollama durations) */
    char id[48];
    char model[160];
};

/* Starts the state for request endpoint `ep` (target: the request target with its query;
 * model: the name the client asked for). Does nothing for other dialects. */
void sg_dstream_init(struct sg_dstream *s, const struct sg_endpoint_info *ep, const char *target,
                     size_t target_len, const char *model, uint64_t t0_us);
void sg_dstream_free(struct sg_dstream *s);
/* The content type of the stream, or NULL when the state is not in use. */
const char *sg_dstream_content_type(const struct sg_dstream *s);
/* A whole answer (chat.completion or embeddings list) in the dialect's shape: a new
 * object, or NULL when out of memory. */
json_t *sg_dstream_response(struct sg_dstream *s, const json_t *answer);
/* Appends what one chat.completion.chunk becomes (tool calls are sent whole, once their
 * arguments are complete). Returns 0 or an sg_buf error. */
int sg_dstream_chunk(struct sg_dstream *s, const json_t *chunk, struct sg_buf *out);
/* The end of the answer: tool calls, finish reason and usage, the closing bracket. */
int sg_dstream_end(struct sg_dstream *s, struct sg_buf *out);
/* An error after the stream started. */
int sg_dstream_error(struct sg_dstream *s, const struct sg_api_error *e, struct sg_buf *out);

/* ---- a request body of any dialect (dialect_decode.c) ----
 *
 * The one way the body of a request to another dialect's endpoint becomes the OpenAI
 * request: the gateway's decode stage and `sovgate policy explain` both go through these,
 * so that the dry run cannot disagree with the gateway on what a body becomes or on which
 * bodies are refused, and how. */

/* Parses a request body that must be one JSON object (duplicate keys refused). Returns it
 * (caller owns it) or NULL with `e` filled (400 invalid_json; the message names what is
 * wrong, never the content). */
json_t *sg_dialect_parse(const char *body, size_t len, struct sg_api_error *e);

/* The dialect's name as reports and logs print it ("openai", "anthropic", "azure",
 * "responses", "gemini", "ollama"). */
const char *sg_dialect_name(enum sg_dialect d);

/* Translates the parsed body `in` of a request to `ep` (a proxied endpoint as sg_api_route
 * found it; `path_model` the model its path names, "" when none) into the OpenAI request of
 * ep->ep, not yet validated (sg_api_validate is the caller's next step). For the Responses
 * dialect `rp`, when not NULL, is filled as sg_responses_request fills it (free it with
 * sg_responses_params_free), and the conversation that previous_response_id names is not
 * read (that is the gateway's store). `in` stays the caller's; an Azure request is
 * `in` itself with the model of the path set (a new reference), an OpenAI one is `in`.
 * Returns a new reference or NULL with `e` filled (400, naming the field). */
json_t *sg_dialect_translate(const struct sg_endpoint_info *ep, const char *path_model, json_t *in,
                             struct sg_responses_params *rp, struct sg_api_error *e);

#endif
