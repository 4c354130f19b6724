/* Error record helpers: formatting into the caller's fixed-size buffer, code names. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

int sg_error_set(struct sg_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *sg_strerror(int code)
{
    switch (code) {
    case SG_OK:
        return "ok";
    case SG_ENOMEM:
        return "out of memory";
    case SG_EINVAL:
        return "invalid input";
    case SG_ETOOBIG:
        return "size limit exceeded";
    case SG_EIO:
        return "i/o error";
    case SG_ENOTFOUND:
        return "not found";
    case SG_EAGAIN:
        return "incomplete input";
    case SG_EPROTO:
        return "protocol error";
    case SG_EDENIED:
        return "access denied";
    case SG_ECRYPTO:
        return "cryptographic failure";
    case SG_EEXIST:
        return "already exists";
    case SG_ETIMEOUT:
        return "timed out";
    case SG_EUNAVAIL:
        return "unavailable";
    default:
        return "unknown error";
    }
}
