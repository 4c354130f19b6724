/* Error codes and the caller-owned error record every module reports failures through.
 * Functions return 0 on success or a negative SG_E* code; when they take a
 * `struct sg_error *`, they also fill it with a human-readable message. Messages never
 * contain personal data, prompt text or secrets. Only the HTTP layer maps errors to
 * status codes. */
#ifndef SG_CORE_ERROR_H
#define SG_CORE_ERROR_H

#include <stddef.h>

enum {
    SG_OK = 0,
    SG_ENOMEM = -1,  /* allocation failed */
    SG_EINVAL = -2,  /* invalid argument or input */
    SG_ETOOBIG = -3, /* a hard size limit was reached */
    SG_EIO = -4,     /* system call or file failure */
    SG_ENOTFOUND = -5,
    SG_EAGAIN = -6,  /* need more input */
    SG_EPROTO = -7,  /* protocol violation by a peer */
    SG_EDENIED = -8, /* authentication or authorization failure */
    SG_ECRYPTO = -9, /* a cryptographic operation failed */
    SG_EEXIST = -10,
    SG_ETIMEOUT = -11,
    SG_EUNAVAIL = -12, /* a dependency (backend, store) is unavailable */
};

/* Room for a message, a path in it and a hint after the path (a longer one is cut). */
#define SG_ERROR_MSG_MAX 512

struct sg_error {
    int code;                   /* an SG_E* code, 0 when nothing failed */
    char msg[SG_ERROR_MSG_MAX]; /* NUL-terminated, may be truncated */
};

/* Fills `err` (which may be NULL) with `code` and a printf-style message, and returns
 * `code` so callers can write `return sg_error_set(err, SG_EINVAL, "...")`. */
int sg_error_set(struct sg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns a static, human-readable name for an SG_E* code. */
const char *sg_strerror(int code);

#endif
