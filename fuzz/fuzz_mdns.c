/* fuzz_mdns.c - libFuzzer harness for what the mDNS module takes from the network: the DNS
 * message parser (mdns_parse) and the responder/browser's handling of a parsed packet
 * (answering queries, the browse table, expiry).
 *
 * Input: byte 0 picks the sender's port (bit 0: 5353 or a legacy unicast port) and how far the
 * clock moves before the browse tick (bits 1-7, in seconds); the rest is one UDP payload.
 * Invariants of the parser's output are checked with __builtin_trap.
 *
 * Corpus: fuzz/corpus/mdns (packets captured from Avahi and unhosted on a test bridge),
 * fuzz/regress/mdns (past crashes, replayed by tests/fuzz.sh). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/mdns_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static mdns_packet g_pkt;
static mdns *g_node;
static int64_t g_now = 1000000;

static void check_name(const char *s)
{
    size_t n = strnlen(s, 256);
    REQUIRE(n < 256);
    for (size_t i = 0; i < n; i++) REQUIRE((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void check_packet(const mdns_packet *p)
{
    REQUIRE(p->n_questions >= 0 && p->n_questions <= MDNS_MAX_RECORDS);
    REQUIRE(p->n_records >= 0 && p->n_records <= MDNS_MAX_RECORDS);
    for (int i = 0; i < p->n_questions; i++) check_name(p->questions[i].name);
    for (int i = 0; i < p->n_records; i++) {
        const mdns_record *r = &p->records[i];
        check_name(r->name);
        check_name(r->target);
        REQUIRE(strnlen(r->txt, 512) < 512);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!g_node) {
        mdns_config cfg = {.instance = "fuzz node", .device_id = "ABCDEFG-HIJ", .port = 7778};
        if (mdns_offline_new(&cfg, &g_node, NULL) != 0) abort();
    }
    uint8_t ctl = data[0];
    data++, size--;
    if (mdns_parse(data, size, &g_pkt, NULL) == 0) check_packet(&g_pkt);

    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(ctl & 1 ? 40000 : 5353)};
    src.sin_addr.s_addr = htonl(0xc0000202); /* 192.0.2.2 */
    mdns_handle_packet(g_node, data, size, 1, &src);
    g_now += (int64_t)(ctl >> 1) * 1000;
    mdns_browse_records(g_node, &g_pkt, g_now);
    mdns_browse_tick(g_node, g_now);
    mdns_service *list = NULL;
    int n = 0;
    if (mdns_list(g_node, &list, &n) == 0) {
        REQUIRE(n >= 0 && n <= MDNS_MAX_SERVICES);
        for (int i = 0; i < n; i++)
            REQUIRE(strnlen(list[i].addr, sizeof list[i].addr) < sizeof list[i].addr);
    }
    free(list);
    return 0;
}
