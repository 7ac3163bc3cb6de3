/* api.c - the public vocabulary functions of unhosted.h: thin wrappers over text/vocab, plus
 * the streaming detokenizer that never emits part of a UTF-8 character. */
#include <string.h>

#include "base/err.h"
#include "engine/model.h"
#include "text/vocab.h"
#include "unhosted.h"

uh_token uh_token_bos(const uh_model *m) { return vocab_bos(m->vocab); }
uh_token uh_token_eos(const uh_model *m) { return vocab_eos(m->vocab); }
int uh_token_is_eog(const uh_model *m, uh_token t) { return vocab_is_eog(m->vocab, t); }
int uh_add_bos(const uh_model *m) { return vocab_add_bos(m->vocab); }

int uh_tokenize(const uh_model *m, const char *text, size_t len, int add_special, int parse_special,
                uh_token *out, int n_max, int *n_out, uh_err *err)
{
    return vocab_tokenize(m->vocab, text, len, add_special, parse_special, out, n_max, n_out, err);
}

int uh_token_to_piece(const uh_model *m, uh_token t, char *buf, size_t cap)
{
    return vocab_token_to_piece(m->vocab, t, buf, cap);
}

void uh_detok_init(uh_detok *d, const uh_model *m)
{
    memset(d, 0, sizeof *d);
    d->model = m;
    d->at_start = 1;
}

/* Length of the UTF-8 sequence a lead byte starts; 0 for a byte that cannot start one. */
static int utf8_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if (c < 0xc2) return 0; /* continuation byte, or an overlong 2-byte lead */
    if (c < 0xe0) return 2;
    if (c < 0xf0) return 3;
    if (c < 0xf5) return 4;
    return 0;
}

static const char replacement[3] = {'\xef', '\xbf', '\xbd'}; /* U+FFFD */

static void put(char *buf, size_t cap, size_t *w, const void *src, size_t n)
{
    if (*w + n + 1 > cap) return; /* the caller's buffer is full: drop, never overflow */
    memcpy(buf + *w, src, n);
    *w += n;
}

int uh_detok_push(uh_detok *d, uh_token t, char *buf, size_t cap)
{
    char piece[256];
    size_t w = 0;
    if (cap == 0) return 0;
    buf[0] = 0;
    const vocab *v = d->model->vocab;
    if (t == vocab_bos(v) || vocab_is_control(v, t)) return 0;
    int n = vocab_token_to_piece(v, t, piece, sizeof piece);
    if (n < 0) return 0;
    if ((size_t)n > sizeof piece) n = (int)sizeof piece; /* pieces longer than 256 are cut */
    const char *p = piece;
    if (d->at_start && n > 0) {
        d->at_start = 0;
        if (vocab_adds_space_prefix(v) && p[0] == ' ') {
            p++;
            n--;
        }
    }
    /* Output is always valid UTF-8: a character split across tokens waits in pending; a broken
     * sequence becomes U+FFFD. */
    for (int i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (d->n_pending > 0) {
            if ((ch & 0xc0) == 0x80) {
                d->pending[d->n_pending++] = ch;
                if (d->n_pending == utf8_len(d->pending[0])) {
                    put(buf, cap, &w, d->pending, (size_t)d->n_pending);
                    d->n_pending = 0;
                }
                continue;
            }
            put(buf, cap, &w, replacement, 3); /* interrupted: the partial character is lost */
            d->n_pending = 0;
        }
        int len = utf8_len(ch);
        if (len == 1) put(buf, cap, &w, &ch, 1);
        else if (len == 0) put(buf, cap, &w, replacement, 3);
        else d->pending[d->n_pending++] = ch;
    }
    buf[w] = 0;
    return (int)w;
}
