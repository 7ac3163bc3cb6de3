/* gen_loop.c - streaming generation shared by run and chat (see gen_loop.h). */
#include "cli/gen_loop.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"

static int collect(gen_result *r, size_t *cap, const char *s, size_t n)
{
    if (r->text_len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256);
        while (nc < r->text_len + n + 1) nc *= 2;
        char *t = realloc(r->text, nc);
        if (!t) return -1;
        r->text = t;
        *cap = nc;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len] = 0;
    return 0;
}

int gen_loop(session *s, const uh_model *m, long n_predict, int at_start, stopstr *stop,
             volatile sig_atomic_t *interrupt, FILE *out, gen_result *r, uh_err *err)
{
    memset(r, 0, sizeof *r);
    size_t cap = 0;
    if (collect(r, &cap, "", 0)) return UH_ENOMEM;
    uh_detok dt;
    uh_detok_init(&dt, m);
    dt.at_start = at_start;
    r->stop = "length";
    double t0 = cli_now();
    int rc = UH_OK;
    while (n_predict < 0 || r->n_gen < n_predict) {
        if (interrupt && *interrupt) {
            r->stop = "interrupted";
            break;
        }
        uh_token t = session_sample(s);
        r->n_gen++;
        if (uh_token_is_eog(m, t)) {
            r->stop = "end of text";
            break;
        }
        char piece[512], released[1024];
        int n = uh_detok_push(&dt, t, piece, sizeof piece);
        size_t rl = (size_t)n;
        const char *emit = piece;
        int stopped = 0;
        if (stop) {
            stopped = stopstr_feed(stop, piece, (size_t)n, released, sizeof released, &rl);
            emit = released;
        }
        if (rl > 0) {
            if (out) {
                fwrite(emit, 1, rl, out);
                fflush(out);
            }
            if (collect(r, &cap, emit, rl)) {
                rc = UH_ENOMEM;
                break;
            }
        }
        if (stopped) {
            r->stop = "stop string";
            break;
        }
        if (n_predict >= 0 && r->n_gen >= n_predict) break;
        rc = session_append(s, t, err);
        if (rc == UH_ECTXFULL) {
            rc = UH_OK;
            r->stop = "context full";
            break;
        }
        if (rc) break;
    }
    if (stop && rc == UH_OK) {
        char tail[STOPSTR_MAX_LEN * 2 + 8];
        size_t tl = stopstr_flush(stop, tail, sizeof tail);
        if (tl > 0) {
            if (out) fwrite(tail, 1, tl, out);
            collect(r, &cap, tail, tl);
        }
    }
    if (out) fflush(out);
    r->seconds = cli_now() - t0;
    return rc;
}
