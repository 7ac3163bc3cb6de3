/* mdns_browse.c - the DNS-SD browser: a table of other nodes' services built from the records
 * of any response (answers to our queries, unsolicited announcements, answers to others).
 *
 * A service enters on a PTR _unhosted._tcp.local record, learns its port and host from SRV,
 * its device id from TXT and its address from the A record of the host; records may come in
 * any order and in separate packets, and what is missing is asked for (SRV, TXT, A questions,
 * after 1 s, 2 s, 4 s, ... 16 s). Each record lives for its TTL; a goodbye (TTL 0) leaves one
 * second (RFC 6762 section 10.1). Before a PTR, SRV or TXT runs out it is asked for again at
 * 80%, 90%, ... of its lifetime. A service goes when its PTR, SRV or TXT runs out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/mdns_impl.h"

#define QUERY_CAP 1460

static mdns_entry *find_entry(mdns *m, const char *fullname)
{
    for (int i = 0; i < MDNS_MAX_SERVICES; i++)
        if (m->svcs[i].used && mdns_name_eq(m->svcs[i].fullname, fullname)) return &m->svcs[i];
    return NULL;
}

static mdns_host *find_host(mdns *m, const char *name)
{
    for (int i = 0; i < MDNS_MAX_HOSTS; i++)
        if (m->hosts[i].expire && mdns_name_eq(m->hosts[i].name, name)) return &m->hosts[i];
    return NULL;
}

/* The instance label of "<instance>._unhosted._tcp.local" (raw bytes), or -1. */
static int instance_of(const char *fullname, char out[64])
{
    size_t l;
    int rest = mdns_label_unescape(fullname, (uint8_t *)out, &l);
    if (rest <= 0 || l == 0 || !mdns_name_eq(fullname + rest, MDNS_SERVICE)) return -1;
    return memchr(out, 0, l) ? -1 : 0; /* a NUL inside would cut the C string */
}

/* Next time to ask again: half-way between now and expiry, at least 1 s before it. */
static int64_t next_refresh(int64_t now, int64_t expire)
{
    int64_t t = now + (expire - now) / 2;
    return expire - t < 1000 ? expire : t;
}

static void take_txt(mdns_entry *e, const char *txt)
{
    e->svc.device_id[0] = 0;
    e->svc.proto = 0;
    for (const char *s = txt; *s;) {
        const char *nl = strchr(s, '\n');
        size_t l = nl ? (size_t)(nl - s) : strlen(s);
        if (l > 3 && l - 3 < sizeof e->svc.device_id && memcmp(s, "id=", 3) == 0) {
            int ok = 1; /* a device id is base32 in groups: anything else is dropped */
            for (size_t i = 3; i < l; i++)
                ok &= (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
            if (ok) {
                memcpy(e->svc.device_id, s + 3, l - 3);
                e->svc.device_id[l - 3] = 0;
            }
        } else if (l > 6 && l < 14 && memcmp(s, "proto=", 6) == 0) {
            int v = 0, ok = 1;
            for (size_t i = 6; i < l; i++) {
                ok &= s[i] >= '0' && s[i] <= '9';
                if (ok) v = v * 10 + (s[i] - '0');
            }
            if (ok) e->svc.proto = v;
        }
        s += l + (nl ? 1 : 0);
    }
}

static void take_host(mdns *m, const mdns_record *r, int64_t now)
{
    int wanted = 0;
    for (int i = 0; i < MDNS_MAX_SERVICES && !wanted; i++)
        wanted =
            m->svcs[i].used && m->svcs[i].srv_expire && mdns_name_eq(m->svcs[i].svc.host, r->name);
    if (!wanted) return; /* A records of hosts without our service are none of our business */
    mdns_host *h = find_host(m, r->name);
    if (!h) {
        mdns_host *oldest = &m->hosts[0];
        for (int i = 0; i < MDNS_MAX_HOSTS && !h; i++) {
            if (!m->hosts[i].expire)
                h = &m->hosts[i];
            else if (m->hosts[i].expire < oldest->expire)
                oldest = &m->hosts[i];
        }
        if (!h) h = oldest;
        snprintf(h->name, sizeof h->name, "%s", r->name);
    }
    if (r->ttl == 0) {
        h->expire = h->refresh = now + 1000;
        return;
    }
    memcpy(h->ip4, r->ip4, 4);
    h->expire = now + (int64_t)r->ttl * 1000;
    h->refresh = now + (int64_t)r->ttl * 800;
}

/* Reports e when it became complete or changed. Called on the thread. */
static void notify(mdns *m, mdns_entry *e)
{
    mdns_host *h = e->srv_expire ? find_host(m, e->svc.host) : NULL;
    if (!e->ptr_expire || !e->srv_expire || !e->txt_expire || !h) return;
    pthread_mutex_lock(&m->mu);
    snprintf(e->svc.addr, sizeof e->svc.addr, "%u.%u.%u.%u:%u", h->ip4[0], h->ip4[1], h->ip4[2],
             h->ip4[3], e->port);
    int changed = !e->reported || strcmp(e->last.addr, e->svc.addr) != 0 ||
                  strcmp(e->last.device_id, e->svc.device_id) != 0 ||
                  e->last.proto != e->svc.proto || strcmp(e->last.host, e->svc.host) != 0;
    e->reported = 1;
    e->n_queries = 0;
    e->last = e->svc;
    mdns_service copy = e->svc;
    pthread_mutex_unlock(&m->mu);
    if (!changed) return;
    log_info("mdns_found", "instance=\"%s\" id=%s addr=%s", copy.instance, copy.device_id,
             copy.addr);
    if (m->cb) m->cb(m->ud, &copy, 0);
}

static void take_ptr(mdns *m, const mdns_record *r, int64_t now)
{
    char instance[64];
    if (!mdns_name_eq(r->name, MDNS_SERVICE) || instance_of(r->target, instance) != 0) return;
    if (m->announcing && mdns_name_eq(r->target, m->fullname)) return; /* ourselves */
    mdns_entry *e = find_entry(m, r->target);
    if (r->ttl == 0) {
        if (e) e->ptr_expire = e->ptr_refresh = now + 1000;
        return;
    }
    if (!e) {
        for (int i = 0; i < MDNS_MAX_SERVICES && !e; i++)
            if (!m->svcs[i].used) e = &m->svcs[i];
        if (!e) {
            log_debug("mdns_table_full", "instance=\"%s\"", instance);
            return;
        }
        pthread_mutex_lock(&m->mu);
        memset(e, 0, sizeof *e);
        e->used = 1;
        snprintf(e->fullname, sizeof e->fullname, "%s", r->target);
        snprintf(e->svc.instance, sizeof e->svc.instance, "%s", instance);
        e->next_query = now + 20; /* give the rest of an announcement a moment to arrive */
        pthread_mutex_unlock(&m->mu);
    }
    pthread_mutex_lock(&m->mu);
    e->ptr_ttl_ms = (int64_t)r->ttl * 1000;
    e->ptr_expire = now + e->ptr_ttl_ms;
    e->ptr_refresh = now + (int64_t)r->ttl * 800;
    e->svc.last_seen_ms = now;
    pthread_mutex_unlock(&m->mu);
}

void mdns_browse_records(mdns *m, const mdns_packet *p, int64_t now)
{
    for (int i = 0; i < p->n_records; i++)
        if (p->records[i].type == MDNS_TYPE_PTR) take_ptr(m, &p->records[i], now);
    for (int i = 0; i < p->n_records; i++) {
        const mdns_record *r = &p->records[i];
        if (r->type != MDNS_TYPE_SRV && r->type != MDNS_TYPE_TXT) continue;
        mdns_entry *e = find_entry(m, r->name);
        if (!e) continue;
        int64_t expire = r->ttl ? now + (int64_t)r->ttl * 1000 : now + 1000;
        int64_t refresh = r->ttl ? now + (int64_t)r->ttl * 800 : expire;
        pthread_mutex_lock(&m->mu);
        if (r->type == MDNS_TYPE_SRV) {
            if (r->ttl) {
                e->port = r->port;
                snprintf(e->svc.host, sizeof e->svc.host, "%s", r->target);
            }
            e->srv_expire = expire, e->srv_refresh = refresh;
        } else {
            if (r->ttl) take_txt(e, r->txt);
            e->txt_expire = expire, e->txt_refresh = refresh;
        }
        e->svc.last_seen_ms = now;
        pthread_mutex_unlock(&m->mu);
    }
    for (int i = 0; i < p->n_records; i++)
        if (p->records[i].type == MDNS_TYPE_A) take_host(m, &p->records[i], now);
    for (int i = 0; i < MDNS_MAX_SERVICES; i++)
        if (m->svcs[i].used) notify(m, &m->svcs[i]);
}

/* ---- queries ---- */

static void send_browse(mdns *m, int64_t now)
{
    uint8_t buf[QUERY_CAP];
    mdns_builder b;
    mdns_record r;
    mdns_build_init(&b, buf, sizeof buf, 0, 0);
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "%s", MDNS_SERVICE);
    r.type = MDNS_TYPE_PTR;
    r.klass = MDNS_CLASS_IN;
    mdns_build_add(&b, MDNS_SEC_QUESTION, &r, 1);
    /* known answers: services with more than half their PTR lifetime left need not answer */
    for (int i = 0; i < MDNS_MAX_SERVICES; i++) {
        const mdns_entry *e = &m->svcs[i];
        if (!e->used || e->ptr_expire - now <= e->ptr_ttl_ms / 2) continue;
        mdns_build_mark mk;
        mdns_build_save(&b, &mk);
        r.ttl = (uint32_t)((e->ptr_expire - now) / 1000);
        snprintf(r.target, sizeof r.target, "%s", e->fullname);
        if (mdns_build_add(&b, MDNS_SEC_ANSWER, &r, 1) != 0) {
            mdns_build_restore(&b, &mk);
            break;
        }
    }
    int n = mdns_build_end(&b);
    if (n > 0) mdns_send_all(m, buf, (size_t)n);
}

/* Asks for what e lacks or what is about to run out. 1 when something was asked. */
static int follow_up(mdns *m, mdns_entry *e, int64_t now)
{
    uint8_t buf[QUERY_CAP];
    mdns_builder b;
    mdns_record q;
    mdns_build_init(&b, buf, sizeof buf, 0, 0);
    memset(&q, 0, sizeof q);
    q.klass = MDNS_CLASS_IN;
    int n_q = 0;
    snprintf(q.name, sizeof q.name, "%s", e->fullname);
    if (!e->srv_expire || e->srv_refresh <= now) {
        q.type = MDNS_TYPE_SRV;
        n_q += mdns_build_add(&b, MDNS_SEC_QUESTION, &q, 1) == 0;
        if (e->srv_expire) e->srv_refresh = next_refresh(now, e->srv_expire);
    }
    if (!e->txt_expire || e->txt_refresh <= now) {
        q.type = MDNS_TYPE_TXT;
        n_q += mdns_build_add(&b, MDNS_SEC_QUESTION, &q, 1) == 0;
        if (e->txt_expire) e->txt_refresh = next_refresh(now, e->txt_expire);
    }
    if (e->srv_expire && e->svc.host[0]) {
        mdns_host *h = find_host(m, e->svc.host);
        if (!h || h->refresh <= now) {
            snprintf(q.name, sizeof q.name, "%s", e->svc.host);
            q.type = MDNS_TYPE_A;
            n_q += mdns_build_add(&b, MDNS_SEC_QUESTION, &q, 1) == 0;
            if (h) h->refresh = next_refresh(now, h->expire);
        }
    }
    int n = mdns_build_end(&b);
    if (!n_q || n <= 0) return 0;
    mdns_send_all(m, buf, (size_t)n);
    return 1;
}

static int needs_query(mdns *m, const mdns_entry *e, int64_t now)
{
    if (!e->srv_expire || !e->txt_expire || e->srv_refresh <= now || e->txt_refresh <= now)
        return 1;
    mdns_host *h = find_host(m, e->svc.host);
    return !h || h->refresh <= now;
}

void mdns_browse_init(mdns *m, int64_t now)
{
    m->next_browse = now;
    m->browse_interval = 1000;
}

int64_t mdns_browse_tick(mdns *m, int64_t now)
{
    int64_t next = now + 60000;
    int forced = 0; /* a service record due for refresh asks for a browse now */
    for (int i = 0; i < MDNS_MAX_SERVICES; i++) {
        mdns_entry *e = &m->svcs[i];
        if (!e->used) continue;
        if (e->ptr_expire <= now || (e->srv_expire && e->srv_expire <= now) ||
            (e->txt_expire && e->txt_expire <= now)) {
            pthread_mutex_lock(&m->mu);
            mdns_service copy = e->last;
            int was = e->reported;
            e->used = e->reported = 0;
            pthread_mutex_unlock(&m->mu);
            if (was) {
                log_info("mdns_gone", "instance=\"%s\" id=%s", copy.instance, copy.device_id);
                if (m->cb) m->cb(m->ud, &copy, 1);
            }
            continue;
        }
        if (e->ptr_refresh <= now) { /* the next browse query asks for it again */
            forced = 1;
            e->ptr_refresh = next_refresh(now, e->ptr_expire);
        }
        if (needs_query(m, e, now)) {
            if (now >= e->next_query && follow_up(m, e, now)) {
                int shift = e->n_queries < 4 ? e->n_queries : 4;
                e->next_query = now + (1000 << shift);
                e->n_queries++;
            }
            if (e->next_query < next) next = e->next_query;
        }
        int64_t t[4] = {e->ptr_expire, e->ptr_refresh, e->srv_expire ? e->srv_refresh : next,
                        e->txt_expire ? e->txt_refresh : next};
        for (int k = 0; k < 4; k++)
            if (t[k] < next) next = t[k];
    }
    for (int i = 0; i < MDNS_MAX_HOSTS; i++)
        if (m->hosts[i].expire && m->hosts[i].expire <= now) m->hosts[i].expire = 0;
    if (forced || now >= m->next_browse) {
        send_browse(m, now);
        if (!forced || now >= m->next_browse) {
            m->next_browse = now + m->browse_interval;
            m->browse_interval = m->browse_interval * 2 > 60000 ? 60000 : m->browse_interval * 2;
        }
    }
    return m->next_browse < next ? m->next_browse : next;
}

static int newest_first(const void *a, const void *b)
{
    int64_t x = ((const mdns_service *)a)->last_seen_ms,
            y = ((const mdns_service *)b)->last_seen_ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

int mdns_list(mdns *m, mdns_service **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!m) return UH_EINVAL;
    mdns_service *list = malloc(MDNS_MAX_SERVICES * sizeof *list);
    if (!list) return UH_ENOMEM;
    int k = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < MDNS_MAX_SERVICES; i++)
        if (m->svcs[i].used && m->svcs[i].reported) {
            list[k] = m->svcs[i].last;
            list[k++].last_seen_ms = m->svcs[i].svc.last_seen_ms;
        }
    pthread_mutex_unlock(&m->mu);
    qsort(list, (size_t)k, sizeof *list, newest_first);
    *out = list;
    *n = k;
    return 0;
}
