/* stopstr.h - stop strings over streamed text.
 *
 * Generated text arrives piece by piece; a stop string may span pieces. The matcher holds back
 * only the tail that could still grow into a stop string and releases everything else at once,
 * so streaming stays immediate. When a stop string completes, the text before it is released
 * and the stop string itself is not. */
#ifndef UH_TEXT_STOPSTR_H
#define UH_TEXT_STOPSTR_H

#include <stddef.h>

#include "unhosted_base.h"

#define STOPSTR_MAX     16  /* stop strings per request */
#define STOPSTR_MAX_LEN 256 /* bytes per stop string */

typedef struct {
    char stops[STOPSTR_MAX][STOPSTR_MAX_LEN + 1];
    size_t stop_len[STOPSTR_MAX];
    int n_stops;
    char held[STOPSTR_MAX_LEN * 2 + 8]; /* text not released yet */
    size_t held_len;
    int stopped;
} stopstr;

/* Copies the stop strings (empty ones are ignored). UH_ELIMIT if there are more than
 * STOPSTR_MAX or one is longer than STOPSTR_MAX_LEN. */
int stopstr_init(stopstr *s, const char *const *stops, int n_stops, uh_err *err);

/* Feeds len bytes. Appends the releasable text to out (capacity cap, NUL-terminated) and stores
 * its length in *out_len. Returns 1 once a stop string has completed (later calls release
 * nothing), else 0. */
int stopstr_feed(stopstr *s, const char *text, size_t len, char *out, size_t cap,
                 size_t *out_len);

/* Releases the held tail at the end of generation (when no stop string completed). */
size_t stopstr_flush(stopstr *s, char *out, size_t cap);

#endif
