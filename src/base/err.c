/* err.c - error messages: the code table and the formatting helpers. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *uh_strerror(int code)
{
    switch (code) {
    case UH_OK: return "ok";
    case UH_ENOMEM: return "out of memory";
    case UH_EIO: return "i/o error";
    case UH_EFORMAT: return "malformed input";
    case UH_EUNSUPPORTED: return "not supported";
    case UH_EINVAL: return "invalid argument";
    case UH_ECTXFULL: return "context full";
    case UH_ENOTFOUND: return "not found";
    case UH_ELIMIT: return "limit exceeded";
    case UH_ETIMEDOUT: return "timed out";
    case UH_EBUSY: return "busy";
    case UH_ECONFLICT: return "conflict";
    case UH_ECANCELLED: return "cancelled";
    case UH_EUNAVAIL: return "unavailable";
    case UH_EDENIED: return "denied";
    }
    return "unknown error";
}

int err_setf(uh_err *e, int code, const char *fmt, ...)
{
    if (!e) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

int err_prefix(uh_err *e, int code, const char *fmt, ...)
{
    if (!e) return code;
    char prefix[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    old[sizeof old - 1] = 0;
    size_t pl = strlen(prefix);
    if (pl > sizeof e->msg - 3) pl = sizeof e->msg - 3;
    size_t ol = strlen(old);
    if (ol > sizeof e->msg - 3 - pl) ol = sizeof e->msg - 3 - pl;
    memcpy(e->msg, prefix, pl);
    memcpy(e->msg + pl, ": ", 2);
    memcpy(e->msg + pl + 2, old, ol);
    e->msg[pl + 2 + ol] = 0;
    e->code = code;
    return code;
}
