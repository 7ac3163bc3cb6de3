/* merge_queue.c - bucket queue of merge candidates (see merge_queue.h for the design). */
#include "text/merge_queue.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "unhosted_base.h"

int merge_queue_init(merge_queue *q, uint32_t n_classes)
{
    memset(q, 0, sizeof *q);
    q->n_classes = n_classes ? n_classes : 1;
    q->head = calloc(q->n_classes, sizeof *q->head);
    if (!q->head) goto nomem;
    size_t n_bits = q->n_classes;
    do {
        if (q->n_levels == MERGE_QUEUE_LEVELS) goto nomem; /* more classes than the tree holds */
        size_t words = (n_bits + 63) / 64;
        q->bits[q->n_levels] = calloc(words, sizeof(uint64_t));
        if (!q->bits[q->n_levels]) goto nomem;
        q->n_levels++;
        n_bits = words;
    } while (n_bits > 1);
    return 0;
nomem:
    merge_queue_fini(q);
    return UH_ENOMEM;
}

void merge_queue_fini(merge_queue *q)
{
    free(q->head);
    for (int i = 0; i < MERGE_QUEUE_LEVELS; i++) free(q->bits[i]);
    free(q->chunk);
    free(q->run);
    free(q->heap);
    memset(q, 0, sizeof *q);
}

void merge_queue_reset(merge_queue *q)
{
    q->n_chunk = 0;
    q->run_len = q->run_at = 0;
    q->n_heap = 0;
    q->have_cur = 0;
}

/* ---- the small heap: classes not above cur ---- */

static int heap_push(merge_queue *q, uint64_t key)
{
    if (buf_grow_array((void **)&q->heap, &q->heap_cap, q->n_heap + 1, sizeof *q->heap))
        return UH_ENOMEM;
    size_t i = q->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (q->heap[parent] <= key) break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = key;
    return 0;
}

static uint64_t heap_pop(merge_queue *q)
{
    uint64_t top = q->heap[0], last = q->heap[--q->n_heap];
    size_t i = 0, n = q->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && q->heap[c + 1] < q->heap[c]) c++;
        if (q->heap[c] >= last) break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (n > 0) q->heap[i] = last;
    return top;
}

/* ---- buckets ---- */

int merge_queue_push(merge_queue *q, uint32_t cls, uint32_t pos)
{
    if (q->have_cur && cls <= q->cur) return heap_push(q, (uint64_t)cls << 32 | pos);
    uint32_t h = q->head[cls];
    if (h == 0 || q->chunk[h - 1].n == MERGE_QUEUE_CHUNK) {
        if (q->n_chunk >= UINT32_MAX ||
            buf_grow_array((void **)&q->chunk, &q->chunk_cap, q->n_chunk + 1, sizeof *q->chunk))
            return UH_ENOMEM;
        if (h == 0) /* the bucket was empty: mark it on every level */
            for (int l = 0, k = (int)cls; l < q->n_levels; l++, k >>= 6)
                q->bits[l][k >> 6] |= (uint64_t)1 << (k & 63);
        q->chunk[q->n_chunk].next = h;
        q->chunk[q->n_chunk].n = 0;
        h = q->head[cls] = (uint32_t)++q->n_chunk;
    }
    merge_queue_chunk *c = &q->chunk[h - 1];
    c->pos[c->n++] = pos;
    return 0;
}

/* Smallest class with a non-empty bucket, or -1. */
static int64_t first_bucket(const merge_queue *q)
{
    size_t k = 0;
    for (int l = q->n_levels - 1; l >= 0; l--) {
        uint64_t w = q->bits[l][k];
        if (!w) return -1;
        k = k * 64 + (size_t)__builtin_ctzll(w);
    }
    return (int64_t)k;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Moves bucket cls into run, sorted by position, and empties it. */
static int drain(merge_queue *q, uint32_t cls)
{
    /* chunks come newest first: copy each one backwards, then turn the whole run around */
    size_t n = 0;
    for (uint32_t i = q->head[cls]; i; i = q->chunk[i - 1].next) {
        const merge_queue_chunk *c = &q->chunk[i - 1];
        if (buf_grow_array((void **)&q->run, &q->run_cap, n + c->n, sizeof *q->run))
            return UH_ENOMEM;
        for (uint32_t k = c->n; k > 0; k--) q->run[n++] = c->pos[k - 1];
    }
    /* entries usually arrive in position order, so the run mostly comes out sorted already */
    int sorted = 1;
    for (size_t a = 0, b = n ? n - 1 : 0; a < b; a++, b--) {
        uint32_t t = q->run[a];
        q->run[a] = q->run[b];
        q->run[b] = t;
    }
    for (size_t k = 1; k < n && sorted; k++)
        if (q->run[k - 1] > q->run[k]) sorted = 0;
    if (!sorted) qsort(q->run, n, sizeof *q->run, cmp_u32);
    q->run_len = n;
    q->run_at = 0;
    q->head[cls] = 0;
    for (int l = 0, k = (int)cls; l < q->n_levels; l++, k >>= 6) {
        q->bits[l][k >> 6] &= ~((uint64_t)1 << (k & 63));
        if (q->bits[l][k >> 6]) break; /* the word still has others: upper levels stay set */
    }
    q->cur = cls;
    q->have_cur = 1;
    return 0;
}

int merge_queue_pop(merge_queue *q, uint32_t *cls, uint32_t *pos)
{
    for (;;) {
        int have_run = q->run_at < q->run_len;
        if (have_run || q->n_heap > 0) {
            uint64_t r = have_run ? (uint64_t)q->cur << 32 | q->run[q->run_at] : UINT64_MAX;
            uint64_t key;
            if (q->n_heap > 0 && q->heap[0] < r) {
                key = heap_pop(q);
            } else {
                key = r;
                q->run_at++;
            }
            *cls = (uint32_t)(key >> 32);
            *pos = (uint32_t)key;
            return 1;
        }
        int64_t c = first_bucket(q);
        if (c < 0) return 0;
        int rc = drain(q, (uint32_t)c);
        if (rc) return rc;
    }
}
