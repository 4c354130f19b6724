/* Internals of `sovgate leakcheck` (cmd_leakcheck.c): the capture backends
 * (leak_capture.c). Every request a backend receives is recorded as its head line
 * ("POST /v1/chat/completions", "503 POST ..." when failed on purpose) and its body. */
#ifndef SG_CLI_LEAKCHECK_H
#define SG_CLI_LEAKCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "http/server.h"

struct lc_captures;

/* Starts `n` capture servers on 127.0.0.1 (free ports), one per backend name, served by
 * one thread. Returns 0 or an SG_E* code with `err`. */
int lc_captures_start(size_t n, const char *const *names, struct lc_captures **out,
                      struct sg_error *err);
int lc_capture_port(const struct lc_captures *cs, size_t i);
/* Bytes received by capture i so far; appends a copy to `copy` when not NULL. */
size_t lc_capture_bytes(struct lc_captures *cs, size_t i, struct sg_buf *copy);
/* Bytes received by capture i so far; appends those from offset `from` on to `copy` (what
 * one request made the gateway send, when `from` is the size before it). */
size_t lc_capture_slice(struct lc_captures *cs, size_t i, size_t from, struct sg_buf *copy);
/* Requests capture i received, health checks included. */
unsigned lc_capture_requests(struct lc_captures *cs, size_t i);
/* API requests (POST /v1/...) capture i answered, those it failed on purpose not counted. */
unsigned lc_capture_api_requests(struct lc_captures *cs, size_t i);
/* While `fail` is set, capture i answers API requests (POST /v1/...) 503, as a backend that
 * is failing: the gateway fails over to the next backend of the route. Such a request is
 * recorded too (its bytes reached the backend), with its head line as "503 POST /v1/...". */
void lc_capture_set_fail(struct lc_captures *cs, size_t i, bool fail);
/* Stops the thread and frees everything. NULL is accepted. */
void lc_captures_stop(struct lc_captures *cs);

#endif
