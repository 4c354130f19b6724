/* Tools and structured output for sovgate-engine: reads `tools`, `tool_choice` and
 * `response_format` of an OpenAI request, renders the tool definitions for the prompt,
 * builds the GBNF grammar that constrains the answer (schema_gbnf.h), renders tool calls and
 * tool results of the history, and recognizes a tool call in the generated text.
 *
 * A tool call is generated in the layout Qwen/Hermes-style models are trained on, with no
 * whitespace inside the JSON:
 *   <tool_call>\n{"name":"NAME","arguments":ARGS}\n</tool_call>
 * The grammar admits exactly one such call (tool_choice "required" or named), a call or
 * plain text that does not start with '<' ("auto"), or no call ("none" / no tools).
 * Pure: jansson and text only; no I/O. */
#ifndef SG_ENGINE_TOOLS_H
#define SG_ENGINE_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define SG_TOOLS_MAX 128 /* tools per request */
#define SG_TOOLS_OPEN "<tool_call>\n{\"name\":\""
#define SG_TOOLS_ARGS "\",\"arguments\":"
#define SG_TOOLS_CLOSE "}\n</tool_call>"

struct sg_tools {
    char *grammar;  /* malloc'd GBNF (root "root"), NULL: unconstrained */
    char *addendum; /* malloc'd text for the system message (tool definitions), or NULL */
    bool calls;     /* the answer may be a tool call */
};

/* A 400 for the client: the parameter it is about and the message. */
struct sg_tools_error {
    int code;        /* SG_EINVAL (bad or unsupported), SG_ETOOBIG, SG_ENOMEM */
    char param[128]; /* "tools[1].function.parameters", "response_format", ... */
    char msg[384];
};

/* Reads tools / tool_choice / response_format of body (an already type-checked request).
 * On success fills t (free with sg_tools_free) and returns 0; else returns an SG_E* code
 * with e filled and t empty. */
int sg_tools_prepare(const json_t *body, struct sg_tools *t, struct sg_tools_error *e);
void sg_tools_free(struct sg_tools *t);

/* The prompt text of a history message with tool calls or a tool result, or NULL when the
 * message is plain (its content is used as is). For role "tool"/"function" *role becomes
 * "user" and the result is wrapped in <tool_response>; for an assistant message with
 * tool_calls the calls follow its content in the layout above. `content` is the message's
 * text (may be ""). Returns a malloc'd string (the caller frees) or NULL (plain, or out of
 * memory: *oom tells). */
char *sg_tools_render_message(const json_t *msg, const char *content, const char **role, bool *oom);

/* A tool call in generated text (pointers into the text). */
struct sg_tool_call {
    const char *name, *args;
    size_t name_len, args_len;
    bool name_done; /* the name is complete */
    bool complete;  /* the closing "}\n</tool_call>" arrived; args excludes it */
};
/* Whether text (len bytes) is a tool call (it starts with '<'); fills c with what has
 * arrived so far. */
bool sg_tools_parse(const char *text, size_t len, struct sg_tool_call *c);

#endif
