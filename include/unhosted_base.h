/* unhosted_base.h - what every layer of unhosted shares, the public API included: the error
 * codes, the error buffer and the token id type. Codes are only ever appended, never
 * renumbered: they travel between nodes of different versions.
 *
 * A function that can fail returns 0 (UH_OK) or one negative code, and fills the caller's
 * uh_err (when non-NULL) with a one-line message naming what was wrong. */
#ifndef UNHOSTED_BASE_H
#define UNHOSTED_BASE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    UH_OK = 0,
    UH_ENOMEM = -1,       /* allocation failed */
    UH_EIO = -2,          /* open/read/write/mmap failed */
    UH_EFORMAT = -3,      /* malformed file or input */
    UH_EUNSUPPORTED = -4, /* valid, but not supported by this build (architecture, type) */
    UH_EINVAL = -5,       /* bad argument from the caller */
    UH_ECTXFULL = -6,     /* position past the context length */
    UH_ENOTFOUND = -7,    /* key, tensor, file not found */
    UH_ELIMIT = -8,       /* a size cap was hit (output buffer too small, input too large) */
    UH_ETIMEDOUT = -9,    /* nothing arrived (or nothing could be sent) in the time allowed */
    UH_EBUSY = -10,       /* too many requests are waiting: try again later */
    UH_ECONFLICT = -11,   /* the state differs from what the caller expected (another model file) */
    UH_ECANCELLED = -12,  /* stopped by the caller, the client or a shutdown */
    UH_EUNAVAIL = -13,    /* nobody can serve it now: shutting down, no device reachable */
    UH_EDENIED = -14,     /* not allowed: not paired, over quota, refused by a peer */
};

typedef struct uh_err {
    int code;
    char msg[512];
} uh_err;

const char *uh_strerror(int code);

/* A token id of a model's vocabulary. */
typedef int32_t uh_token;

#ifdef __cplusplus
}
#endif

#endif
