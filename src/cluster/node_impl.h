/* node_impl.h - what the files of the node (node.c, node_health.c, node_run.c, node_pair.c,
 * node_join.c) share. Not for use outside src/cluster. */
#ifndef UH_CLUSTER_NODE_IMPL_H
#define UH_CLUSTER_NODE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cluster/node.h"
#include "cluster/wire.h"
#include "net/chan.h"
#include "net/mdns.h"

#define NODE_MAX_PEERS     256
#define NODE_MAX_PAIRINGS  32
#define NODE_MAX_PENDING   8   /* incoming pairings waiting for the user at once */
#define NODE_MAX_INVITES   16
#define NODE_MAX_CONNS     512
#define NODE_POOL          2   /* idle run channels kept per paired device ... */
#define NODE_POOL_MAX_MS   30000 /* ... for at most this long */
#define NODE_IDLE_MS       60000 /* a served channel silent this long is closed */
#define NODE_MAX_THREADS   600 /* connection threads and workers; past it new connections are closed */
#define NODE_PAIR_WAIT_S   300 /* a pairing waits this long for both users */
#define NODE_PAIR_KEEP_S   600 /* finished pairings stay listed this long */
#define NODE_LOCK_FAILURES 5   /* failed pairings within NODE_LOCK_WINDOW_S ... */
#define NODE_LOCK_WINDOW_S 600
#define NODE_LOCK_S        300 /* ... lock pairing for this long */
#define NODE_CONNECT_MS    2000
#define NODE_INVITE_TRIES  3

typedef struct {
    char id[DEVICE_ID_STRLEN];
    char name[IDENTITY_NAME_MAX];
    char mdns_addr[TRUST_ADDR_MAX];   /* announced on the local network */
    char manual_addr[TRUST_ADDR_MAX]; /* added by hand */
    char live_addr[TRUST_ADDR_MAX];   /* where its health channel is connected */
    int discovered;                   /* mDNS sees it now */
    int manual;
    int online;
    double rtt_ms;
    node_load load;
    int64_t last_seen;
    int worker;                       /* a health worker runs for it */
    chan *ctl;                        /* the worker's channel, for shutdown */
    chan *idle[NODE_POOL];            /* run channels kept open for the next run */
    int64_t idle_at[NODE_POOL];       /* when each was put there (monotonic ms) */
    int n_idle;
    int64_t quota_day;                /* day number of quota_used */
    int64_t quota_used;               /* tokens generated here for it that day */
} node_peer_state;

typedef struct {
    int used;
    node_pairing pub;
    chan *c;                 /* owned by the pairing's thread */
    enum trust_ring ring;    /* what this side gives the other */
    int64_t quota;
    uint8_t peer_sign_pk[32];
    int stored;
    int64_t deadline;        /* unix seconds */
} node_pair;

typedef struct {
    int used;
    char tag[8];             /* public part of the code: which invite */
    char secret[16];         /* the password part, canonical */
    enum trust_ring ring;
    int64_t quota;
    int64_t expires;
    int tries;
} node_invite_slot;

struct node {
    node_config cfg;
    char dir[4096];
    char listen_addr[TRUST_ADDR_MAX];
    identity *id;
    trust_store *trust;
    chan_config chcfg;
    chan_limiter *limiter;
    mdns *md;
    int listen_fd;
    int port;
    int wake[2];
    pthread_t accept_thr;
    int accept_running;
    pthread_t manager_thr;
    int manager_running;

    pthread_mutex_t mu;
    pthread_cond_t cond;     /* threads ending, stop */
    int stopping;
    int n_threads;           /* detached threads still running */
    node_peer_state peers[NODE_MAX_PEERS];
    int n_peers;
    node_pair pairs[NODE_MAX_PAIRINGS];
    node_invite_slot invites[NODE_MAX_INVITES];
    int64_t fail_times[NODE_LOCK_FAILURES];
    int n_fail;
    int64_t locked_until;
    struct {
        chan *c;
        char id[DEVICE_ID_STRLEN];
    } conns[NODE_MAX_CONNS];
};

/* ---- node.c ---- */
/* This node's models and load (from the model manager). */
void node_load_now(node *n, node_load *l);
/* Starts a detached thread counted in n_threads. */
int node_spawn(node *n, void *(*fn)(void *), void *arg);
/* The running thread is done (call last). */
void node_thread_done(node *n);
/* Under mu: the state of peer id, created when create is set (NULL when full / not found). */
node_peer_state *node_peer_locked(node *n, const char *id, int create);
/* Sends REFUSED {code, why} (best effort: the channel is closed next anyway). */
void node_refuse(chan *c, int code, const char *why);
/* Registers a live channel (for shutdown at stop or revocation); returns the slot or -1. */
int node_conn_add(node *n, chan *c, const char *id);
void node_conn_remove(node *n, int slot);
/* Connects to addr with purpose, checks the handshake's identity; when want_id is not NULL the
 * other side must be that device. Fills peer_id and peer_pk. */
int node_dial(node *n, const char *addr, enum chan_purpose purpose, const char *want_id,
              chan **out, char peer_id[DEVICE_ID_STRLEN], uint8_t peer_pk[32], uh_err *err);
/* Addresses to try for a device, best first: live, mDNS, manual, last-known. Returns count. */
int node_addrs_for(node *n, const char *id, char out[][TRUST_ADDR_MAX], int max);
/* Quota check and accounting for a peer's runs on this node. */
int node_quota_left(node *n, const char *id);
void node_quota_add(node *n, const char *id, int tokens);
/* Keeps an idle run channel to device id (1), or refuses (0: full, not paired, stopping). */
int node_pool_put(node *n, const char *id, chan *c);
/* An idle run channel to device id that still looks usable, or NULL. */
chan *node_pool_get(node *n, const char *id);
/* Under mu: closes the idle channels of p. */
void node_pool_drop_locked(node_peer_state *p);

/* ---- node_health.c ---- */
/* Follows the trust store: a health worker per paired device, channels of unpaired ones
 * closed. Runs until the node stops. */
void *node_manager_thread(void *p);

/* ---- node_run.c ---- */
/* Serves a RUN message on a connect channel (blocks until the run is done). Returns 1 when the
 * channel is in step for another run, 0 when it must be closed. */
int node_serve_run(node *n, chan *c, const char *peer_id, const cJSON *msg);

/* ---- node_pair.c ---- */
/* Serves an incoming pair channel (takes the channel over). */
void node_serve_pair(node *n, chan *c, const char *peer_id, const uint8_t peer_pk[32]);
/* 1 when pairing is locked out now (message filled). */
int node_pair_locked(node *n, char *msg, size_t cap);
void node_pair_failed(node *n);
/* Stores a paired device in the trust store. Does not take mu (callers may hold it). */
int node_store_peer(node *n, const char *id, const uint8_t pk[32], const char *name,
                    enum trust_ring ring, int64_t quota, const char *addr, uh_err *err);
/* Receives one message of type want within 10 s; REFUSED and others become errors. */
cJSON *node_expect(chan *c, enum wire_type want, uh_err *err);
/* "IP:PORT" with the port replaced; "" when port is 0. */
void node_addr_with_port(const char *addr, int port, char *out, size_t cap);

/* ---- node_join.c ---- */
/* Serves an incoming join channel (takes the channel over). */
void node_serve_join(node *n, chan *c, const char *peer_id, const uint8_t peer_pk[32]);

#endif
