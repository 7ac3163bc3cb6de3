/* chan_limit.c - the per-address handshake limiter (chan.h): a fixed table of source
 * addresses, each with the handshakes it has in progress and a token bucket of handshakes it
 * may start. Linear scans: the table is small and handshakes are rare next to their cost. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/err.h"
#include "net/chan_impl.h"

#define KEY_LEN 9 /* family tag + 8 address bytes (IPv4: 4; IPv6: the /64 prefix) */

typedef struct {
    uint8_t key[KEY_LEN];
    int used;
    unsigned active; /* handshakes in progress */
    double tokens;   /* handshakes it may still start; refills max_per_minute per minute */
    int64_t last_ms; /* last refill / use */
} slot;

struct chan_limiter {
    pthread_mutex_t mu;
    unsigned max_concurrent, max_per_minute;
    slot slots[CHAN_LIMITER_SLOTS];
};

int chan_limiter_new(unsigned max_concurrent, unsigned max_per_minute, chan_limiter **out,
                     uh_err *err)
{
    *out = NULL;
    chan_limiter *l = calloc(1, sizeof *l);
    if (!l) return err_setf(err, UH_ENOMEM, "chan limiter: out of memory");
    if (pthread_mutex_init(&l->mu, NULL)) {
        free(l);
        return err_setf(err, UH_ENOMEM, "chan limiter: cannot create a mutex");
    }
    l->max_concurrent = max_concurrent;
    l->max_per_minute = max_per_minute;
    *out = l;
    return 0;
}

void chan_limiter_free(chan_limiter *l)
{
    if (!l) return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void key_of(const struct sockaddr *sa, uint8_t key[KEY_LEN])
{
    memset(key, 0, KEY_LEN);
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        key[0] = 4;
        memcpy(key + 1, &a->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        const uint8_t *b = a->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(b, mapped, sizeof mapped)) {
            key[0] = 4;
            memcpy(key + 1, b + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, b, 8);
        }
    }
}

/* The slot of key, taking a free or the stalest one when it has none. */
static slot *find_slot(chan_limiter *l, const uint8_t key[KEY_LEN], int64_t now_ms)
{
    slot *victim = NULL;
    for (int i = 0; i < CHAN_LIMITER_SLOTS; i++) {
        slot *s = &l->slots[i];
        if (s->used && !memcmp(s->key, key, KEY_LEN)) return s;
        if (!s->used) {
            if (!victim || victim->used) victim = s;
        } else if (!victim || (victim->used && ((s->active == 0) > (victim->active == 0) ||
                                                ((s->active == 0) == (victim->active == 0) &&
                                                 s->last_ms < victim->last_ms)))) {
            victim = s;
        }
    }
    memcpy(victim->key, key, KEY_LEN);
    victim->used = 1;
    victim->active = 0;
    victim->tokens = l->max_per_minute;
    victim->last_ms = now_ms;
    return victim;
}

int chan_limiter_enter_at(chan_limiter *l, const struct sockaddr *addr, int64_t now_ms)
{
    uint8_t key[KEY_LEN];
    key_of(addr, key);
    pthread_mutex_lock(&l->mu);
    slot *s = find_slot(l, key, now_ms);
    int rc = 0;
    if (l->max_per_minute) {
        if (now_ms > s->last_ms) {
            s->tokens += (double)(now_ms - s->last_ms) * l->max_per_minute / 60000.0;
            if (s->tokens > l->max_per_minute) s->tokens = l->max_per_minute;
        }
        if (s->tokens < 1.0) rc = UH_ELIMIT;
    }
    if (l->max_concurrent && s->active >= l->max_concurrent) rc = UH_ELIMIT;
    if (now_ms > s->last_ms) s->last_ms = now_ms;
    if (!rc) {
        if (l->max_per_minute) s->tokens -= 1.0;
        s->active++;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int chan_limiter_enter(chan_limiter *l, const struct sockaddr *addr)
{
    return chan_limiter_enter_at(l, addr, clock_mono_ms());
}

void chan_limiter_leave(chan_limiter *l, const struct sockaddr *addr)
{
    uint8_t key[KEY_LEN];
    key_of(addr, key);
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < CHAN_LIMITER_SLOTS; i++) {
        slot *s = &l->slots[i];
        if (s->used && !memcmp(s->key, key, KEY_LEN)) {
            if (s->active) s->active--;
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
}
