/* mdns.h - DNS-SD over multicast DNS (RFC 6762/6763) for finding other nodes on the local
 * network: announce this node's service, answer queries for it, browse for others, say goodbye
 * on shutdown. IPv4 (224.0.0.251:5353) on every suitable interface (up, multicast, not
 * loopback unless asked for, with an IPv4 address).
 *
 * Service: PTR _unhosted._tcp.local -> "<instance>._unhosted._tcp.local"; SRV (priority 0,
 * weight 0, port, target "<host>.local"); TXT "txtvers=1" "id=<device id>" "proto=1" (nothing
 * else in cleartext); A records of the host on each interface. Announced on start (twice, 1 s
 * apart), re-announced when asked, answered on query (to the multicast group, or unicast when
 * the question asks for it or comes from a port other than 5353), goodbye (TTL 0) on stop.
 * Browsing: queries at start and then with growing intervals (1 s, 2 s, 4 s, ... 60 s), and
 * collects answers, including unsolicited announcements and those of other responders such as
 * Avahi; a service whose TTL runs out or that says goodbye is dropped.
 *
 * Packet parsing (mdns_parse) is bounded: name compression pointers must point backwards, at
 * most 128 labels and 255 bytes per name, every count and length checked against the packet.
 * Results are hints only: the Noise handshake proves who is at an address.
 *
 * Threading: one thread of its own; callbacks run on it and must be quick. mdns_list may be
 * called from any thread. Ownership: mdns_service values are copies. */
#ifndef UH_NET_MDNS_H
#define UH_NET_MDNS_H

#include <stddef.h>
#include <stdint.h>

#include "unhosted.h"

#define MDNS_SERVICE      "_unhosted._tcp.local"
#define MDNS_PORT         5353
#define MDNS_MAX_SERVICES 256

typedef struct {
    char instance[64];   /* the instance label (unescaped) */
    char device_id[64];  /* TXT id=..., as sent (check it with device_id_parse) */
    int proto;           /* TXT proto=..., 0 when absent */
    char host[256];      /* SRV target */
    char addr[48];       /* "IP:PORT" to connect to (A record + SRV port) */
    int64_t last_seen_ms; /* monotonic ms */
} mdns_service;

/* fn is called when a service appears or changes (gone = 0) and when it leaves (gone = 1). */
typedef void (*mdns_cb)(void *ud, const mdns_service *svc, int gone);

typedef struct {
    const char *instance;  /* our instance label; NULL = do not announce (browse only) */
    const char *device_id; /* for our TXT record */
    int port;              /* our peer port for the SRV record */
    const char *ifname;    /* only this interface; NULL = every suitable one */
    int loopback;          /* 1: also use loopback interfaces (tests) */
    mdns_cb cb;            /* may be NULL */
    void *ud;
} mdns_config;

typedef struct mdns mdns;

/* Binds 0.0.0.0:5353 (SO_REUSEADDR/SO_REUSEPORT, so another responder such as Avahi may share
 * it), joins the group on each interface, announces and starts browsing. An error names the
 * cause (no interface, bind failed). */
int mdns_start(const mdns_config *cfg, mdns **out, uh_err *err);
/* A malloc'd copy of the services seen (excluding our own), freshest first. */
int mdns_list(mdns *m, mdns_service **out, int *n);
/* Goodbye packets, then stops the thread and frees. Accepts NULL. */
void mdns_stop(mdns *m);

/* ---- packets (exposed for tests and the fuzzer) ---- */

#define MDNS_MAX_RECORDS 64

enum { MDNS_TYPE_A = 1, MDNS_TYPE_PTR = 12, MDNS_TYPE_TXT = 16, MDNS_TYPE_AAAA = 28,
       MDNS_TYPE_SRV = 33, MDNS_TYPE_ANY = 255 };

typedef struct {
    char name[256];   /* dotted, without the final dot; labels with '.' or '\' escaped */
    uint16_t type;
    uint16_t klass;   /* without the cache-flush / unicast-response bit */
    int flag;         /* that top bit */
    uint32_t ttl;     /* records only */
    /* rdata, decoded by type */
    char target[256]; /* PTR target, SRV target */
    uint16_t port;    /* SRV */
    uint8_t ip4[4];   /* A */
    char txt[512];    /* TXT strings joined with '\n' */
} mdns_record;

typedef struct {
    uint16_t id, flags;
    int n_questions, n_records; /* answers + authority + additional, in order */
    mdns_record questions[MDNS_MAX_RECORDS];
    mdns_record records[MDNS_MAX_RECORDS];
} mdns_packet;

/* UH_EFORMAT with a message for anything malformed; records past MDNS_MAX_RECORDS are skipped. */
int mdns_parse(const uint8_t *pkt, size_t len, mdns_packet *out, uh_err *err);

#endif
