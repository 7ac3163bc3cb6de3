/* router.h - where a generation request runs: this node or one of the paired peers.
 *
 * Pure decision logic over a snapshot (node.h): the caller passes what it knows about this node
 * (whether it can serve the model, its load) and the peers, and gets an ordered candidate list:
 * the first is the choice, the rest the failover order (DESIGN.md section 4).
 *
 * Rules:
 *   - a peer is a candidate when it is online, paired, admitted by the ring and lists the model
 *     (names compare exactly; "name" and "name:latest" are the same model);
 *   - ring ROUTER_LOCAL admits peers of the owner's ring only (TRUST_RING_OWN), ROUTER_TRUSTED
 *     admits own and trusted peers. ROUTER_SWARM: there is no public swarm yet, so it behaves
 *     like ROUTER_TRUSTED;
 *   - load = (active + queued) / slots (slots 0 counts as 1);
 *   - this node comes first when it has the model and its load is no worse than the least
 *     loaded peer's; otherwise candidates go least loaded first, this node first among equals;
 *   - peers of equal load take turns: a counter in the router rotates each group of equals by
 *     one per decision (round robin).
 *
 * Threading: router_route may be called from any thread at once (the counter is atomic).
 * Ownership: no allocation; candidates are copied into the caller's array. */
#ifndef UH_ROUTER_ROUTER_H
#define UH_ROUTER_ROUTER_H

#include <stdatomic.h>

#include "cluster/node.h"
#include "unhosted.h"

enum router_ring {
    ROUTER_LOCAL = 0,   /* this owner's devices only */
    ROUTER_TRUSTED = 1, /* the owner's and trusted friends' devices */
    ROUTER_SWARM = 2,   /* also the public swarm (not yet: same as trusted) */
};

/* "local", "trusted", "swarm"; parse returns UH_EINVAL for anything else (NULL included). */
const char *router_ring_name(enum router_ring r);
int router_ring_parse(const char *s, enum router_ring *out);

typedef struct {
    int local;                    /* 1: this node; peer_id is "" */
    char peer_id[DEVICE_ID_STRLEN];
} router_candidate;

typedef struct {
    atomic_uint turn; /* round-robin counter */
} router;

void router_init(router *r);

/* The candidates for model, best first, into out[0..cap); *n_out how many (0: nobody has the
 * model). local_has: this node can serve the model; local_load: its load (NULL = idle).
 * peers[0..n_peers) as node_peers returns them. Returns UH_OK, or UH_EINVAL for a bad argument. */
int router_route(router *r, const char *model, enum router_ring ring, int local_has,
                 const node_load *local_load, const node_peer *peers, int n_peers,
                 router_candidate *out, int cap, int *n_out);

#endif
