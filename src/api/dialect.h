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

#endif
