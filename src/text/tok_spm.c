/* tok_spm.c - SentencePiece tokenization of plain text (tokenizer.ggml.model "llama").
 *
 * The text is normalised the way SentencePiece's LLaMA models expect (every ' ' becomes U+2581
 * "▁", and one more "▁" goes in front when the vocab adds a space prefix), then split into UTF-8
 * characters, each a symbol. Adjacent symbols are merged greedily: of all adjacent pairs whose
 * concatenation is a vocab token, the one whose token has the highest score merges first (ties:
 * the leftmost pair), and merging repeats until no pair forms a token. Each remaining symbol is
 * emitted as its token; a character that is no token goes out as one byte token per byte
 * (<0xXX>), or as the unknown token when the vocab has no byte tokens.
 *
 * Cost: symbols live in a doubly linked list and candidate pairs in a binary max-heap, so n
 * characters take O(n log n): each merge pushes at most two new pairs, and pairs made stale by
 * an earlier merge are recognised (their recorded length no longer matches) and dropped when
 * they reach the top. Pair texts are never copied: the two symbols are adjacent in the
 * normalised buffer, so their concatenation is a range of it. When the vocab allows it
 * (spm_word_split), each word is merged on its own, which gives the same result with a heap
 * that stays small. A run too long for that (no spaces) uses the bucket queue of merge_queue.h,
 * keyed by the rank of each token's score: same order, no million-entry heap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "text/merge_queue.h"
#include "text/vocab_impl.h"

typedef struct {
    int32_t prev, next; /* neighbours in the live list; -1 at either end */
    uint32_t off;       /* byte offset of the symbol's text in the normalised buffer */
    uint32_t len;       /* bytes; 0 once merged into its left neighbour */
} spm_sym;

typedef struct {
    float score;  /* score of the token the pair forms */
    int32_t left; /* left symbol; the right one was its neighbour when queued */
    int32_t right;
    uint32_t len; /* left.len + right.len when queued, to recognise stale pairs */
} spm_pair;

typedef struct {
    spm_pair *a;
    size_t n, cap;
} pair_heap;

/* A 4-ary heap: half the depth of a binary one, and the children of a node share a cache
 * line, which matters once the heap outgrows the caches (long inputs). */
#define HEAP_ARITY 4

/* Heap order: higher score first; equal scores, the leftmost pair first. */
static int pair_before(const spm_pair *x, const spm_pair *y)
{
    if (x->score != y->score) return x->score > y->score;
    return x->left < y->left;
}

static int heap_push(pair_heap *h, spm_pair p)
{
    if (buf_grow_array((void **)&h->a, &h->cap, h->n + 1, sizeof *h->a) != 0) return UH_ENOMEM;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / HEAP_ARITY;
        if (!pair_before(&p, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = p;
    return 0;
}

/* Removes and returns the top; h->n must be > 0. */
static spm_pair heap_pop(pair_heap *h)
{
    spm_pair top = h->a[0];
    spm_pair last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t first = HEAP_ARITY * i + 1, c = first;
        if (first >= h->n) break;
        size_t end = first + HEAP_ARITY < h->n ? first + HEAP_ARITY : h->n;
        for (size_t k = first + 1; k < end; k++)
            if (pair_before(&h->a[k], &h->a[c])) c = k;
        if (!pair_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

/* The token a piece of normalised text can become, or -1. Control, unknown, byte and unused
 * tokens are never produced from plain text: typing "<s>" or "<0x41>" must not yield those
 * tokens (SentencePiece excludes them from encoding for the same reason). */
static uh_token piece_token(const vocab *v, const char *s, size_t len)
{
    if (len > v->max_token_len) return -1;
    uh_token id = vocab_find(v, s, len);
    if (id < 0) return -1;
    switch (v->type[id]) {
    case VOCAB_T_CONTROL:
    case VOCAB_T_UNKNOWN:
    case VOCAB_T_BYTE:
    case VOCAB_T_UNUSED:
        return -1;
    default:
        return id;
    }
}

/* Queues the pair (l, r) if their concatenation is a token. */
static int try_pair(const vocab *v, const char *buf, const spm_sym *sym, pair_heap *h, int32_t l,
                    int32_t r)
{
    if (l < 0 || r < 0) return 0;
    uint32_t len = sym[l].len + sym[r].len;
    uh_token id = piece_token(v, buf + sym[l].off, len);
    if (id < 0) return 0;
    spm_pair p = {v->scores ? v->scores[id] : 0.0f, l, r, len};
    return heap_push(h, p);
}

/* Emits one final symbol: its token, else its bytes as byte tokens, else one unknown token. */
static int emit_symbol(const vocab *v, const unsigned char *s, size_t len, tok_sink *out,
                       uh_err *err)
{
    uh_token id = piece_token(v, (const char *)s, len);
    if (id >= 0) {
        tok_sink_push(out, id);
        return 0;
    }
    size_t i = 0;
    while (i < len && v->byte_tok[s[i]] >= 0) i++;
    if (i == len) {
        for (i = 0; i < len; i++) tok_sink_push(out, v->byte_tok[s[i]]);
        return 0;
    }
    if (v->unk < 0)
        return err_setf(err, UH_EFORMAT,
                        "tokenizer: no token for byte 0x%02x and the vocab has no unknown token",
                        s[i]);
    tok_sink_push(out, v->unk);
    return 0;
}

static const char space_mark[3] = {'\xe2', '\x96', '\x81'}; /* U+2581 in UTF-8 */

static int is_mark(const char *buf, const spm_sym *s)
{
    return s->len == 3 && memcmp(buf + s->off, space_mark, 3) == 0;
}

/* Merges symbols [begin, end) among themselves, then emits them. */
static int merge_run(const vocab *v, const char *buf, spm_sym *sym, int32_t begin, int32_t end,
                     pair_heap *heap, tok_sink *out, uh_err *err)
{
    int rc;
    sym[begin].prev = -1;
    sym[end - 1].next = -1;
    heap->n = 0;
    for (int32_t i = begin + 1; i < end; i++)
        if ((rc = try_pair(v, buf, sym, heap, i - 1, i))) return rc;

    while (heap->n > 0) {
        spm_pair p = heap_pop(heap);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != p.len) continue; /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if ((rc = try_pair(v, buf, sym, heap, l->prev, p.left)) ||
            (rc = try_pair(v, buf, sym, heap, p.left, l->next)))
            return rc;
    }

    for (int32_t i = begin; i >= 0; i = sym[i].next)
        if ((rc = emit_symbol(v, (const unsigned char *)buf + sym[i].off, sym[i].len, out, err)))
            return rc;
    return 0;
}

/* ---- long runs: the bucket queue ---- */

/* Runs of this many symbols and more merge with the bucket queue (merge_queue.h); shorter ones
 * with the heap, which is faster while it fits in the caches. */
#define SPM_QUEUE_MIN 512

/* What a long run needs besides the heap path's state: the queue, and each token's class -
 * the rank of its score among the distinct scores, highest first, so that a smaller class
 * means "merges earlier" and equal scores share a class (their ties go by position). */
typedef struct {
    merge_queue q;
    uint32_t *cls; /* [n_tokens] */
    int ready;
} spm_queue;

typedef struct {
    float score;
    uint32_t id;
} scored_id;

static int by_score_desc(const void *a, const void *b)
{
    float x = ((const scored_id *)a)->score, y = ((const scored_id *)b)->score;
    return (x < y) - (x > y);
}

static int spm_queue_prepare(const vocab *v, spm_queue *sq)
{
    if (sq->ready) return 0;
    uint32_t n_tok = (uint32_t)v->n_tokens, n_cls = 1;
    sq->cls = calloc(n_tok ? n_tok : 1, sizeof *sq->cls);
    if (!sq->cls) return UH_ENOMEM;
    if (v->scores && n_tok > 0) {
        scored_id *ids = malloc(n_tok * sizeof *ids);
        if (!ids) return UH_ENOMEM;
        for (uint32_t i = 0; i < n_tok; i++) ids[i] = (scored_id){v->scores[i], i};
        qsort(ids, n_tok, sizeof *ids, by_score_desc);
        n_cls = 0;
        for (uint32_t i = 0; i < n_tok; i++) {
            if (i > 0 && ids[i].score != ids[i - 1].score) n_cls++;
            sq->cls[ids[i].id] = n_cls;
        }
        n_cls++;
        free(ids);
    }
    if (merge_queue_init(&sq->q, n_cls)) return UH_ENOMEM;
    sq->ready = 1;
    return 0;
}

static void spm_queue_fini(spm_queue *sq)
{
    if (sq->ready) merge_queue_fini(&sq->q);
    free(sq->cls);
}

/* Queues (l, r) by the class of the token they form, if any. */
static int queue_pair(const vocab *v, const char *buf, const spm_sym *sym, spm_queue *sq, int32_t l,
                      int32_t r)
{
    if (l < 0 || r < 0) return 0;
    uh_token id = piece_token(v, buf + sym[l].off, sym[l].len + sym[r].len);
    if (id < 0) return 0;
    return merge_queue_push(&sq->q, sq->cls[id], (uint32_t)l);
}

/* merge_run with the bucket queue, same result. An entry (class, left) is checked when it comes
 * out: it applies when the left symbol and its current right neighbour form a token of that
 * class. That pair may not be the one queued, but it was queued too under the same key when it
 * formed, and entries with equal keys may come out in any order. */
static int merge_run_queued(const vocab *v, const char *buf, spm_sym *sym, int32_t begin,
                            int32_t end, spm_queue *sq, tok_sink *out, uh_err *err)
{
    int rc;
    if ((rc = spm_queue_prepare(v, sq))) goto nomem;
    sym[begin].prev = -1;
    sym[end - 1].next = -1;
    merge_queue_reset(&sq->q);
    for (int32_t i = begin + 1; i < end; i++)
        if ((rc = queue_pair(v, buf, sym, sq, i - 1, i))) goto nomem;

    uint32_t cls, pos;
    while ((rc = merge_queue_pop(&sq->q, &cls, &pos)) > 0) {
        /* positions of a run are scattered: fetch symbols and their text a few merges ahead */
        uint32_t far = merge_queue_upcoming(&sq->q, 16), near = merge_queue_upcoming(&sq->q, 8);
        if (far != UINT32_MAX) __builtin_prefetch(&sym[far]);
        if (near != UINT32_MAX) __builtin_prefetch(buf + sym[near].off);
        spm_sym *l = &sym[pos];
        if (l->len == 0 || l->next < 0) continue;
        spm_sym *r = &sym[l->next];
        uh_token id = piece_token(v, buf + l->off, l->len + r->len);
        if (id < 0 || sq->cls[id] != cls) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = (int32_t)pos;
        if ((rc = queue_pair(v, buf, sym, sq, l->prev, (int32_t)pos)) ||
            (rc = queue_pair(v, buf, sym, sq, (int32_t)pos, l->next)))
            goto nomem;
    }
    if (rc < 0) goto nomem;

    for (int32_t i = begin; i >= 0; i = sym[i].next)
        if ((rc = emit_symbol(v, (const unsigned char *)buf + sym[i].off, sym[i].len, out, err)))
            return rc;
    return 0;
nomem:
    return err_setf(err, UH_ENOMEM, "tokenizer: out of memory");
}

int spm_tokenize(const vocab *v, const char *text, size_t len, int space_prefix, tok_sink *out,
                 uh_err *err)
{
    int rc = 0;
    char *buf = NULL;
    spm_sym *sym = NULL;
    pair_heap heap = {0};
    spm_queue sq = {0};

    /* Normalise: at most 3 bytes per input byte plus the prefix; len <= VOCAB_MAX_TEXT keeps
     * every offset within uint32_t and every symbol index within int32_t. */
    if (len == 0 || len > VOCAB_MAX_TEXT)
        return err_setf(err, UH_EINVAL, "tokenizer: bad text length %zu", len);
    buf = malloc(len * 3 + 3);
    if (!buf) goto nomem;
    size_t m = 0;
    if (space_prefix) {
        memcpy(buf, space_mark, 3);
        m = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + m, space_mark, 3);
            m += 3;
        } else {
            buf[m++] = text[i];
        }
    }

    /* One symbol per character. */
    sym = malloc((len + 1) * sizeof *sym);
    if (!sym) goto nomem;
    int32_t n_sym = 0;
    for (size_t i = 0; i < m;) {
        size_t cl = vocab_utf8_len((const unsigned char *)buf + i, m - i);
        sym[n_sym] = (spm_sym){n_sym - 1, n_sym + 1, (uint32_t)i, (uint32_t)cl};
        n_sym++;
        i += cl;
    }

    /* Merge word by word where the vocab allows it (see vocab_impl.h, spm_word_split): a word
     * starts at a U+2581 that follows other text, and no token can span that point, so the
     * words merge independently and the heap stays small enough to live in the caches. */
    for (int32_t begin = 0, end; begin < n_sym; begin = end) {
        end = begin + 1;
        if (v->spm_word_split)
            while (end < n_sym && !(is_mark(buf, &sym[end]) && !is_mark(buf, &sym[end - 1]))) end++;
        else
            end = n_sym;
        if (end - begin >= SPM_QUEUE_MIN && !tok_force_heap)
            rc = merge_run_queued(v, buf, sym, begin, end, &sq, out, err);
        else
            rc = merge_run(v, buf, sym, begin, end, &heap, out, err);
        if (rc) goto done;
    }
    rc = 0;
    goto done;

nomem:
    rc = err_setf(err, UH_ENOMEM, "tokenizer: out of memory for %zu bytes of text", len);
done:
    spm_queue_fini(&sq);
    free(heap.a);
    free(sym);
    free(buf);
    return rc;
}
