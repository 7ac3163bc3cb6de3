/* node.h - this node's place in the cluster: its identity, the peer listener (Noise channels,
 * chan.h), discovery (mDNS + manual + last-known addresses), pairing, the trust store, health
 * checks of paired peers, and remote runs (this node asking a paired peer to generate, and
 * serving such requests from peers).
 *
 * Access (decided after every handshake from the peer's device id, trust.h):
 *   purpose connect: paired peers only; anyone else gets MSG_REFUSED "not paired" and the
 *                    connection is closed. A paired peer may run requests within its quota.
 *   purpose pair:    anyone, unless pairing is locked out (too many failures).
 *   purpose join:    anyone holding a live invite (checked by CPace).
 *
 * Wire messages on a connect channel: see docs/cluster.md (one JSON object per message, types
 * in cluster/wire.h).
 *
 * Remote runs: a peer's RUN carries a serialized exec request (exec.h), which this node executes
 * with its local executor (exec/local.h) on the models of node_config.models; events go back as
 * TOKEN/DONE messages.
 *
 * Threading: one accept thread, one thread per peer connection, one health thread. Every
 * function here is thread-safe. The run event callback runs on a connection thread and must not
 * block for long.
 * Ownership: the node borrows the model manager (it must outlive the node). */
#ifndef UH_CLUSTER_NODE_H
#define UH_CLUSTER_NODE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cluster/identity.h"
#include "cluster/trust.h"
#include "exec/exec.h"
#include "exec/models.h"
#include "unhosted.h"

#define NODE_DEFAULT_PEER_PORT 7778
#define NODE_DEFAULT_PEER_LISTEN "0.0.0.0:7778"
#define NODE_MAX_MODELS 64
#define NODE_MODEL_NAME_MAX 256
#define NODE_DOWN_AFTER_MS 3000 /* a paired peer silent this long is down */
#define NODE_PING_MS 1000

typedef struct node node;

/* This node's models and load, as health answers carry them. */
typedef struct {
    int n_models;
    char models[NODE_MAX_MODELS][NODE_MODEL_NAME_MAX];
    int active;  /* requests generating now */
    int slots;   /* requests it can generate at once */
    int queued;  /* waiting for a slot */
} node_load;

typedef struct {
    const char *dir;          /* config dir for identity and trust store; NULL = default */
    const char *peer_listen;  /* "HOST:PORT"; NULL = NODE_DEFAULT_PEER_LISTEN; "off" = none */
    int mdns;                 /* 1: announce and browse on the local network */
    const char *mdns_ifname;  /* only this interface; NULL = all suitable */
    exec_models *models;      /* what peers' run requests execute on (exec/local.h); NULL = no
                               * models here: runs are refused */
} node_config;

int node_start(const node_config *cfg, node **out, uh_err *err);
/* Says goodbye on mDNS, closes every connection (runs in flight get an error), joins threads,
 * frees. Accepts NULL. */
void node_stop(node *n);

const identity *node_identity(const node *n);
/* The bound peer port (real one when asked for port 0); 0 when off. */
int node_peer_port(const node *n);

/* ---- peers ---- */

typedef struct {
    char id[DEVICE_ID_STRLEN];
    char name[IDENTITY_NAME_MAX];
    char addr[TRUST_ADDR_MAX]; /* best known address, "" if none */
    int paired;                /* in the trust store */
    int discovered;            /* seen on the local network (mDNS) or added by hand */
    enum trust_ring ring;      /* when paired */
    int64_t quota;             /* when paired */
    int online;                /* paired and answering health checks */
    double rtt_ms;             /* last health-check round trip; 0 when unknown */
    node_load load;            /* from its last health answer */
    int64_t last_seen;         /* unix seconds */
} node_peer;

/* A malloc'd snapshot of paired and discovered peers (paired first). */
int node_peers(node *n, node_peer **out, int *count, uh_err *err);
/* Adds an address to try ("HOST:PORT"): it is contacted (pair handshake without pairing, just
 * to learn the device id) and appears as discovered. *id_out (may be NULL) gets its id. */
int node_peer_add(node *n, const char *addr, char id_out[DEVICE_ID_STRLEN], uh_err *err);
/* Removes a paired peer (trust store) and closes its connections. */
int node_revoke(node *n, const char *id_prefix, uh_err *err);

/* ---- pairing (same network) ----
 * Outgoing: node_pair_start connects to the device (id prefix of a discovered/added device, or
 * "HOST:PORT"), runs the pair handshake and commit/reveal, and the pairing then waits for both
 * users. Incoming requests appear in node_pairings as well. Each pairing has a short id
 * (8 hex characters) and a state. The user's decision is node_pair_decide: accept (with the
 * ring and quota this device gives the other; and optionally the code read on the other
 * screen: a different code rejects) or reject. */

enum node_pair_state {
    PAIR_CONNECTING = 0, /* handshake and code exchange under way */
    PAIR_WAITING = 1,    /* code shown; waiting for one or both users */
    PAIR_DONE = 2,       /* both confirmed: stored in the trust store */
    PAIR_REJECTED = 3,   /* a user rejected, or codes differed */
    PAIR_FAILED = 4,     /* connection, protocol or timeout error (see message) */
};

typedef struct {
    char pid[16];              /* pairing id */
    int incoming;              /* 1: the other device asked */
    enum node_pair_state state;
    char code[8];              /* 6 digits once known, else "" */
    char peer_id[DEVICE_ID_STRLEN];
    char peer_name[IDENTITY_NAME_MAX];
    char peer_addr[TRUST_ADDR_MAX];
    int local_ok;              /* this side's user confirmed */
    int remote_ok;             /* the other side's user confirmed */
    char message[128];         /* why it was rejected / failed */
    int64_t created;           /* unix seconds */
} node_pairing;

const char *node_pair_state_name(enum node_pair_state s);
int node_pair_start(node *n, const char *target, enum trust_ring ring, int64_t quota,
                    char pid_out[16], uh_err *err);
/* A malloc'd list of pairings (pending first; finished ones are kept for 10 minutes). */
int node_pairings(node *n, node_pairing **out, int *count, uh_err *err);
int node_pairing_get(node *n, const char *pid, node_pairing *out);
/* code may be NULL. ring/quota only matter for incoming pairings (outgoing ones fixed them at
 * start). UH_ENOTFOUND for an unknown pid, UH_EINVAL when it is not waiting. */
int node_pair_decide(node *n, const char *pid, int accept, const char *code,
                     enum trust_ring ring, int64_t quota, uh_err *err);

/* ---- pairing at a distance ---- */

/* A one-time invite valid for ttl_s seconds: *code_out is "HOST:PORT/XXXX-XXXX-XXXX-XXXX"
 * (the address other devices can reach this node at, then the secret). The friend is stored
 * with ring and quota when they join. */
int node_invite(node *n, enum trust_ring ring, int64_t quota, int ttl_s, char code_out[128],
                uh_err *err);
/* Joins with a code from another node's invite: CPace inside a join channel; on success both
 * sides store each other (this side with ring TRUSTED and the given quota). id_out: the
 * inviter's device id. */
int node_join(node *n, const char *code, int64_t quota, char id_out[DEVICE_ID_STRLEN],
              uh_err *err);

/* ---- remote runs (client side) ---- */

typedef struct node_run node_run;

/* Called for each event of a remote run: ev is a TOKEN or DONE event (exec.h) and lost NULL;
 * or, once, ev NULL and lost saying why the run ended without DONE: the peer refused it
 * (lost->code is the peer's UH_E* code, e.g. UH_EBUSY over quota, UH_ENOTFOUND no such model,
 * UH_ECONFLICT another model file), the connection broke (UH_EIO), or the peer went silent, no
 * event or keep-alive for NODE_DOWN_AFTER_MS (UH_ETIMEDOUT). After DONE or lost, no more
 * calls. */
typedef void (*node_run_cb)(void *ud, const exec_event *ev, const exec_fail *lost);

/* Sends r to paired peer id (its best address) as a RUN message; events arrive on a thread of
 * the node. UH_ENOTFOUND when not paired, UH_EIO when it cannot be reached (no callback then). */
int node_run_start(node *n, const char *peer_id, const exec_request *r, node_run_cb cb, void *ud,
                   node_run **out, uh_err *err);
/* The fingerprint of the model file the peer runs it on ("" until its first token). */
void node_run_fingerprint(node_run *r, char out[EXEC_FP_LEN]);
/* Asks the peer to stop (the DONE event with finish cancelled follows, or lost). */
void node_run_cancel(node_run *r);
/* Drops the caller's reference; after the final callback the run frees itself. */
void node_run_release(node_run *r);

#endif
