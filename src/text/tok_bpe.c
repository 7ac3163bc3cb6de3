/* tok_bpe.c - byte-level BPE (tokenizer.ggml.model "gpt2"): GPT-2, Llama 3, Qwen2, DeepSeek,
 * Falcon, StarCoder, MPT and the other vocabularies built the same way.
 *
 * Text is cut into pieces by the family's pre-tokenizer (pretok.c). Within a piece every byte
 * starts as the token of its GPT-2 character: the 188 printable bytes stand for themselves
 * (as Latin-1 characters), the other 68 for U+0100 onwards, in byte order - so every token
 * text is valid UTF-8 and a space is "Ġ" (U+0120). Then merges apply: of all adjacent pairs
 * with a rule in tokenizer.ggml.merges ("left right", one per string), the one with the lowest
 * rank (index) merges first, ties going to the leftmost pair, until no rule applies.
 *
 * Cost: the merge rules live in a hash table keyed by the pair of token ids, symbols in a
 * doubly linked list and candidate pairs in a binary heap, so a piece of n bytes costs
 * O(n log n). A queued pair records the two ids it joins; when it reaches the top after one of
 * its symbols has changed or gone, it no longer matches and is dropped. Long pieces (a word
 * without spaces, say) use the bucket queue of merge_queue.h instead, which gives the same
 * order at O(1) per pair for trained vocabs and stays out of the cache misses a million-entry
 * heap costs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "text/merge_queue.h"
#include "text/unicode.h"
#include "text/vocab_impl.h"

/* ---- loading ---- */

/* GPT-2's character for byte b (see the file comment). */
static uint32_t byte_to_cp(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) return b;
    if (b <= 0x20) return 0x100 + b;
    if (b <= 0xa0) return 0x100 + 0x21 + (b - 0x7f);
    return 0x100 + 0x21 + 34; /* 0xad */
}

static uint32_t merge_slot(const vocab *v, uint32_t left, uint32_t right)
{
    uint64_t k = ((uint64_t)left << 32 | right) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(k >> (64 - v->merge_bits));
}

/* Id of the token whose text is a[0..na) followed by b[0..nb), or -1. */
static uh_token find_concat(const vocab *v, const char *a, size_t na, const char *b, size_t nb)
{
    if (na + nb > v->max_token_len) return -1;
    uint32_t h = VOCAB_HASH_INIT;
    for (size_t i = 0; i < na; i++) h = vocab_hash_step(h, (unsigned char)a[i]);
    for (size_t i = 0; i < nb; i++) h = vocab_hash_step(h, (unsigned char)b[i]);
    for (uint32_t i = h & v->map_mask;; i = (i + 1) & v->map_mask) {
        uint32_t slot = v->map[i];
        if (slot == 0) return -1;
        const gguf_str *t = &v->tokens[slot - 1];
        if (t->len == na + nb && memcmp(t->ptr, a, na) == 0 && memcmp(t->ptr + na, b, nb) == 0)
            return (uh_token)(slot - 1);
    }
}

/* Adds the rule; the first occurrence of a pair keeps its rank. */
static void add_merge(vocab *v, uh_token l, uh_token r, uh_token result, uint32_t rank)
{
    for (uint32_t i = merge_slot(v, (uint32_t)l, (uint32_t)r);; i = (i + 1) & v->merge_mask) {
        bpe_merge *m = &v->merge_map[i];
        if (m->left == 0) {
            *m = (bpe_merge){(uint32_t)l + 1, (uint32_t)r, rank, (uint32_t)result};
            return;
        }
        if (m->left == (uint32_t)l + 1 && m->right == (uint32_t)r) return;
    }
}

int bpe_load(const gguf_file *f, vocab *v, uh_err *err)
{
    gguf_str pre = {0, NULL};
    int rc = gguf_get_str(f, "tokenizer.ggml.pre", &pre, err);
    if (rc && rc != UH_ENOTFOUND) return rc;
    if ((rc = pretok_new(pre.ptr, (size_t)pre.len, &v->pre, err))) return rc;

    for (int b = 0; b < 256; b++) {
        unsigned char u[4];
        size_t n = uni_encode(byte_to_cp((unsigned)b), u);
        v->byte_char[b] = vocab_find(v, (const char *)u, n);
    }
    if (!v->has_merges) return 0; /* reported when text is tokenized */
    if (v->n_merges > (uint64_t)INT32_MAX / 4)
        return err_setf(err, UH_EFORMAT, "tokenizer.ggml.merges: %llu rules is too many",
                        (unsigned long long)v->n_merges);

    v->merge_bits = 4;
    while (((uint64_t)1 << v->merge_bits) < v->n_merges + v->n_merges / 2 + 16) v->merge_bits++;
    v->merge_mask = (uint32_t)(((uint64_t)1 << v->merge_bits) - 1);
    v->merge_map = calloc((size_t)v->merge_mask + 1, sizeof *v->merge_map);
    if (!v->merge_map)
        return err_setf(err, UH_ENOMEM, "vocab: out of memory for %llu merge rules",
                        (unsigned long long)v->n_merges);
    for (uint64_t i = 0; i < v->n_merges; i++) {
        const gguf_str *m = &v->merges[i];
        /* split at the first space after the first byte: a left part may itself be " " */
        const char *sp = m->len > 1 ? memchr(m->ptr + 1, ' ', (size_t)m->len - 1) : NULL;
        if (!sp)
            return err_setf(err, UH_EFORMAT,
                            "tokenizer.ggml.merges[%llu] = \"%.*s\" is not \"left right\"",
                            (unsigned long long)i, m->len > 40 ? 40 : (int)m->len, m->ptr);
        size_t nl = (size_t)(sp - m->ptr), nr = (size_t)m->len - nl - 1;
        uh_token l = vocab_find(v, m->ptr, nl);
        uh_token r = vocab_find(v, sp + 1, nr);
        uh_token res = find_concat(v, m->ptr, nl, sp + 1, nr);
        /* a rule whose parts or result are no tokens can never apply to token symbols */
        if (l < 0 || r < 0 || res < 0) continue;
        add_merge(v, l, r, res, (uint32_t)i);
    }
    return 0;
}

void bpe_unload(vocab *v)
{
    pretok_free(v->pre);
    free(v->merge_map);
    v->pre = NULL;
    v->merge_map = NULL;
}

static const bpe_merge *find_merge(const vocab *v, uh_token l, uh_token r)
{
    for (uint32_t i = merge_slot(v, (uint32_t)l, (uint32_t)r);; i = (i + 1) & v->merge_mask) {
        const bpe_merge *m = &v->merge_map[i];
        if (m->left == 0) return NULL;
        if (m->left == (uint32_t)l + 1 && m->right == (uint32_t)r) return m;
    }
}

/* ---- merging ---- */

/* Pieces this long and longer merge with the bucket queue; shorter ones with the heap, which
 * is faster while it fits in the caches. */
#define BPE_QUEUE_MIN_LEN 512

int tok_force_heap;

typedef struct {
    uh_token id;        /* current token; -1 for a byte without a token */
    int32_t prev, next; /* live neighbours, -1 at either end */
} bpe_sym;

/* A queued pair: key = rank << 32 | left, so one comparison orders by rank, then leftmost. */
typedef struct {
    uint64_t key;
    uh_token left_id, right_id; /* ids when queued; a mismatch later means stale */
} bpe_pair;

/* The heap is 4-ary: half the depth of a binary one. Entry i lives at slot i + HEAP_SKEW, which
 * puts the four children of any entry in one 64-byte cache line (slots 4(i+1) .. 4(i+1)+3):
 * long pieces make heaps far larger than the caches. */
#define HEAP_ARITY 4
#define HEAP_SKEW  3

typedef struct {
    const vocab *v;
    tok_sink *out;
    uh_err *err;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_pair *slots; /* heap entry i at slots[i + HEAP_SKEW], 64-byte aligned */
    size_t n_heap, heap_cap;
    char *mapped; /* the piece as GPT-2 characters, for whole-piece lookups */
    size_t mapped_cap;
    merge_queue queue; /* for pieces of BPE_QUEUE_MIN_LEN bytes and more */
    int queue_ready;
} bpe_state;

static int heap_push(bpe_state *st, bpe_pair p)
{
    if (st->n_heap == st->heap_cap) {
        size_t cap = st->heap_cap ? st->heap_cap * 2 : 256;
        bpe_pair *a = aligned_alloc(64, (cap + 4) * sizeof *a);
        if (!a) return err_setf(st->err, UH_ENOMEM, "tokenizer: out of memory");
        if (st->slots) memcpy(a, st->slots, (st->n_heap + HEAP_SKEW) * sizeof *a);
        free(st->slots);
        st->slots = a;
        st->heap_cap = cap;
    }
    bpe_pair *h = st->slots + HEAP_SKEW;
    size_t i = st->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / HEAP_ARITY;
        if (h[parent].key <= p.key) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = p;
    return 0;
}

static bpe_pair heap_pop(bpe_state *st)
{
    bpe_pair *h = st->slots + HEAP_SKEW;
    bpe_pair top = h[0], last = h[--st->n_heap];
    size_t i = 0, n = st->n_heap;
    for (;;) {
        size_t first = HEAP_ARITY * i + 1, c = first;
        if (first >= n) break;
        size_t end = first + HEAP_ARITY < n ? first + HEAP_ARITY : n;
        for (size_t k = first + 1; k < end; k++)
            if (h[k].key < h[c].key) c = k;
        if (h[c].key >= last.key) break;
        h[i] = h[c];
        i = c;
    }
    if (n > 0) h[i] = last;
    return top;
}

static int try_pair(bpe_state *st, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return 0;
    uh_token a = st->sym[l].id, b = st->sym[r].id;
    if (a < 0 || b < 0) return 0;
    const bpe_merge *m = find_merge(st->v, a, b);
    if (!m) return 0;
    return heap_push(st, (bpe_pair){(uint64_t)m->rank << 32 | (uint32_t)l, a, b});
}

/* True when the whole piece is one token (Llama 3 takes it without merging). */
static uh_token whole_piece(bpe_state *st, const unsigned char *s, size_t len)
{
    const vocab *v = st->v;
    if (len > v->max_token_len) return -1;
    if (buf_grow_array((void **)&st->mapped, &st->mapped_cap, 2 * len, 1) != 0)
        return -1; /* just merge instead */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char u[4];
        size_t k = uni_encode(byte_to_cp(s[i]), u);
        memcpy(st->mapped + n, u, k);
        n += k;
    }
    return vocab_find(v, st->mapped, n);
}

static void emit_id(bpe_state *st, uh_token id)
{
    if (id >= 0)
        tok_sink_push(st->out, id);
    else if (st->v->unk >= 0)
        tok_sink_push(st->out, st->v->unk); /* a vocab without some byte's character */
}

/* Merges sym[0..n) with the heap: the straightforward way, for short pieces. */
static int merge_heap(bpe_state *st, int32_t n)
{
    const vocab *v = st->v;
    st->n_heap = 0;
    int rc;
    for (int32_t i = 0; i + 1 < n; i++)
        if ((rc = try_pair(st, i, i + 1))) return rc;

    while (st->n_heap > 0) {
        bpe_pair p = heap_pop(st);
        int32_t left = (int32_t)(uint32_t)p.key;
        bpe_sym *l = &st->sym[left];
        /* the pair still applies when its left symbol and whatever follows it now carry the ids
         * it was queued with (a different right symbol with the same id is the same merge) */
        if (l->id != p.left_id || l->next < 0) continue;
        bpe_sym *r = &st->sym[l->next];
        if (r->id != p.right_id) continue;
        const bpe_merge *m = find_merge(v, p.left_id, p.right_id);
        l->id = (uh_token)m->result;
        r->id = -2; /* gone: matches no queued pair again */
        l->next = r->next;
        if (r->next >= 0) st->sym[r->next].prev = left;
        if ((rc = try_pair(st, l->prev, left)) || (rc = try_pair(st, left, l->next))) return rc;
    }
    return 0;
}

/* Enters the pair (l, r) in the bucket queue if a rule joins their tokens. */
static int queue_pair(bpe_state *st, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return 0;
    uh_token a = st->sym[l].id, b = st->sym[r].id;
    if (a < 0 || b < 0) return 0;
    const bpe_merge *m = find_merge(st->v, a, b);
    if (!m || merge_queue_push(&st->queue, m->rank, (uint32_t)l) == 0) return 0;
    return err_setf(st->err, UH_ENOMEM, "tokenizer: out of memory");
}

/* Merges sym[0..n) in the same order as merge_heap, with the bucket queue (merge_queue.h):
 * O(1) per pair when, as in trained vocabs, every rule comes after the rules that make its
 * parts. An entry is checked when it comes out: it still applies when its left symbol is
 * alive and the rule for that symbol and its current right neighbour has the entry's rank
 * (a rank names one rule, so the ids are the ones it was queued with). */
static int merge_queued(bpe_state *st, int32_t n)
{
    const vocab *v = st->v;
    int rc;
    if (!st->queue_ready) {
        if (merge_queue_init(&st->queue, (uint32_t)v->n_merges))
            return err_setf(st->err, UH_ENOMEM, "tokenizer: out of memory");
        st->queue_ready = 1;
    }
    merge_queue_reset(&st->queue);
    for (int32_t i = 0; i + 1 < n; i++)
        if ((rc = queue_pair(st, i, i + 1))) return rc;
    uint32_t rank, pos;
    while ((rc = merge_queue_pop(&st->queue, &rank, &pos)) > 0) {
        /* a run's positions are scattered over the piece: fetch the symbols a few merges
         * ahead, and the rule of the pair after them, before they are needed */
        uint32_t far = merge_queue_upcoming(&st->queue, 16);
        uint32_t near = merge_queue_upcoming(&st->queue, 8);
        if (far != UINT32_MAX) __builtin_prefetch(&st->sym[far]);
        if (near != UINT32_MAX) {
            const bpe_sym *a = &st->sym[near];
            if (a->id >= 0 && a->next >= 0 && st->sym[a->next].id >= 0)
                __builtin_prefetch(
                    &v->merge_map[merge_slot(v, (uint32_t)a->id, (uint32_t)st->sym[a->next].id)]);
        }
        int32_t left = (int32_t)pos;
        bpe_sym *l = &st->sym[left];
        if (l->id < 0 || l->next < 0) continue;
        bpe_sym *r = &st->sym[l->next];
        if (r->id < 0) continue;
        const bpe_merge *m = find_merge(v, l->id, r->id);
        if (!m || m->rank != rank) continue;
        l->id = (uh_token)m->result;
        r->id = -2;
        l->next = r->next;
        if (r->next >= 0) st->sym[r->next].prev = left;
        if ((rc = queue_pair(st, l->prev, left)) || (rc = queue_pair(st, left, l->next))) return rc;
    }
    if (rc < 0) return err_setf(st->err, UH_ENOMEM, "tokenizer: out of memory");
    return 0;
}

static int bpe_piece(void *ctx, const char *piece, size_t len)
{
    bpe_state *st = ctx;
    const vocab *v = st->v;
    const unsigned char *s = (const unsigned char *)piece;
    if (len == 1) {
        emit_id(st, v->byte_char[s[0]]);
        return 0;
    }
    if (pretok_ignores_merges(v->pre)) {
        uh_token t = whole_piece(st, s, len);
        if (t >= 0) {
            tok_sink_push(st->out, t);
            return 0;
        }
    }
    if (buf_grow_array((void **)&st->sym, &st->sym_cap, len, sizeof *st->sym) != 0)
        return err_setf(st->err, UH_ENOMEM, "tokenizer: out of memory");
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n; i++)
        st->sym[i] = (bpe_sym){v->byte_char[s[i]], i - 1, i + 1 < n ? i + 1 : -1};
    int rc = n >= BPE_QUEUE_MIN_LEN && !tok_force_heap ? merge_queued(st, n) : merge_heap(st, n);
    if (rc) return rc;
    for (int32_t i = 0; i >= 0; i = st->sym[i].next) emit_id(st, st->sym[i].id);
    return 0;
}

struct bpe_session {
    pretok_scratch scratch;
    bpe_state st;
};

int bpe_begin(const vocab *v, bpe_session **out, uh_err *err)
{
    *out = NULL;
    if (!v->has_merges)
        return err_setf(err, UH_EFORMAT,
                        "tokenizer.ggml.merges missing: a gpt2 (BPE) vocab needs its merge rules");
    if (!v->pre) return err_setf(err, UH_EINVAL, "tokenizer: BPE vocab not set up");
    bpe_session *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, UH_ENOMEM, "tokenizer: out of memory");
    int rc = pretok_scratch_init(v->pre, &s->scratch, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->st.v = v;
    *out = s;
    return 0;
}

int bpe_tokenize(bpe_session *s, const char *text, size_t len, tok_sink *out, uh_err *err)
{
    s->st.out = out;
    s->st.err = err;
    return pretok_split(s->st.v->pre, &s->scratch, text, len, bpe_piece, &s->st, err);
}

void bpe_end(bpe_session *s)
{
    if (!s) return;
    free(s->st.sym);
    free(s->st.slots);
    free(s->st.mapped);
    if (s->st.queue_ready) merge_queue_fini(&s->st.queue);
    pretok_scratch_fini(&s->scratch);
    free(s);
}
