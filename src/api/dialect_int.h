/* Helpers the dialect translations (src/api/dialect_*.c) share. Private to src/api/. */
#ifndef SG_API_DIALECT_INT_H
#define SG_API_DIALECT_INT_H

#include <jansson.h>

#include "api/openai.h"

/* Fills `e` with a 400 invalid_request_error / invalid_value naming `param`, the message
 * formatted from `fmt` (cut at 255 bytes). Returns NULL, for `return sg_dialect_fail(...)`. */
json_t *sg_dialect_fail(struct sg_api_error *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* `v` serialized as a new JSON string value (tool-call arguments are strings in the OpenAI
 * shape), through sg_json_dump: the gateway gives jansson its own allocator, so json_dumps
 * output must not be freed with free(). NULL when out of memory or over 16 MiB. */
json_t *sg_dialect_json_string(const json_t *v);

#endif
