/* test_mdns.c - the mDNS packet codec (round trips, compression, escaped instance names,
 * malformed packets), the responder's answers and the browser's table, driven offline (no
 * socket; packets in and out by hand), and that a live instance stops quickly. The live
 * exchange across hosts, and with Avahi, is tests/cli_avahi.sh. */
#include <arpa/inet.h>
#include <time.h>

#include "base/clock.h"
#include "check.h"
#include "net/mdns_impl.h"

static mdns_packet g_pkt;

static void rec(mdns_record *r, const char *name, int type, uint32_t ttl)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->type = (uint16_t)type;
    r->klass = MDNS_CLASS_IN;
    r->ttl = ttl;
}

/* An announcement of "<instance>" on host "<host>.local" at 10.0.0.<ip>:port with TXT id. */
static int build_announce(uint8_t *buf, size_t cap, const char *inst_esc, const char *host, int ip,
                          int port, const char *id, uint32_t ttl, int compress)
{
    mdns_builder b;
    mdns_record r;
    char full[256];
    snprintf(full, sizeof full, "%s.%s", inst_esc, MDNS_SERVICE);
    mdns_build_init(&b, buf, cap, 0, MDNS_FLAG_RESPONSE);
    rec(&r, MDNS_SERVICE, MDNS_TYPE_PTR, ttl);
    snprintf(r.target, sizeof r.target, "%s", full);
    mdns_build_add(&b, MDNS_SEC_ANSWER, &r, compress);
    rec(&r, full, MDNS_TYPE_SRV, ttl);
    r.flag = 1;
    r.port = (uint16_t)port;
    snprintf(r.target, sizeof r.target, "%s", host);
    mdns_build_add(&b, MDNS_SEC_ANSWER, &r, compress);
    rec(&r, full, MDNS_TYPE_TXT, ttl);
    snprintf(r.txt, sizeof r.txt, "txtvers=1\nid=%s\nproto=1", id);
    mdns_build_add(&b, MDNS_SEC_ADDITIONAL, &r, compress);
    rec(&r, host, MDNS_TYPE_A, ttl);
    memcpy(r.ip4, (uint8_t[4]){10, 0, 0, (uint8_t)ip}, 4);
    mdns_build_add(&b, MDNS_SEC_ADDITIONAL, &r, compress);
    return mdns_build_end(&b);
}

/* ---- codec ---- */

static void test_roundtrip_all_types(void)
{
    uint8_t buf[1500], buf2[1500];
    int n =
        build_announce(buf, sizeof buf, "our node\\.test", "h1.local", 7, 7778, "ABC-DEF", 120, 1);
    int n2 = build_announce(buf2, sizeof buf2, "our node\\.test", "h1.local", 7, 7778, "ABC-DEF",
                            120, 0);
    CHECK(n > 12 && n2 > n); /* compression makes it smaller */
    uh_err err = {0};
    for (int pass = 0; pass < 2; pass++) {
        CHECK(mdns_parse(pass ? buf2 : buf, (size_t)(pass ? n2 : n), &g_pkt, &err) == 0);
        CHECK(g_pkt.flags == MDNS_FLAG_RESPONSE && g_pkt.n_questions == 0 && g_pkt.n_records == 4);
        const mdns_record *r = g_pkt.records;
        CHECK(r[0].type == MDNS_TYPE_PTR && strcmp(r[0].name, "_unhosted._tcp.local") == 0);
        CHECK(strcmp(r[0].target, "our node\\.test._unhosted._tcp.local") == 0 && r[0].ttl == 120);
        CHECK(r[1].type == MDNS_TYPE_SRV && r[1].port == 7778 && r[1].flag == 1 && r[1].klass == 1);
        CHECK(strcmp(r[1].target, "h1.local") == 0);
        CHECK(r[2].type == MDNS_TYPE_TXT &&
              strcmp(r[2].txt, "txtvers=1\nid=ABC-DEF\nproto=1") == 0);
        CHECK(r[3].type == MDNS_TYPE_A && memcmp(r[3].ip4, (uint8_t[4]){10, 0, 0, 7}, 4) == 0);
    }
}

static void test_question_and_unicast_bit(void)
{
    uint8_t buf[512];
    mdns_builder b;
    mdns_record q;
    rec(&q, MDNS_SERVICE, MDNS_TYPE_PTR, 0);
    q.flag = 1;
    mdns_build_init(&b, buf, sizeof buf, 0x1234, 0);
    CHECK(mdns_build_add(&b, MDNS_SEC_QUESTION, &q, 1) == 0);
    rec(&q, "x.local", MDNS_TYPE_A, 0);
    CHECK(mdns_build_add(&b, MDNS_SEC_QUESTION, &q, 1) == 0);
    int n = mdns_build_end(&b);
    CHECK(mdns_parse(buf, (size_t)n, &g_pkt, NULL) == 0);
    CHECK(g_pkt.id == 0x1234 && g_pkt.n_questions == 2 && g_pkt.n_records == 0);
    CHECK(g_pkt.questions[0].flag == 1 && g_pkt.questions[0].klass == 1);
    CHECK(g_pkt.questions[1].type == MDNS_TYPE_A && g_pkt.questions[1].flag == 0);
    /* sections must come in order */
    rec(&q, "x.local", MDNS_TYPE_A, 1);
    mdns_build_init(&b, buf, sizeof buf, 0, 0);
    CHECK(mdns_build_add(&b, MDNS_SEC_ADDITIONAL, &q, 1) == 0);
    CHECK(mdns_build_add(&b, MDNS_SEC_ANSWER, &q, 1) == UH_EINVAL);
    CHECK(mdns_build_end(&b) == UH_EINVAL);
    /* a full buffer fails, and a saved mark undoes it */
    mdns_build_mark mk;
    mdns_build_init(&b, buf, 40, 0, 0);
    CHECK(mdns_build_add(&b, MDNS_SEC_ANSWER, &q, 1) == 0);
    mdns_build_save(&b, &mk);
    rec(&q, "a-rather-long-label-that-will-not-fit.local", MDNS_TYPE_A, 1);
    CHECK(mdns_build_add(&b, MDNS_SEC_ANSWER, &q, 1) == UH_ELIMIT);
    mdns_build_restore(&b, &mk);
    n = mdns_build_end(&b);
    CHECK(n > 0 && mdns_parse(buf, (size_t)n, &g_pkt, NULL) == 0 && g_pkt.n_records == 1);
}

static void test_label_escapes(void)
{
    const uint8_t raw[] = {'a', '.', 'b', '\\', ' ', 1, 0x7f, 0xc3, 0xa9};
    char text[64];
    CHECK(mdns_label_escape(raw, sizeof raw, text, sizeof text) == 0);
    CHECK(strcmp(text, "a\\.b\\\\ \\001\\127\xc3\xa9") == 0);
    uint8_t back[64];
    size_t l = 0;
    CHECK(mdns_label_unescape(text, back, &l) == (int)strlen(text));
    CHECK(l == sizeof raw && memcmp(back, raw, l) == 0);
    CHECK(mdns_label_unescape("x\\", back, &l) == UH_EFORMAT);
    CHECK(mdns_label_unescape("x\\25", back, &l) == UH_EFORMAT);
    CHECK(mdns_label_unescape("\\999", back, &l) == UH_EFORMAT);
    CHECK(mdns_label_escape(raw, sizeof raw, text, 5) == UH_ELIMIT);
    CHECK(mdns_name_eq("Friend\\.Box._unhosted._TCP.local", "friend\\.box._unhosted._tcp.LOCAL"));
    CHECK(!mdns_name_eq("a.local", "a.local.x"));
    /* a dotted instance survives the wire as one label */
    uint8_t buf[512];
    int n = build_announce(buf, sizeof buf, "a\\.b\\\\c", "h.local", 1, 1, "x", 1, 1);
    CHECK(n > 0 && mdns_parse(buf, (size_t)n, &g_pkt, NULL) == 0);
    CHECK(strcmp(g_pkt.records[0].target, "a\\.b\\\\c._unhosted._tcp.local") == 0);
}

static void test_record_cap(void)
{
    uint8_t buf[4096];
    mdns_builder b;
    mdns_record r;
    mdns_build_init(&b, buf, sizeof buf, 0, MDNS_FLAG_RESPONSE);
    for (int i = 0; i < MDNS_MAX_RECORDS + 6; i++) {
        rec(&r, "h.local", i % 2 ? MDNS_TYPE_A : 47 /* NSEC: skipped */, 1);
        CHECK(mdns_build_add(&b, MDNS_SEC_ANSWER, &r, 1) == 0);
    }
    int n = mdns_build_end(&b);
    CHECK(mdns_parse(buf, (size_t)n, &g_pkt, NULL) == 0);
    CHECK(g_pkt.n_records == (MDNS_MAX_RECORDS + 6) / 2);
    mdns_build_init(&b, buf, sizeof buf, 0, MDNS_FLAG_RESPONSE);
    for (int i = 0; i < MDNS_MAX_RECORDS + 6; i++) {
        rec(&r, "h.local", MDNS_TYPE_A, 1);
        mdns_build_add(&b, MDNS_SEC_ANSWER, &r, 1);
    }
    n = mdns_build_end(&b);
    CHECK(mdns_parse(buf, (size_t)n, &g_pkt, NULL) == 0 && g_pkt.n_records == MDNS_MAX_RECORDS);
}

/* ---- malformed packets ---- */

static void test_truncated_every_byte(void)
{
    uint8_t buf[1500];
    int n = build_announce(buf, sizeof buf, "friend box", "h.local", 9, 1, "ID", 60, 1);
    for (int cut = 0; cut < n; cut++) {
        uh_err err = {0};
        int rc = mdns_parse(buf, (size_t)cut, &g_pkt, &err);
        CHECKF(rc == UH_EFORMAT && err.msg[0], "cut at %d: rc %d", cut, rc);
    }
}

/* A response header with one answer, then body; returns the length. */
static size_t one_answer(uint8_t *buf, const uint8_t *body, size_t body_len)
{
    const uint8_t hdr[12] = {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    memcpy(buf, hdr, 12);
    memcpy(buf + 12, body, body_len);
    return 12 + body_len;
}

static int parse_body(const uint8_t *body, size_t len)
{
    uint8_t buf[2048];
    uh_err err = {0};
    int rc = mdns_parse(buf, one_answer(buf, body, len), &g_pkt, &err);
    if (rc) CHECK(err.msg[0] != 0);
    return rc;
}

static void test_bad_names(void)
{
    const uint8_t tail[10] = {0, 28, 0, 1, 0, 0, 0, 1, 0, 0}; /* AAAA IN ttl 1, no rdata: fine */
    uint8_t body[600];
    /* pointer to itself */
    memcpy(body, (uint8_t[]){0xc0, 12}, 2);
    memcpy(body + 2, tail, 10);
    CHECK(parse_body(body, 12) == UH_EFORMAT);
    /* label, then a pointer back to that label: a loop */
    memcpy(body, (uint8_t[]){1, 'a', 0xc0, 12}, 4);
    memcpy(body + 4, tail, 10);
    CHECK(parse_body(body, 14) == UH_EFORMAT);
    /* forward pointer */
    memcpy(body, (uint8_t[]){0xc0, 20, 0, 0, 0, 0, 0, 0, 1, 'a', 0}, 11);
    CHECK(parse_body(body, 11) == UH_EFORMAT);
    /* pointer past the end */
    memcpy(body, (uint8_t[]){0xff, 0xff}, 2);
    memcpy(body + 2, tail, 10);
    CHECK(parse_body(body, 12) == UH_EFORMAT);
    /* label of 64 (0x40: reserved label type) and 0x80 */
    body[0] = 64;
    memset(body + 1, 'x', 64);
    body[65] = 0;
    memcpy(body + 66, tail, 10);
    CHECK(parse_body(body, 76) == UH_EFORMAT);
    body[0] = 0x80;
    CHECK(parse_body(body, 76) == UH_EFORMAT);
    /* name of 5 x 63-byte labels: over 255 bytes */
    size_t o = 0;
    for (int i = 0; i < 5; i++) {
        body[o++] = 63;
        memset(body + o, 'y', 63);
        o += 63;
    }
    body[o++] = 0;
    memcpy(body + o, tail, 10);
    CHECK(parse_body(body, o + 10) == UH_EFORMAT);
    /* 4 x 63 bytes is 257 with the final zero: still too long; 3 x 63 + 61 fits exactly */
    o = 0;
    for (int i = 0; i < 4; i++) {
        body[o] = i < 3 ? 63 : 61;
        memset(body + o + 1, 'z', body[o]);
        o += 1u + body[o];
    }
    body[o++] = 0;
    memcpy(body + o, tail, 10);
    CHECK(o == 255 && parse_body(body, o + 10) == 0 && strlen(g_pkt.records[0].name) == 253);
    /* 128 one-byte labels fit, as text that is too long for 256 bytes: refused, not cut */
    o = 0;
    for (int i = 0; i < 127; i++) body[o++] = 1, body[o++] = '.';
    body[o++] = 0;
    memcpy(body + o, tail, 10);
    CHECK(parse_body(body, o + 10) == UH_EFORMAT);
}

static void test_bad_counts_and_rdata(void)
{
    uint8_t buf[64];
    const uint8_t a_rec[] = {1, 'h', 0, 0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 10, 0, 0, 1};
    size_t n = one_answer(buf, a_rec, sizeof a_rec);
    CHECK(mdns_parse(buf, n, &g_pkt, NULL) == 0 && g_pkt.n_records == 1);
    CHECK(strcmp(g_pkt.records[0].name, "h") == 0 && g_pkt.records[0].ttl == 9);
    buf[7] = 2; /* two answers, one present */
    CHECK(mdns_parse(buf, n, &g_pkt, NULL) == UH_EFORMAT);
    buf[6] = 0xff, buf[7] = 0xff;
    CHECK(mdns_parse(buf, n, &g_pkt, NULL) == UH_EFORMAT);
    buf[6] = 0, buf[7] = 1;
    buf[4] = 0x10; /* 4096 questions */
    CHECK(mdns_parse(buf, n, &g_pkt, NULL) == UH_EFORMAT);
    buf[4] = 0;
    buf[12 + 12] = 5; /* rdlength past the end */
    CHECK(mdns_parse(buf, n, &g_pkt, NULL) == UH_EFORMAT);
    buf[12 + 12] = 3; /* A of 3 bytes, 1 trailing */
    CHECK(mdns_parse(buf, n, &g_pkt, NULL) == UH_EFORMAT);
    /* SRV whose target runs past its rdata, PTR with trailing bytes, TXT string past rdata */
    const uint8_t srv[] = {1, 'h', 0, 0, 33, 0, 1,  0, 0,   0,   9,   0,
                           8, 0,   0, 0, 0,  0, 80, 3, 'a', 'b', 'c', 0};
    CHECK(parse_body(srv, sizeof srv) == UH_EFORMAT);
    const uint8_t ptr[] = {1, 'h', 0, 0, 12, 0, 1, 0, 0, 0, 9, 0, 4, 1, 'a', 0, 7};
    CHECK(parse_body(ptr, sizeof ptr) == UH_EFORMAT);
    const uint8_t txt[] = {1, 'h', 0, 0, 16, 0, 1, 0, 0, 0, 9, 0, 3, 5, 'a', 'b'};
    CHECK(parse_body(txt, sizeof txt) == UH_EFORMAT);
    const uint8_t txt_nl[] = {1, 'h', 0, 0, 16, 0, 1, 0, 0, 0, 9, 0, 4, 3, 'a', '\n', 'b'};
    CHECK(parse_body(txt_nl, sizeof txt_nl) == UH_EFORMAT);
    /* AAAA kept without data; unknown types skipped */
    const uint8_t aaaa[] = {1, 'h', 0, 0, 28, 0, 1, 0, 0, 0, 9, 0, 2, 1, 2};
    CHECK(parse_body(aaaa, sizeof aaaa) == 0 && g_pkt.n_records == 1 &&
          g_pkt.records[0].type == 28);
    CHECK(mdns_parse(buf, 11, &g_pkt, NULL) == UH_EFORMAT);
    CHECK(mdns_parse(NULL, 0, &g_pkt, NULL) == UH_EFORMAT);
}

/* ---- responder, offline ---- */

static mdns *new_node(const char *instance, mdns_cb cb, void *ud)
{
    mdns_config cfg = {
        .instance = instance, .device_id = "QWERTYU-ASDF", .port = 7778, .cb = cb, .ud = ud};
    mdns *m = NULL;
    uh_err err = {0};
    CHECKF(mdns_offline_new(&cfg, &m, &err) == 0, "%s", err.msg);
    return m;
}

static int query(mdns *m, const char *name, int type, int port, const mdns_record *known)
{
    uint8_t buf[512];
    mdns_builder b;
    mdns_record q;
    rec(&q, name, type, 0);
    mdns_build_init(&b, buf, sizeof buf, 0x4242, 0);
    mdns_build_add(&b, MDNS_SEC_QUESTION, &q, 1);
    if (known) mdns_build_add(&b, MDNS_SEC_ANSWER, known, 1);
    int n = mdns_build_end(&b);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int before = m->n_offline_sent;
    mdns_handle_packet(m, buf, (size_t)n, 1, &src);
    if (m->n_offline_sent == before) return 0;
    CHECK(mdns_parse(m->offline_sent, m->offline_sent_len, &g_pkt, NULL) == 0);
    return 1;
}

static void test_answers_ptr_with_additionals(void)
{
    mdns *m = new_node("my box", NULL, NULL);
    if (!m) return;
    CHECK(query(m, "_unhosted._TCP.local", MDNS_TYPE_PTR, 5353, NULL) == 1);
    CHECK(!m->offline_unicast && g_pkt.id == 0 && g_pkt.n_questions == 0 && g_pkt.n_records == 4);
    const mdns_record *r = g_pkt.records;
    CHECK(r[0].type == MDNS_TYPE_PTR && strcmp(r[0].target, "my box._unhosted._tcp.local") == 0);
    CHECK(r[1].type == MDNS_TYPE_SRV && r[1].port == 7778 &&
          strcmp(r[1].target, "unhosted-qwertyu.local") == 0);
    CHECK(r[2].type == MDNS_TYPE_TXT &&
          strcmp(r[2].txt, "txtvers=1\nid=QWERTYU-ASDF\nproto=1") == 0);
    CHECK(r[3].type == MDNS_TYPE_A && memcmp(r[3].ip4, (uint8_t[4]){192, 0, 2, 1}, 4) == 0);
    CHECK(r[3].flag == 1 && r[0].flag == 0);
    /* the querier already knows the PTR: no answer */
    mdns_record k;
    rec(&k, MDNS_SERVICE, MDNS_TYPE_PTR, 4000);
    snprintf(k.target, sizeof k.target, "my box._unhosted._tcp.local");
    CHECK(query(m, MDNS_SERVICE, MDNS_TYPE_PTR, 5353, &k) == 0);
    k.ttl = 100; /* less than half the TTL left: answered */
    CHECK(query(m, MDNS_SERVICE, MDNS_TYPE_PTR, 5353, &k) == 1);
    /* SRV, TXT, A of ours; nothing for other names */
    CHECK(query(m, "My Box._unhosted._tcp.local", MDNS_TYPE_SRV, 5353, NULL) == 1);
    CHECK(g_pkt.records[0].type == MDNS_TYPE_SRV &&
          g_pkt.records[g_pkt.n_records - 1].type == MDNS_TYPE_A);
    CHECK(query(m, "unhosted-qwertyu.local", MDNS_TYPE_A, 5353, NULL) == 1 && g_pkt.n_records == 1);
    CHECK(query(m, "other._unhosted._tcp.local", MDNS_TYPE_SRV, 5353, NULL) == 0);
    CHECK(query(m, "_http._tcp.local", MDNS_TYPE_PTR, 5353, NULL) == 0);
    CHECK(query(m, "_services._dns-sd._udp.local", MDNS_TYPE_PTR, 5353, NULL) == 1);
    CHECK(strcmp(g_pkt.records[0].target, MDNS_SERVICE) == 0);
    /* legacy unicast: id and question echoed, TTL at most 10 s, no cache-flush bit */
    CHECK(query(m, MDNS_SERVICE, MDNS_TYPE_PTR, 40000, NULL) == 1);
    CHECK(m->offline_unicast && g_pkt.id == 0x4242 && g_pkt.n_questions == 1);
    for (int i = 0; i < g_pkt.n_records; i++)
        CHECK(g_pkt.records[i].ttl <= 10 && !g_pkt.records[i].flag);
    /* goodbye: every record with TTL 0 */
    mdns_announce(m, 1);
    CHECK(mdns_parse(m->offline_sent, m->offline_sent_len, &g_pkt, NULL) == 0 &&
          g_pkt.n_records == 4);
    for (int i = 0; i < g_pkt.n_records; i++) CHECK(g_pkt.records[i].ttl == 0);
    mdns_stop(m);
}

static void test_conflict_renames(void)
{
    mdns *m = new_node("my box", NULL, NULL);
    if (!m) return;
    uint8_t buf[1500];
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(5353)};
    /* the same records (our own, e.g. through another interface): no conflict */
    int n = build_announce(buf, sizeof buf, "my box", "unhosted-qwertyu.local", 1, 7778,
                           "QWERTYU-ASDF", 120, 1);
    mdns_handle_packet(m, buf, (size_t)n, 1, &src);
    CHECK(strcmp(m->instance, "my box") == 0);
    n = build_announce(buf, sizeof buf, "my box", "elsewhere.local", 1, 9, "OTHER", 120, 1);
    mdns_handle_packet(m, buf, (size_t)n, 1, &src);
    CHECK(strcmp(m->instance, "my box (2)") == 0);
    CHECK(strcmp(m->fullname, "my box (2)._unhosted._tcp.local") == 0 && m->n_announce_left == 2);
    mdns_stop(m);
}

/* ---- browser, offline ---- */

typedef struct {
    int n_up, n_gone;
    mdns_service last;
} events;

static void on_event(void *ud, const mdns_service *s, int gone)
{
    events *e = ud;
    if (gone)
        e->n_gone++;
    else
        e->n_up++;
    e->last = *s;
}

static void feed(mdns *m, const uint8_t *buf, int n, int64_t now)
{
    CHECK(n > 0 && mdns_parse(buf, (size_t)n, &g_pkt, NULL) == 0);
    mdns_browse_records(m, &g_pkt, now);
}

static void test_browse_separate_packets(void)
{
    events ev = {0};
    mdns *m = new_node("me", on_event, &ev);
    if (!m) return;
    uint8_t full[1500], part[512];
    int n = build_announce(full, sizeof full, "friend box", "fb.local", 5, 7778, "ID-ONE", 120, 0);
    CHECK(n > 0 && mdns_parse(full, (size_t)n, &g_pkt, NULL) == 0);
    mdns_packet *all = malloc(sizeof *all);
    memcpy(all, &g_pkt, sizeof *all);
    int64_t t = 100000;
    /* PTR alone: known, not yet reported; a follow-up asks for SRV and TXT */
    mdns_builder b;
    mdns_build_init(&b, part, sizeof part, 0, MDNS_FLAG_RESPONSE);
    mdns_build_add(&b, MDNS_SEC_ANSWER, &all->records[0], 1);
    feed(m, part, mdns_build_end(&b), t);
    CHECK(ev.n_up == 0);
    mdns_browse_tick(m, t + 30);
    CHECK(mdns_parse(m->offline_sent, m->offline_sent_len, &g_pkt, NULL) == 0);
    CHECK(g_pkt.n_questions == 2 && g_pkt.questions[0].type == MDNS_TYPE_SRV &&
          g_pkt.questions[1].type == MDNS_TYPE_TXT);
    /* A before SRV is not kept (nobody needs it yet); then SRV + TXT; then A */
    for (int k = 3; k >= 1; k -= 2) {
        mdns_build_init(&b, part, sizeof part, 0, MDNS_FLAG_RESPONSE);
        mdns_build_add(&b, MDNS_SEC_ANSWER, &all->records[k], 1);
        if (k == 1) mdns_build_add(&b, MDNS_SEC_ANSWER, &all->records[2], 1);
        feed(m, part, mdns_build_end(&b), t + 40);
    }
    CHECK(ev.n_up == 0);
    mdns_browse_tick(m, t + 2000);
    CHECK(mdns_parse(m->offline_sent, m->offline_sent_len, &g_pkt, NULL) == 0);
    CHECK(g_pkt.n_questions == 1 && g_pkt.questions[0].type == MDNS_TYPE_A &&
          strcmp(g_pkt.questions[0].name, "fb.local") == 0);
    mdns_build_init(&b, part, sizeof part, 0, MDNS_FLAG_RESPONSE);
    mdns_build_add(&b, MDNS_SEC_ANSWER, &all->records[3], 1);
    feed(m, part, mdns_build_end(&b), t + 2010);
    CHECK(ev.n_up == 1 && strcmp(ev.last.instance, "friend box") == 0);
    CHECK(strcmp(ev.last.addr, "10.0.0.5:7778") == 0 && strcmp(ev.last.device_id, "ID-ONE") == 0);
    CHECK(ev.last.proto == 1 && strcmp(ev.last.host, "fb.local") == 0);
    /* the same again: no event; a new id: a change */
    feed(m, full, n, t + 3000);
    CHECK(ev.n_up == 1);
    n = build_announce(full, sizeof full, "friend box", "fb.local", 5, 7778, "ID-TWO", 120, 1);
    feed(m, full, n, t + 3000);
    CHECK(ev.n_up == 2 && strcmp(ev.last.device_id, "ID-TWO") == 0);
    mdns_service *list = NULL;
    int k = 0;
    CHECK(mdns_list(m, &list, &k) == 0 && k == 1 && strcmp(list[0].addr, "10.0.0.5:7778") == 0);
    free(list);
    /* goodbye: gone one second later */
    n = build_announce(full, sizeof full, "friend box", "fb.local", 5, 7778, "ID-TWO", 0, 1);
    feed(m, full, n, t + 4000);
    mdns_browse_tick(m, t + 4500);
    CHECK(ev.n_gone == 0);
    mdns_browse_tick(m, t + 5001);
    CHECK(ev.n_gone == 1 && strcmp(ev.last.instance, "friend box") == 0);
    CHECK(mdns_list(m, &list, &k) == 0 && k == 0);
    free(list);
    free(all);
    mdns_stop(m);
}

static void test_browse_ttl_expiry_and_self(void)
{
    events ev = {0};
    mdns *m = new_node("me", on_event, &ev);
    if (!m) return;
    uint8_t buf[1500];
    int n = build_announce(buf, sizeof buf, "short", "s.local", 6, 1, "S", 3, 1);
    feed(m, buf, n, 0 + 1000);
    CHECK(ev.n_up == 1);
    int64_t next = mdns_browse_tick(m, 1000 + 2500); /* past 80%: asked again */
    CHECK(next <= 1000 + 3000);
    mdns_browse_tick(m, 1000 + 3000);
    CHECK(ev.n_gone == 1);
    /* our own announcement is never listed */
    n = build_announce(buf, sizeof buf, "me", "unhosted-qwertyu.local", 1, 7778, "QWERTYU-ASDF",
                       120, 1);
    feed(m, buf, n, 5000);
    mdns_service *list = NULL;
    int k = -1;
    CHECK(ev.n_up == 1 && mdns_list(m, &list, &k) == 0 && k == 0);
    free(list);
    /* a service with a malformed id keeps an empty one */
    n = build_announce(buf, sizeof buf, "odd", "o.local", 8, 2, "bad id;", 120, 1);
    feed(m, buf, n, 6000);
    CHECK(ev.n_up == 2 && ev.last.device_id[0] == 0);
    mdns_stop(m);
}

/* ---- live ---- */

static void test_live_stop_is_quick(void)
{
    mdns_config cfg = {
        .instance = "stop test", .device_id = "STOPTST", .port = 1, .ifname = "lo", .loopback = 1};
    mdns *m = NULL;
    uh_err err = {0};
    if (mdns_start(&cfg, &m, &err) != 0) {
        printf("  (no multicast on lo here: %s)\n", err.msg);
        return;
    }
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int64_t t0 = clock_mono_ms();
    mdns_stop(m);
    int64_t dt = clock_mono_ms() - t0;
    CHECKF(dt < 100, "stop took %lld ms", (long long)dt);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(test_roundtrip_all_types);
    T_RUN(test_question_and_unicast_bit);
    T_RUN(test_label_escapes);
    T_RUN(test_record_cap);
    T_RUN(test_truncated_every_byte);
    T_RUN(test_bad_names);
    T_RUN(test_bad_counts_and_rdata);
    T_RUN(test_answers_ptr_with_additionals);
    T_RUN(test_conflict_renames);
    T_RUN(test_browse_separate_packets);
    T_RUN(test_browse_ttl_expiry_and_self);
    T_RUN(test_live_stop_is_quick);
    return t_exit();
}
