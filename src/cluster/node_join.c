/* node_join.c - pairing at a distance: one-time invite codes checked with CPace inside a Noise
 * session (purpose join).
 *
 * Invite code: "HOST:PORT/TAG-SSSS-SSSS-SSSS" in base32 characters: TAG names the invite (sent
 * to the inviter inside the encrypted channel), the 12 S characters (60 bits) are the CPace
 * password. Joiner J, inviter I, sid = the Noise handshake hash, ci = "unhosted-join-v1":
 *   J -> I  JOIN_START   {"tag", "share": hex Ya, "name", "port"}
 *   I -> J  JOIN_SHARE   {"share": hex Yb, "name"}
 *   J -> I  JOIN_CONFIRM {"tag": hex J's confirmation tag}
 *   I -> J  JOIN_OK      {"tag": hex I's confirmation tag}     (or REFUSED)
 * The inviter stores the joiner once J's tag checks out; the joiner stores the inviter once
 * I's tag does. Someone without the code gets one guess per attempt: an invite is used once,
 * expires, and dies after NODE_INVITE_TRIES wrong codes (which also count towards the pairing
 * lockout). */
#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/cpace.h"
#include "cluster/node_impl.h"
#include "cluster/wire.h"

static const char join_ci[] = "unhosted-join-v1";
static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

#define TAG_LEN    4
#define SECRET_LEN 12

/* The address other devices reach our peer listener at: the listen address, or when it is a
 * wildcard the first non-loopback IPv4 address of this machine. */
static void reachable_addr(node *n, char *out, size_t cap)
{
    char host[TRUST_ADDR_MAX];
    snprintf(host, sizeof host, "%s", n->listen_addr);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0 || !host[0]) {
        snprintf(host, sizeof host, "127.0.0.1");
        struct ifaddrs *ifs = NULL;
        if (getifaddrs(&ifs) == 0) {
            for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
                const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
                if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127) continue;
                inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
                break;
            }
            freeifaddrs(ifs);
        }
    }
    snprintf(out, cap, "%.46s:%d", host, n->port);
}

static void random_b32(char *out, int len)
{
    for (int i = 0; i < len; i++) out[i] = b32[randombytes_uniform(32)];
    out[len] = '\0';
}

int node_invite(node *n, enum trust_ring ring, int64_t quota, int ttl_s, char code_out[128],
                uh_err *err)
{
    if (n->listen_fd < 0) return err_setf(err, UH_EINVAL, "this node has no peer listener");
    if (ttl_s <= 0) ttl_s = 3600;
    int64_t now = clock_wall_s();
    pthread_mutex_lock(&n->mu);
    node_invite_slot *s = NULL;
    for (int i = 0; i < NODE_MAX_INVITES; i++) {
        node_invite_slot *v = &n->invites[i];
        if (v->used && v->expires < now) {
            sodium_memzero(v, sizeof *v);
        }
        if (!v->used && !s) s = v;
    }
    if (s) {
        s->used = 1;
        random_b32(s->tag, TAG_LEN);
        random_b32(s->secret, SECRET_LEN);
        s->ring = ring;
        s->quota = quota;
        s->expires = now + ttl_s;
        s->tries = 0;
    }
    char addr[TRUST_ADDR_MAX];
    reachable_addr(n, addr, sizeof addr);
    if (s)
        snprintf(code_out, 128, "%s/%s-%.4s-%.4s-%.4s", addr, s->tag, s->secret, s->secret + 4,
                 s->secret + 8);
    pthread_mutex_unlock(&n->mu);
    if (!s) return err_setf(err, UH_ELIMIT, "too many open invites");
    log_info("invite_created", "ttl_s=%d", ttl_s);
    return 0;
}

/* Splits a code into address, tag and secret (upper case, no dashes). */
static int parse_code(const char *code, char addr[TRUST_ADDR_MAX], char tag[TAG_LEN + 1],
                      char secret[SECRET_LEN + 1], uh_err *err)
{
    const char *slash = code ? strrchr(code, '/') : NULL;
    if (!slash || slash == code || (size_t)(slash - code) >= TRUST_ADDR_MAX)
        return err_setf(err, UH_EINVAL, "not an invite code (expected HOST:PORT/XXXX-XXXX-...)");
    snprintf(addr, TRUST_ADDR_MAX, "%.*s", (int)(slash - code), code);
    char chars[TAG_LEN + SECRET_LEN + 1];
    int k = 0;
    for (const char *p = slash + 1; *p; p++) {
        if (*p == '-' || *p == ' ') continue;
        char c = (char)toupper((unsigned char)*p);
        if (c == '0') c = 'O';
        if (c == '1') c = 'I';
        if (c == '8') c = 'B';
        if (!strchr(b32, c) || k >= TAG_LEN + SECRET_LEN)
            return err_setf(err, UH_EINVAL, "not an invite code: bad characters or length");
        chars[k++] = c;
    }
    if (k != TAG_LEN + SECRET_LEN)
        return err_setf(err, UH_EINVAL, "not an invite code: wrong length");
    memcpy(tag, chars, TAG_LEN);
    tag[TAG_LEN] = '\0';
    memcpy(secret, chars + TAG_LEN, SECRET_LEN);
    secret[SECRET_LEN] = '\0';
    sodium_memzero(chars, sizeof chars);
    return 0;
}

void node_serve_join(node *n, chan *c, const char *peer_id, const uint8_t peer_pk[32])
{
    uh_err err;
    char why[128], tag[TAG_LEN + 2], name[IDENTITY_NAME_MAX], secret[SECRET_LEN + 1];
    uint8_t ya[32], yb[32], sid[32], isk[CPACE_ISK_LEN], t[CPACE_TAG_LEN];
    cpace_state st;
    memset(&st, 0, sizeof st);
    cJSON *start = NULL, *conf = NULL;
    if (node_pair_locked(n, why, sizeof why)) {
        node_refuse(c, UH_EBUSY, why);
        goto out;
    }
    if (!(start = node_expect(c, WIRE_JOIN_START, &err)) ||
        wire_get_str(start, "tag", tag, TAG_LEN, 1, &err) ||
        wire_get_str(start, "name", name, sizeof name - 1, 1, &err) ||
        wire_get_hex(start, "share", ya, 32, &err))
        goto out;
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(start, "port");
    int peer_port = cJSON_IsNumber(port) && port->valuedouble >= 0 && port->valuedouble <= 65535
                        ? (int)port->valuedouble
                        : 0;
    int64_t now = clock_wall_s();
    enum trust_ring ring = TRUST_RING_TRUSTED;
    int64_t quota = 0;
    int found = 0;
    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < NODE_MAX_INVITES; i++) {
        node_invite_slot *v = &n->invites[i];
        if (v->used && v->expires >= now && strcmp(v->tag, tag) == 0) {
            memcpy(secret, v->secret, sizeof secret);
            ring = v->ring;
            quota = v->quota;
            found = 1;
        }
    }
    pthread_mutex_unlock(&n->mu);
    if (!found) {
        node_refuse(c, UH_EDENIED, "unknown or expired invite");
        node_pair_failed(n);
        goto out;
    }
    chan_handshake_hash(c, sid);
    if (cpace_start(&st, 0, (const uint8_t *)secret, SECRET_LEN, (const uint8_t *)join_ci,
                    sizeof join_ci - 1, sid, sizeof sid, yb, &err) ||
        cpace_finish(&st, ya, isk, &err)) {
        node_refuse(c, UH_EINVAL, "bad key share");
        goto out;
    }
    cJSON *share = cJSON_CreateObject();
    wire_add_hex(share, "share", yb, 32);
    cJSON_AddStringToObject(share, "name", identity_name(n->id));
    if (wire_send(c, WIRE_JOIN_SHARE, share, &err) ||
        !(conf = node_expect(c, WIRE_JOIN_CONFIRM, &err)) || wire_get_hex(conf, "tag", t, 32, &err))
        goto out;
    if (cpace_check_tag(isk, 1, t) != 0) {
        pthread_mutex_lock(&n->mu);
        for (int i = 0; i < NODE_MAX_INVITES; i++) {
            node_invite_slot *v = &n->invites[i];
            if (v->used && strcmp(v->tag, tag) == 0 && ++v->tries >= NODE_INVITE_TRIES)
                sodium_memzero(v, sizeof *v);
        }
        pthread_mutex_unlock(&n->mu);
        node_refuse(c, UH_EDENIED, "wrong invite code");
        node_pair_failed(n);
        log_warn("invite_wrong_code", "peer=%.7s", peer_id);
        goto out;
    }
    /* Used once: burn it before storing, so a second joiner cannot race in. */
    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < NODE_MAX_INVITES; i++)
        if (n->invites[i].used && strcmp(n->invites[i].tag, tag) == 0)
            sodium_memzero(&n->invites[i], sizeof n->invites[i]);
    pthread_mutex_unlock(&n->mu);
    char addr[TRUST_ADDR_MAX];
    node_addr_with_port(chan_peer_addr(c), peer_port, addr, sizeof addr);
    if (node_store_peer(n, peer_id, peer_pk, name, ring, quota, addr, &err) != 0) {
        node_refuse(c, UH_EIO, "cannot store the pairing");
        goto out;
    }
    cJSON *ok = cJSON_CreateObject();
    cpace_confirm_tag(isk, 0, t);
    wire_add_hex(ok, "tag", t, 32);
    wire_send(c, WIRE_JOIN_OK, ok, &err);
out:
    cJSON_Delete(start);
    cJSON_Delete(conf);
    cpace_wipe(&st);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(isk, sizeof isk);
    chan_free(c);
}

int node_join(node *n, const char *code, int64_t quota, char id_out[DEVICE_ID_STRLEN],
              uh_err *err)
{
    char addr[TRUST_ADDR_MAX], tag[TAG_LEN + 1], secret[SECRET_LEN + 1], name[IDENTITY_NAME_MAX];
    char why[128], peer_id[DEVICE_ID_STRLEN];
    uint8_t pk[32], ya[32], yb[32], sid[32], isk[CPACE_ISK_LEN], t[CPACE_TAG_LEN];
    cpace_state st;
    memset(&st, 0, sizeof st);
    chan *c = NULL;
    cJSON *share = NULL, *ok = NULL;
    int rc = parse_code(code, addr, tag, secret, err);
    if (rc) return rc;
    if (node_pair_locked(n, why, sizeof why)) {
        rc = err_setf(err, UH_ELIMIT, "%s", why);
        goto out;
    }
    if ((rc = node_dial(n, addr, CHAN_JOIN, NULL, &c, peer_id, pk, err))) goto out;
    if (strcmp(peer_id, identity_device_id(n->id)) == 0) {
        rc = err_setf(err, UH_EINVAL, "that invite is this device's own");
        goto out;
    }
    chan_handshake_hash(c, sid);
    if ((rc = cpace_start(&st, 1, (const uint8_t *)secret, SECRET_LEN, (const uint8_t *)join_ci,
                          sizeof join_ci - 1, sid, sizeof sid, ya, err)))
        goto out;
    cJSON *start = cJSON_CreateObject();
    cJSON_AddStringToObject(start, "tag", tag);
    wire_add_hex(start, "share", ya, 32);
    cJSON_AddStringToObject(start, "name", identity_name(n->id));
    cJSON_AddNumberToObject(start, "port", node_peer_port(n));
    if ((rc = wire_send(c, WIRE_JOIN_START, start, err))) goto out;
    if (!(share = node_expect(c, WIRE_JOIN_SHARE, err)) ||
        wire_get_hex(share, "share", yb, 32, err) ||
        wire_get_str(share, "name", name, sizeof name - 1, 1, err) ||
        cpace_finish(&st, yb, isk, err)) {
        rc = err->code ? err->code : UH_EFORMAT;
        goto out;
    }
    cJSON *conf = cJSON_CreateObject();
    cpace_confirm_tag(isk, 1, t);
    wire_add_hex(conf, "tag", t, 32);
    if ((rc = wire_send(c, WIRE_JOIN_CONFIRM, conf, err))) goto out;
    if (!(ok = node_expect(c, WIRE_JOIN_OK, err)) || wire_get_hex(ok, "tag", t, 32, err)) {
        rc = err->code ? err->code : UH_EFORMAT;
        node_pair_failed(n);
        goto out;
    }
    if (cpace_check_tag(isk, 0, t) != 0) {
        rc = err_setf(err, UH_EFORMAT, "the inviting device did not prove it knows the code");
        node_pair_failed(n);
        goto out;
    }
    if ((rc = node_store_peer(n, peer_id, pk, name, TRUST_RING_TRUSTED, quota, addr, err)))
        goto out;
    if (id_out) snprintf(id_out, DEVICE_ID_STRLEN, "%s", peer_id);
out:
    cJSON_Delete(share);
    cJSON_Delete(ok);
    cpace_wipe(&st);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(isk, sizeof isk);
    chan_free(c);
    return rc;
}
