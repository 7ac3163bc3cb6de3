/* trust.h - the trust store: the devices this one has paired with, their ring, quota and
 * last-known addresses, and revocation.
 *
 * File: <config>/peers.json, written atomically (temp file + fsync + rename) under an exclusive
 * flock of <config>/peers.lock, mode 0600:
 *   {"version":1, "peers":[{"id": grouped device id, "sign_pk": base64 Ed25519 key,
 *     "name": "...", "ring": "own"|"trusted", "quota": tokens per day (0 = no limit),
 *     "addrs": ["IP:PORT", ...] (most recent first, at most TRUST_MAX_ADDRS),
 *     "paired_at": unix seconds, "last_seen": unix seconds}]}
 * A malformed file is an error naming it (never silently emptied). Several processes (the node
 * and CLI commands) may change it: every change re-reads the file under the lock first, so no
 * change is lost, and trust_refresh picks up changes made by others (a cheap stat of the file's
 * mtime, size and inode), so a running node sees a revocation at once.
 *
 * Ownership: trust_peer values are copies. Threading: all functions are thread-safe. */
#ifndef UH_CLUSTER_TRUST_H
#define UH_CLUSTER_TRUST_H

#include <stdint.h>

#include "cluster/identity.h"
#include "unhosted.h"

#define TRUST_MAX_ADDRS 4
#define TRUST_MAX_PEERS 1024
#define TRUST_ADDR_MAX  64

enum trust_ring { TRUST_RING_OWN = 0, TRUST_RING_TRUSTED = 1 };

typedef struct {
    char id[DEVICE_ID_STRLEN];
    uint8_t sign_pk[32];
    char name[IDENTITY_NAME_MAX];
    enum trust_ring ring;
    int64_t quota;     /* generated tokens per day this peer may use here; 0 = no limit */
    char addrs[TRUST_MAX_ADDRS][TRUST_ADDR_MAX];
    int n_addrs;
    int64_t paired_at; /* unix seconds */
    int64_t last_seen;
} trust_peer;

typedef struct trust_store trust_store;

/* "own" / "trusted"; parse returns UH_EINVAL for anything else. */
const char *trust_ring_name(enum trust_ring r);
int trust_ring_parse(const char *s, enum trust_ring *out);

/* Opens the store in dir (NULL = the config directory); a missing file is an empty store. */
int trust_open(const char *dir, trust_store **out, uh_err *err);
void trust_free(trust_store *t);
/* Re-reads the file if another process changed it. Returns 1 when it changed, 0 if not, <0 on
 * error (the previous contents stay in use). */
int trust_refresh(trust_store *t, uh_err *err);
/* UH_ENOTFOUND when id is not paired. id is a grouped device id. */
int trust_get(trust_store *t, const char *id, trust_peer *out);
/* Adds or replaces the peer with p->id. */
int trust_put(trust_store *t, const trust_peer *p, uh_err *err);
/* Removes it; UH_ENOTFOUND when not paired. */
int trust_remove(trust_store *t, const char *id, uh_err *err);
/* Records a working address (moves it to the front) and last_seen = now. No-op when not paired. */
int trust_seen(trust_store *t, const char *id, const char *addr, uh_err *err);
/* A malloc'd copy of every peer; the caller frees *out. */
int trust_list(trust_store *t, trust_peer **out, int *n, uh_err *err);
/* The paired peer whose id starts with prefix (dashes optional, any case): UH_ENOTFOUND for
 * none, UH_EINVAL (message says so) when several match. */
int trust_find(trust_store *t, const char *prefix, trust_peer *out, uh_err *err);

#endif
