/* gen_loop.h - the streaming generation loop shared by run and chat: sample, stop at an
 * end-of-generation token, a stop string, the token limit, the context end or an interrupt;
 * print whole UTF-8 characters as they come. */
#ifndef UH_CLI_GEN_LOOP_H
#define UH_CLI_GEN_LOOP_H

#include <signal.h>
#include <stdio.h>

#include "engine/session.h"
#include "text/stopstr.h"
#include "unhosted.h"

typedef struct {
    int n_gen;           /* tokens generated (the end-of-generation token included) */
    double seconds;      /* generation wall time */
    const char *stop;    /* why it stopped: "end of text", "stop string", "length",
                          * "context full", "interrupted" */
    char *text;          /* the generated text (malloc'd, caller frees), stop string excluded */
    size_t text_len;
} gen_result;

/* Generates after the session's current logits. at_start: the first piece follows nothing but
 * BOS (its tokenizer-added leading space is dropped). n_predict < 0: no limit. stop may be NULL.
 * interrupt (may be NULL) is polled between tokens. Text goes to out (may be NULL) and is also
 * collected in r->text. Returns 0, or an engine error code (with err filled). */
int gen_loop(session *s, const uh_model *m, long n_predict, int at_start, stopstr *stop,
             volatile sig_atomic_t *interrupt, FILE *out, gen_result *r, uh_err *err);

#endif
