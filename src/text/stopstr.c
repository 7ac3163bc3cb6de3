/* stopstr.c - stop-string matching over streamed text (see stopstr.h). */
#include "text/stopstr.h"

#include <string.h>

#include "base/err.h"

int stopstr_init(stopstr *s, const char *const *stops, int n_stops, uh_err *err)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < n_stops; i++) {
        size_t len = strlen(stops[i]);
        if (len == 0) continue;
        if (s->n_stops == STOPSTR_MAX)
            return err_setf(err, UH_ELIMIT, "at most %d stop strings", STOPSTR_MAX);
        if (len > STOPSTR_MAX_LEN)
            return err_setf(err, UH_ELIMIT, "stop string of %zu bytes (at most %d)", len,
                            STOPSTR_MAX_LEN);
        memcpy(s->stops[s->n_stops], stops[i], len + 1);
        s->stop_len[s->n_stops++] = len;
    }
    return UH_OK;
}

static void release(char *out, size_t cap, size_t *w, const char *src, size_t n)
{
    if (cap == 0) return;
    if (*w + n > cap - 1) n = cap - 1 - *w; /* the caller's buffer bounds what we can return */
    memcpy(out + *w, src, n);
    *w += n;
    out[*w] = 0;
}

/* Length of the longest suffix of held that is a proper prefix of some stop string. */
static size_t partial_tail(const stopstr *s)
{
    size_t best = 0;
    for (int i = 0; i < s->n_stops; i++) {
        size_t max = s->stop_len[i] - 1 < s->held_len ? s->stop_len[i] - 1 : s->held_len;
        for (size_t k = max; k > best; k--)
            if (memcmp(s->held + s->held_len - k, s->stops[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Earliest position of a complete stop string in held, or -1. */
static long find_stop(const stopstr *s)
{
    long first = -1;
    for (int i = 0; i < s->n_stops; i++) {
        if (s->stop_len[i] > s->held_len) continue;
        for (size_t p = 0; p + s->stop_len[i] <= s->held_len; p++)
            if (memcmp(s->held + p, s->stops[i], s->stop_len[i]) == 0) {
                if (first < 0 || (long)p < first) first = (long)p;
                break;
            }
    }
    return first;
}

int stopstr_feed(stopstr *s, const char *text, size_t len, char *out, size_t cap,
                 size_t *out_len)
{
    size_t w = 0;
    if (cap) out[0] = 0;
    while (len > 0 && !s->stopped) {
        /* take as much as fits in the hold buffer, then settle it */
        size_t room = sizeof s->held - s->held_len;
        size_t n = len < room ? len : room;
        memcpy(s->held + s->held_len, text, n);
        s->held_len += n;
        text += n;
        len -= n;
        long p = find_stop(s);
        if (p >= 0) {
            release(out, cap, &w, s->held, (size_t)p);
            s->held_len = 0;
            s->stopped = 1;
            break;
        }
        size_t keep = s->n_stops ? partial_tail(s) : 0;
        release(out, cap, &w, s->held, s->held_len - keep);
        memmove(s->held, s->held + s->held_len - keep, keep);
        s->held_len = keep;
    }
    *out_len = w;
    return s->stopped;
}

size_t stopstr_flush(stopstr *s, char *out, size_t cap)
{
    size_t w = 0;
    if (cap) out[0] = 0;
    if (!s->stopped) release(out, cap, &w, s->held, s->held_len);
    s->held_len = 0;
    return w;
}
