/* merge_queue.h - the priority queue of candidate pairs for long runs of BPE and SentencePiece
 * merging (internal to text/).
 *
 * Entries are (class, pos) and come out smallest class first, then smallest pos - the order a
 * binary heap keyed by class << 32 | pos gives, and the same entries. A class is a merge rank
 * (BPE) or the rank of a token score (SentencePiece); pos is the left symbol of the pair.
 *
 * Why not one heap: a run of a million symbols makes a heap of a million entries, far larger
 * than the caches, and every pop walks ten levels of cache misses. Here each class has a bucket
 * (a list of positions), a bitmap tree over the classes finds the smallest non-empty bucket,
 * and that bucket is drained into a sorted array that is then read front to back. Entries of a
 * class not above the one being drained (a vocab whose merges do not come in rank order, equal
 * scores) go to a small heap beside it, so the order stays exact for any input; for vocabs
 * whose merges only ever create pairs of a later class that heap stays empty and a push or pop
 * costs O(1).
 *
 * Ownership: the queue owns its arrays; init allocates only what does not depend on the run. */
#ifndef UH_TEXT_MERGE_QUEUE_H
#define UH_TEXT_MERGE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define MERGE_QUEUE_LEVELS 4 /* bitmap tree depth: up to 64^4 = 16M classes */

/* A bucket is a list of chunks, newest first; a chunk is one cache line, so draining a bucket
 * costs a cache miss per 14 entries rather than per entry. */
#define MERGE_QUEUE_CHUNK 14
typedef struct {
    uint32_t next; /* chunk index + 1 of the older chunk, 0 = none */
    uint32_t n;    /* positions used */
    uint32_t pos[MERGE_QUEUE_CHUNK];
} merge_queue_chunk;

typedef struct {
    uint32_t n_classes;
    uint32_t *head;                     /* [n_classes] newest chunk index + 1, 0 = empty */
    uint64_t *bits[MERGE_QUEUE_LEVELS]; /* level 0: one bit per class; level k+1: per word */
    int n_levels;
    merge_queue_chunk *chunk; /* bucket entries, all buckets together */
    size_t n_chunk, chunk_cap;
    uint32_t *run; /* positions of the drained class, sorted; read from run_at */
    size_t run_len, run_at, run_cap;
    uint64_t *heap; /* class << 32 | pos, min-heap: entries of classes <= cur */
    size_t n_heap, heap_cap;
    uint32_t cur; /* class last drained; buckets hold only larger ones */
    int have_cur;
} merge_queue;

/* Sets the queue up for classes 0..n_classes-1. Returns 0 or UH_ENOMEM. */
int merge_queue_init(merge_queue *q, uint32_t n_classes);
void merge_queue_fini(merge_queue *q);

/* Starts a new run; the queue must be empty (popped until merge_queue_pop returned 0). */
void merge_queue_reset(merge_queue *q);

/* Queues (cls, pos); cls < n_classes. Returns 0 or UH_ENOMEM. */
int merge_queue_push(merge_queue *q, uint32_t cls, uint32_t pos);

/* Takes the smallest entry into *cls, *pos and returns 1; returns 0 when empty, or UH_ENOMEM
 * (negative) when draining a bucket needed memory it could not get. */
int merge_queue_pop(merge_queue *q, uint32_t *cls, uint32_t *pos);

/* Position of the entry `ahead` places behind the next one in the run being drained, or
 * UINT32_MAX: a hint for prefetching what the coming merges will touch (heap entries that may
 * come first are not seen). */
static inline uint32_t merge_queue_upcoming(const merge_queue *q, size_t ahead)
{
    return q->run_at + ahead < q->run_len ? q->run[q->run_at + ahead] : UINT32_MAX;
}

#endif
