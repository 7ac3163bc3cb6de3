/* router.h - where a generation request runs, and every attempt at running it: this node's
 * executor or one of the paired peers, retries before the first token, resume after it.
 *
 * Part one, the decision (router_route): pure logic over a snapshot (node.h). The caller passes
 * what it knows about this node (whether it can serve the model, its load) and the peers, and
 * gets an ordered candidate list: the first is the choice, the rest the failover order
 * (DESIGN.md section 4).
 *
 * Rules:
 *   - a peer is a candidate when it is online, paired, admitted by the ring and lists the model
 *     (names compare exactly; "name" and "name:latest" are the same model);
 *   - ring EXEC_RING_LOCAL admits peers of the owner's ring only (TRUST_RING_OWN),
 *     EXEC_RING_TRUSTED admits own and trusted peers. EXEC_RING_SWARM: there is no public swarm
 *     yet, so it behaves like EXEC_RING_TRUSTED;
 *   - load = (active + queued) / slots (slots 0 counts as 1);
 *   - this node comes first when it has the model and its load is no worse than the least
 *     loaded peer's; otherwise candidates go least loaded first, this node first among equals;
 *   - peers of equal load take turns: a counter in the router rotates each group of equals by
 *     one per decision (round robin).
 *
 * Part two, the attempts (router_prepare, router_go): plans the candidates for an exec request
 * (exec.h) with this node's model manager and the node's peer snapshot, then starts them in order
 * until one runs. A local attempt runs on the local executor (exec/local.h) and counts as running
 * once it is queued; a peer attempt (node_run_start) once its first event arrives. An attempt that
 * fails or a peer that is lost before that is replaced by the next candidate before the caller has
 * seen anything. A peer lost after it delivered tokens is replaced by the next candidate with
 * those tokens as resume tokens (and the fingerprint of the model file that made them), so the
 * caller's event stream continues where it broke; when no candidate is left the stream ends with
 * a DONE event of finish error ("no device could go on"), or cancelled after router_run_cancel.
 * Events of consecutive attempts never interleave: the next starts only after the previous one
 * ended.
 *
 * Threading: router_route, router_prepare and router_go may be called from any thread at once (the
 * counter is atomic). The sink runs on the attempt's thread (the model's scheduler or a node
 * connection thread) and must not block. Ownership: router_route does not allocate; candidates are
 * copied into the caller's array. A router borrows the model manager and the node (both outlive
 * it). A router_run is shared by the caller (until router_run_release) and its running attempt; the
 * request is copied. */
#ifndef UH_ROUTER_ROUTER_H
#define UH_ROUTER_ROUTER_H

#include <stdatomic.h>

#include "cluster/node.h"
#include "exec/exec.h"
#include "exec/models.h"
#include "unhosted.h"

typedef struct {
    int local; /* 1: this node; peer_id is "" */
    char peer_id[DEVICE_ID_STRLEN];
} router_candidate;

typedef struct {
    atomic_uint turn;    /* round-robin counter */
    exec_models *models; /* this node's models; NULL = none */
    node *node;          /* NULL = no cluster: everything runs here */
} router;

void router_init(router *r, exec_models *models, node *nd);

/* The candidates for model, best first, into out[0..cap); *n_out how many (0: nobody has the
 * model). local_has: this node can serve the model; local_load: its load (NULL = idle).
 * peers[0..n_peers) as node_peers returns them. Returns UH_OK, or UH_EINVAL for a bad argument. */
int router_route(router *r, const char *model, enum exec_ring ring, int local_has,
                 const node_load *local_load, const node_peer *peers, int n_peers,
                 router_candidate *out, int cap, int *n_out);

/* ---- attempts ---- */

#define ROUTER_MAX_CANDIDATES 16 /* devices one request may try */
#define ROUTER_SERVED_MAX     (DEVICE_ID_STRLEN + 8)

typedef struct router_run router_run;

/* Copies req and plans its candidates; nothing runs yet. *out: router_run_release. */
int router_prepare(router *rt, const exec_request *req, exec_sink sink, void *ud, router_run **out,
                   exec_fail *f);
/* Starts the candidates in order until one takes the request; blocks until one does (a local
 * attempt queued, or a peer's first event) or none is left. On success events go to the sink:
 * TOKEN events, then exactly one DONE (the first events may arrive before router_go returns).
 * On failure returns the last attempt's code with f filled (e.g. UH_ENOTFOUND field MODEL when
 * nobody has the model, UH_EBUSY when its queue or a peer's quota is full, UH_ECANCELLED after
 * router_run_cancel) and the sink is never called. Call once. */
int router_go(router_run *q, exec_fail *f);
/* Who answers: "local" or "peer:<device id>" (the attempt now delivering events). */
void router_run_served(router_run *q, char out[ROUTER_SERVED_MAX]);
/* Cancels the running attempt and starts no other; DONE (finish cancelled) follows. Any thread,
 * quick. */
void router_run_cancel(router_run *q);
/* Drops the caller's share. Accepts NULL. */
void router_run_release(router_run *q);

#endif
