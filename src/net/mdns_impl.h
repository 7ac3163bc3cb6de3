/* mdns_impl.h - internals of the mDNS module shared by the packet codec (mdns_pkt.c), the
 * responder/browser (mdns.c), the tests and the fuzzer: the packet builder and the text form
 * of names.
 *
 * Text form of a name: labels joined by '.', without the final dot. Inside a label '.' is
 * written "\." and '\' is written "\\"; bytes below 0x20 and 0x7f are written "\DDD" (three
 * decimal digits), so a name read from the network never carries control characters. Bytes
 * 0x80 and up (UTF-8) are kept as they are. Names compare without regard to ASCII case. */
#ifndef UH_NET_MDNS_IMPL_H
#define UH_NET_MDNS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <pthread.h>

#include "net/mdns.h"

#define MDNS_MAX_NAME      255 /* bytes of a name on the wire, length bytes included */
#define MDNS_MAX_LABELS    128
#define MDNS_MAX_LABEL     63
#define MDNS_MAX_COMPRESS  64     /* name offsets the builder remembers for compression */
#define MDNS_FLAG_RESPONSE 0x8400 /* QR + AA */
#define MDNS_CLASS_IN      1

enum { MDNS_SEC_QUESTION = 0, MDNS_SEC_ANSWER, MDNS_SEC_AUTHORITY, MDNS_SEC_ADDITIONAL };

/* Writes a DNS message into a caller-owned buffer. Sections must be filled in order
 * (questions, answers, authority, additional). Once a record does not fit, b->err is set and
 * every later call does nothing; mdns_build_end then fails. */
typedef struct {
    uint8_t *buf; /* borrowed, cap bytes */
    size_t cap, len;
    int section;
    uint16_t count[4];
    int err;
    int n_offs;
    uint16_t offs[MDNS_MAX_COMPRESS];
} mdns_builder;

/* Starts a message: 12-byte header with id and flags, no records yet. */
void mdns_build_init(mdns_builder *b, uint8_t *buf, size_t cap, uint16_t id, uint16_t flags);
/* Adds a question (name, type, klass; flag sets the unicast-response bit) or a record (also
 * ttl and the rdata fields of its type: A ip4, PTR target, SRV port + target, TXT txt as
 * '\n'-separated strings of at most 255 bytes each; other types get empty rdata) to the given
 * section, which must not come before the current one. Names are compressed against names
 * written earlier in the message when compress is set. 0, or a negative UH_E* code (also
 * kept in b->err) for a bad name, a section out of order or a full buffer. */
int mdns_build_add(mdns_builder *b, int section, const mdns_record *r, int compress);
/* Marks a point to go back to (with mdns_build_restore) when a later add does not fit, e.g.
 * known answers or additional records that are nice to have. */
typedef struct {
    size_t len;
    int section, n_offs;
    uint16_t count[4];
} mdns_build_mark;
void mdns_build_save(const mdns_builder *b, mdns_build_mark *m);
void mdns_build_restore(mdns_builder *b, const mdns_build_mark *m);
/* Fills in the section counts. Returns the message length, or b->err (negative). */
int mdns_build_end(mdns_builder *b);

/* Writes label (raw bytes, len <= 63) in text form into out (cap bytes, NUL-terminated).
 * UH_ELIMIT when it does not fit. */
int mdns_label_escape(const uint8_t *label, size_t len, char *out, size_t cap);
/* Reads the first label of a text-form name into raw bytes (out, 64 bytes, NUL-terminated
 * for convenience; *len its length) and returns the offset of the rest of the name (after
 * the dot, or at the NUL). Negative UH_EFORMAT for a bad escape or a label over 63 bytes. */
int mdns_label_unescape(const char *name, uint8_t out[64], size_t *len);
/* 1 when two text-form names are equal (ASCII case ignored), else 0. */
int mdns_name_eq(const char *a, const char *b);

/* ---- the running instance (mdns.c, browse table in mdns_browse.c) ---- */

#define MDNS_MAX_IFACES 16
#define MDNS_MAX_HOSTS  64

typedef struct {
    int index; /* ifindex; negative when the group could not be joined there */
    char name[16];
    uint8_t ip4[4];
} mdns_iface;

/* A service of another node, complete once PTR, SRV, TXT and the A of its host are known. */
typedef struct {
    int used, reported;
    char fullname[256]; /* text form, "<instance>._unhosted._tcp.local" */
    mdns_service svc;   /* svc.addr only valid when reported */
    mdns_service last;  /* what the callback was last told */
    uint16_t port;
    int64_t ptr_expire, srv_expire, txt_expire;    /* monotonic ms; 0 = not seen */
    int64_t ptr_refresh, srv_refresh, txt_refresh; /* when to ask again before expiry */
    int64_t ptr_ttl_ms;
    int64_t next_query; /* follow-up queries for missing records, backing off */
    int n_queries;
} mdns_entry;

typedef struct {
    char name[256];
    uint8_t ip4[4];
    int64_t expire, refresh; /* 0 expire = free slot */
} mdns_host;

struct mdns {
    /* ours (announcing = 0: browse only) */
    int announcing;
    char base_instance[64], instance[64];
    char fullname[256], host[64], txt[160];
    int port, n_renames, n_announce_left;
    int64_t next_announce;
    /* network */
    int fd, wake[2];
    mdns_iface ifs[MDNS_MAX_IFACES];
    int n_ifs;
    uint32_t sent_hash[32];
    int64_t sent_at[32];
    int sent_i;
    /* thread */
    pthread_t thread;
    int thread_started, mu_init, stop;
    pthread_mutex_t mu; /* guards svcs against mdns_list; only the thread writes them */
    /* browsing */
    mdns_entry *svcs; /* MDNS_MAX_SERVICES */
    mdns_host hosts[MDNS_MAX_HOSTS];
    int64_t next_browse, browse_interval;
    mdns_cb cb;
    void *ud;
    mdns_packet *pkt; /* scratch for parsing */
    /* offline (no socket): the last packet that would have been sent, and how */
    uint8_t offline_sent[1460];
    size_t offline_sent_len;
    int offline_unicast, n_offline_sent;
    uint8_t rx[9000];
};

/* 1 when the packet is one we sent in the last seconds (it came back through the loop). */
int mdns_is_own_packet(mdns *m, const uint8_t *p, size_t n);
/* Sends to the group on every joined interface. */
void mdns_send_all(mdns *m, const uint8_t *p, size_t n);

/* An instance without socket or thread (tests, fuzzer): one pretend interface, index 1,
 * address 192.0.2.1; packets it would send land in offline_sent. Free with mdns_stop. */
int mdns_offline_new(const mdns_config *cfg, mdns **out, uh_err *err);
/* Handles one received packet (src: its sender) that came in on interface ifindex: answers a
 * query, takes a response's records. */
void mdns_handle_packet(mdns *m, const uint8_t *p, size_t n, int ifindex,
                        const struct sockaddr_in *src);
/* Unsolicited response with all our records on every interface (goodbye: TTL 0). */
void mdns_announce(mdns *m, int goodbye);
void mdns_browse_init(mdns *m, int64_t now);
/* Takes the records of a response into the browse table; calls the callback for services
 * that appear or change. */
void mdns_browse_records(mdns *m, const mdns_packet *p, int64_t now);
/* Sends due queries, drops expired services; returns when it wants to run next. */
int64_t mdns_browse_tick(mdns *m, int64_t now);

#endif
