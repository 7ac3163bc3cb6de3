/* test_router.c - the routing decision: only online paired peers holding the model, filtered by
 * ring; this node first when it is no busier than the best peer; least loaded first otherwise;
 * equally loaded peers take turns; concurrent decisions are safe. */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "router/router.h"

static node_peer peer(const char *id, enum trust_ring ring, int active, int queued, int slots,
                      const char *model)
{
    node_peer p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    p.paired = 1;
    p.online = 1;
    p.ring = ring;
    p.load.active = active;
    p.load.queued = queued;
    p.load.slots = slots;
    if (model) {
        snprintf(p.load.models[0], sizeof p.load.models[0], "%s", model);
        p.load.n_models = 1;
    }
    return p;
}

static node_load load_of(int active, int queued, int slots)
{
    node_load l;
    memset(&l, 0, sizeof l);
    l.active = active;
    l.queued = queued;
    l.slots = slots;
    return l;
}

/* The candidate list as "L,id,id" for compact checks. */
static const char *route_str(router *r, const char *model, enum exec_ring ring, int local_has,
                             const node_load *ll, const node_peer *ps, int n)
{
    static char buf[512];
    router_candidate c[16];
    int nc = -1;
    buf[0] = 0;
    if (router_route(r, model, ring, local_has, ll, ps, n, c, 16, &nc) != UH_OK) return "ERR";
    for (int i = 0; i < nc; i++) {
        if (i) strcat(buf, ",");
        strcat(buf, c[i].local ? "L" : c[i].peer_id);
    }
    return buf;
}

static void test_ring_parse(void)
{
    enum exec_ring r;
    CHECK(exec_ring_parse("local", &r) == 0 && r == EXEC_RING_LOCAL);
    CHECK(exec_ring_parse("trusted", &r) == 0 && r == EXEC_RING_TRUSTED);
    CHECK(exec_ring_parse("swarm", &r) == 0 && r == EXEC_RING_SWARM);
    CHECK(exec_ring_parse("Local", &r) == UH_EINVAL);
    CHECK(exec_ring_parse("", &r) == UH_EINVAL);
    CHECK(exec_ring_parse(NULL, &r) == UH_EINVAL);
    CHECK(!strcmp(exec_ring_name(EXEC_RING_SWARM), "swarm"));
}

/* Offline, unpaired and model-less peers never appear; nobody with the model: empty list. */
static void test_filters(void)
{
    router r;
    router_init(&r, NULL, NULL);
    node_peer ps[4] = {peer("off", TRUST_RING_OWN, 0, 0, 4, "m"),
                       peer("unpaired", TRUST_RING_OWN, 0, 0, 4, "m"),
                       peer("other", TRUST_RING_OWN, 0, 0, 4, "x"),
                       peer("ok", TRUST_RING_OWN, 0, 0, 4, "m")};
    ps[0].online = 0;
    ps[1].paired = 0;
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 0, NULL, ps, 4), "ok"));
    CHECK(!strcmp(route_str(&r, "nothing", EXEC_RING_TRUSTED, 0, NULL, ps, 4), ""));
    CHECK(!strcmp(route_str(&r, "nothing", EXEC_RING_TRUSTED, 1, NULL, ps, 4), "L"));
    /* name:latest is name */
    CHECK(!strcmp(route_str(&r, "m:latest", EXEC_RING_TRUSTED, 0, NULL, ps, 4), "ok"));
    CHECK(!strcmp(route_str(&r, "x:latest", EXEC_RING_TRUSTED, 0, NULL, ps, 4), "other"));
    CHECK(!strcmp(route_str(&r, "m:7b", EXEC_RING_TRUSTED, 0, NULL, ps, 4), ""));
    /* a model name without its NUL (from the network) is cut, not overread */
    memset(ps[3].load.models[0], 'a', sizeof ps[3].load.models[0]);
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 0, NULL, ps, 4), ""));
    router_candidate c[1];
    int nc = 0;
    CHECK(router_route(&r, NULL, EXEC_RING_TRUSTED, 1, NULL, ps, 4, c, 1, &nc) == UH_EINVAL);
}

/* Ring local admits own devices only; trusted and swarm admit friends too. */
static void test_rings(void)
{
    router r;
    router_init(&r, NULL, NULL);
    node_peer ps[2] = {peer("friend", TRUST_RING_TRUSTED, 0, 0, 4, "m"),
                       peer("mine", TRUST_RING_OWN, 1, 0, 4, "m")};
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_LOCAL, 0, NULL, ps, 2), "mine"));
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 0, NULL, ps, 2), "friend,mine"));
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_SWARM, 0, NULL, ps, 2), "friend,mine"));
    node_load busy = load_of(4, 0, 4);
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_LOCAL, 1, &busy, ps, 2), "mine,L"));
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_LOCAL, 1, &busy, ps, 1), "L"));
}

/* This node first when no busier than the best peer (ties included); otherwise least loaded
 * first, by load relative to slots, queued requests counting as busy. */
static void test_local_preference_and_load(void)
{
    router r;
    router_init(&r, NULL, NULL);
    node_peer ps[3] = {peer("a", TRUST_RING_OWN, 2, 0, 4, "m"),  /* 0.5 */
                       peer("b", TRUST_RING_OWN, 1, 0, 8, "m"),  /* 0.125 */
                       peer("c", TRUST_RING_OWN, 1, 2, 4, "m")}; /* 0.75 */
    node_load idle = load_of(0, 0, 4), same = load_of(1, 0, 8), half = load_of(1, 1, 4);
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 1, &idle, ps, 3), "L,b,a,c"));
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 1, &same, ps, 3), "L,b,a,c"));
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 1, &half, ps, 3), "b,L,a,c"));
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 1, NULL, ps, 3), "L,b,a,c"));
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 0, &idle, ps, 3), "b,a,c"));
    /* no slots reported: counts as one slot */
    node_peer z = peer("z", TRUST_RING_OWN, 1, 0, 0, "m");
    node_load l2 = load_of(1, 0, 2);
    CHECK(!strcmp(route_str(&r, "m", EXEC_RING_TRUSTED, 1, &l2, &z, 1), "L,z"));
}

/* Equally loaded peers take turns as the first choice; all of them stay in the list. */
static void test_round_robin(void)
{
    router r;
    router_init(&r, NULL, NULL);
    node_peer ps[4] = {peer("a", TRUST_RING_OWN, 1, 0, 4, "m"),
                       peer("b", TRUST_RING_OWN, 1, 0, 4, "m"),
                       peer("c", TRUST_RING_OWN, 1, 0, 4, "m"),
                       peer("slow", TRUST_RING_OWN, 3, 0, 4, "m")};
    node_load busy = load_of(4, 2, 4);
    int first[3] = {0};
    for (int i = 0; i < 9; i++) {
        const char *s = route_str(&r, "m", EXEC_RING_TRUSTED, 1, &busy, ps, 4);
        CHECKF(strlen(s) == 12 && !strcmp(s + 5, ",slow,L"), "%s", s);
        CHECK(strchr(s, 'a') && strchr(s, 'b') && strchr(s, 'c'));
        first[s[0] - 'a']++;
    }
    CHECKF(first[0] == 3 && first[1] == 3 && first[2] == 3, "%d %d %d", first[0], first[1],
           first[2]);
    /* consecutive decisions differ */
    char one[64];
    snprintf(one, sizeof one, "%s", route_str(&r, "m", EXEC_RING_TRUSTED, 0, NULL, ps, 3));
    CHECK(strcmp(one, route_str(&r, "m", EXEC_RING_TRUSTED, 0, NULL, ps, 3)) != 0);
}

typedef struct {
    router *r;
    node_peer *ps;
    int first[2];
} rr_arg;

static void *rr_thread(void *p)
{
    rr_arg *a = p;
    for (int i = 0; i < 1000; i++) {
        router_candidate c[4];
        int n = 0;
        if (router_route(a->r, "m", EXEC_RING_TRUSTED, 0, NULL, a->ps, 2, c, 4, &n) == 0 && n == 2)
            a->first[c[0].peer_id[0] - 'a']++;
    }
    return NULL;
}

/* Decisions from many threads at once: every one counts, so the turns stay exactly even. */
static void test_concurrent(void)
{
    router r;
    router_init(&r, NULL, NULL);
    node_peer ps[2] = {peer("a", TRUST_RING_OWN, 0, 0, 4, "m"),
                       peer("b", TRUST_RING_OWN, 0, 0, 4, "m")};
    rr_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (rr_arg){&r, ps, {0, 0}};
        pthread_create(&th[i], NULL, rr_thread, &args[i]);
    }
    int a = 0, b = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        a += args[i].first[0];
        b += args[i].first[1];
    }
    CHECKF(a == 2000 && b == 2000, "%d %d", a, b);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(test_ring_parse);
    T_RUN(test_filters);
    T_RUN(test_rings);
    T_RUN(test_local_preference_and_load);
    T_RUN(test_round_robin);
    T_RUN(test_concurrent);
    return t_exit();
}
