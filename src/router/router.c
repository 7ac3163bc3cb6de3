/* router.c - the routing decision (router.h): filter the peers, order by load, rotate ties. */
#include <stdlib.h>
#include <string.h>

#include "router/router.h"

void router_init(router *r, exec_models *models, node *nd)
{
    atomic_init(&r->turn, 0);
    r->models = models;
    r->node = nd;
}

/* a and b name the same model: equal, or equal once a ":latest" tag is dropped */
static int same_model(const char *a, const char *b)
{
    static const char tag[] = ":latest";
    const size_t tl = sizeof tag - 1;
    size_t la = strlen(a), lb = strlen(b);
    if (la > tl && !strcmp(a + la - tl, tag)) la -= tl;
    if (lb > tl && !strcmp(b + lb - tl, tag)) lb -= tl;
    return la == lb && !memcmp(a, b, la);
}

static int peer_has(const node_peer *p, const char *model)
{
    int n = p->load.n_models < NODE_MAX_MODELS ? p->load.n_models : NODE_MAX_MODELS;
    for (int i = 0; i < n; i++) {
        char name[NODE_MODEL_NAME_MAX];
        memcpy(name, p->load.models[i], sizeof name);
        name[sizeof name - 1] = 0; /* snapshots come from the network: never trust the NUL */
        if (same_model(name, model)) return 1;
    }
    return 0;
}

static int ring_admits(enum exec_ring ring, enum trust_ring peer)
{
    if (ring == EXEC_RING_LOCAL) return peer == TRUST_RING_OWN;
    return peer == TRUST_RING_OWN || peer == TRUST_RING_TRUSTED;
}

/* A load as a fraction busy/slots, compared by cross-multiplication (exact ties). */
typedef struct {
    long long busy, slots;
    int local;
    int peer; /* index in peers */
} entry;

static entry entry_of(const node_load *l, int local, int peer)
{
    entry e = {0, 1, local, peer};
    if (l) {
        e.busy = (long long)(l->active > 0 ? l->active : 0) + (l->queued > 0 ? l->queued : 0);
        e.slots = l->slots > 0 ? l->slots : 1;
    }
    return e;
}

static int cmp_load(const entry *a, const entry *b)
{
    long long x = a->busy * b->slots, y = b->busy * a->slots;
    return x < y ? -1 : x > y ? 1 : 0;
}

int router_route(router *r, const char *model, enum exec_ring ring, int local_has,
                 const node_load *local_load, const node_peer *peers, int n_peers,
                 router_candidate *out, int cap, int *n_out)
{
    *n_out = 0;
    if (!r || !model || cap < 0 || n_peers < 0 || (n_peers > 0 && !peers) || (cap > 0 && !out))
        return UH_EINVAL;
    const unsigned turn = atomic_fetch_add(&r->turn, 1);
    entry stackbuf[64];
    entry *es = n_peers + 1 <= 64 ? stackbuf : malloc(((size_t)n_peers + 1) * sizeof *es);
    if (!es) return UH_ENOMEM;
    int n = 0;
    if (local_has) es[n++] = entry_of(local_load, 1, -1);
    for (int i = 0; i < n_peers; i++) {
        const node_peer *p = &peers[i];
        if (p->online && p->paired && ring_admits(ring, p->ring) && peer_has(p, model))
            es[n++] = entry_of(&p->load, 0, i);
    }
    /* insertion sort by load, stable, this node first among equals (it is first already) */
    for (int i = 1; i < n; i++) {
        entry e = es[i];
        int j = i;
        while (j > 0 && cmp_load(&e, &es[j - 1]) < 0) {
            es[j] = es[j - 1];
            j--;
        }
        es[j] = e;
    }
    /* rotate each run of equally loaded peers by the counter */
    for (int i = 0; i < n;) {
        int start = i + (es[i].local ? 1 : 0), end = start;
        while (end < n && !es[end].local && cmp_load(&es[end], &es[i]) == 0) end++;
        const int len = end - start;
        if (len > 1) {
            entry rot[64];
            entry *tmp = len <= 64 ? rot : malloc((size_t)len * sizeof *tmp);
            if (tmp) {
                for (int k = 0; k < len; k++)
                    tmp[k] = es[start + (int)((turn + (unsigned)k) % (unsigned)len)];
                memcpy(es + start, tmp, (size_t)len * sizeof *tmp);
                if (tmp != rot) free(tmp);
            }
        }
        i = end > i ? end : i + 1;
    }
    for (int i = 0; i < n && *n_out < cap; i++) {
        router_candidate *c = &out[(*n_out)++];
        memset(c, 0, sizeof *c);
        c->local = es[i].local;
        if (!c->local) {
            memcpy(c->peer_id, peers[es[i].peer].id, sizeof c->peer_id);
            c->peer_id[sizeof c->peer_id - 1] = 0;
        }
    }
    if (es != stackbuf) free(es);
    return UH_OK;
}
