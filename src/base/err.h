/* err.h - error codes and the caller-provided error buffer.
 *
 * Every fallible function returns 0 or a negative UH_E* code (include/unhosted_base.h) and, when the
 * caller passed a uh_err, a one-line human-readable message naming what was wrong (field,
 * offset, value). err_setf is the single place errors are raised: set a breakpoint on it. */
#ifndef UH_BASE_ERR_H
#define UH_BASE_ERR_H

#include "unhosted_base.h"

/* Formats into e->msg (if e is non-NULL), stores code in e->code and returns code. */
int err_setf(uh_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an already set message (for adding context on the way up). */
int err_prefix(uh_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
