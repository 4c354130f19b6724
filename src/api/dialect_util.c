#include "api/dialect_int.h"
#include "core/buf.h"
#include "core/json.h"

#include <stdarg.h>
#include <stdio.h>

json_t *sg_dialect_fail(struct sg_api_error *e, const char *param, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sg_api_error_set(e, 400, "invalid_request_error", "invalid_value", param, "%s", msg);
    return NULL;
}

json_t *sg_dialect_json_string(const json_t *v)
{
    struct sg_buf a;
    sg_buf_init(&a, 16u << 20);
    json_t *s = sg_json_dump(v, &a) == 0 ? json_stringn(a.data ? a.data : "", a.len) : NULL;
    sg_buf_free(&a);
    return s;
}
