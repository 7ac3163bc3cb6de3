/* test_trust.c - the trust store (trust.h): changes, lookups, sharing the file between stores and
 * threads, and refusing a bad file. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "cluster/trust.h"

static char g_dir[256];

static void fresh_dir(char *out, size_t cap)
{
    static int seq;
    snprintf(out, cap, "%s/d%d", g_dir, seq++);
}

/* A peer with a real key, so its id matches its sign_pk. */
static trust_peer make_peer(const char *name)
{
    trust_peer p;
    uint8_t sk[64];
    memset(&p, 0, sizeof p);
    crypto_sign_keypair(p.sign_pk, sk);
    device_id_from_pk(p.sign_pk, p.id);
    snprintf(p.name, sizeof p.name, "%s", name);
    p.ring = TRUST_RING_TRUSTED;
    p.quota = 1000;
    p.paired_at = 1700000000;
    return p;
}

static void put_get_list_remove(void)
{
    char dir[300];
    uh_err err = {0};
    trust_store *t = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(trust_open(dir, &t, &err) == 0);
    if (!t) return;
    trust_peer a = make_peer("alpha"), b = make_peer("beta"), got;
    a.ring = TRUST_RING_OWN;
    snprintf(a.addrs[0], TRUST_ADDR_MAX, "192.168.1.2:7778");
    a.n_addrs = 1;
    CHECK(trust_get(t, a.id, &got) == UH_ENOTFOUND);
    CHECK(trust_put(t, &a, &err) == 0);
    CHECK(trust_put(t, &b, &err) == 0);
    CHECK(trust_get(t, a.id, &got) == 0);
    CHECK(strcmp(got.name, "alpha") == 0 && got.ring == TRUST_RING_OWN && got.quota == 1000);
    CHECK(got.n_addrs == 1 && strcmp(got.addrs[0], "192.168.1.2:7778") == 0);
    CHECK(memcmp(got.sign_pk, a.sign_pk, 32) == 0 && got.paired_at == 1700000000);
    /* replace */
    b.quota = 5;
    CHECK(trust_put(t, &b, &err) == 0);
    trust_peer *all = NULL;
    int n = 0;
    CHECK(trust_list(t, &all, &n, &err) == 0 && n == 2);
    free(all);
    CHECK(trust_get(t, b.id, &got) == 0 && got.quota == 5);
    CHECK(trust_remove(t, a.id, &err) == 0);
    CHECK(trust_get(t, a.id, &got) == UH_ENOTFOUND);
    CHECK(trust_remove(t, a.id, &err) == UH_ENOTFOUND);
    /* the file survives a reopen, with mode 0600 */
    trust_free(t);
    t = NULL;
    CHECK(trust_open(dir, &t, &err) == 0);
    if (t) CHECK(trust_get(t, b.id, &got) == 0 && got.quota == 5);
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/peers.json", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    trust_free(t);
}

static void invalid_peers_refused(void)
{
    char dir[300];
    uh_err err = {0};
    trust_store *t = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(trust_open(dir, &t, &err) == 0);
    if (!t) return;
    trust_peer p = make_peer("x");
    p.sign_pk[0] ^= 1; /* id no longer matches the key */
    CHECK(trust_put(t, &p, &err) == UH_EINVAL);
    p = make_peer("bad\x01name");
    CHECK(trust_put(t, &p, &err) == UH_EINVAL);
    p = make_peer("x");
    p.quota = -1;
    CHECK(trust_put(t, &p, &err) == UH_EINVAL);
    p = make_peer("x");
    p.n_addrs = 1;
    snprintf(p.addrs[0], TRUST_ADDR_MAX, "no port here");
    CHECK(trust_put(t, &p, &err) == UH_EINVAL);
    trust_peer *all = NULL;
    int n = -1;
    CHECK(trust_list(t, &all, &n, &err) == 0 && n == 0);
    free(all);
    trust_free(t);
}

static void find_by_prefix(void)
{
    char dir[300], prefix[16];
    uh_err err = {0};
    trust_store *t = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(trust_open(dir, &t, &err) == 0);
    if (!t) return;
    /* two peers whose ids share the first character, one that does not */
    trust_peer a = make_peer("a"), b, c, got;
    do b = make_peer("b");
    while (b.id[0] != a.id[0] || b.id[1] == a.id[1]);
    do c = make_peer("c");
    while (c.id[0] == a.id[0]);
    CHECK(trust_put(t, &a, &err) == 0 && trust_put(t, &b, &err) == 0 &&
          trust_put(t, &c, &err) == 0);
    CHECK(trust_find(t, c.id, &got, &err) == 0 && strcmp(got.id, c.id) == 0);
    /* lower case, across the first dash, without it */
    snprintf(prefix, sizeof prefix, "%.7s%.2s", a.id, a.id + 8);
    for (char *q = prefix; *q; q++)
        if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
    CHECK(trust_find(t, prefix, &got, &err) == 0 && strcmp(got.id, a.id) == 0);
    snprintf(prefix, sizeof prefix, "%.1s", a.id);
    CHECK(trust_find(t, prefix, &got, &err) == UH_EINVAL);
    CHECKF(strstr(err.msg, "2 paired devices"), "%s", err.msg);
    CHECK(trust_find(t, "", &got, &err) == UH_EINVAL);
    /* an id that no one has */
    trust_peer d;
    do d = make_peer("d");
    while (d.id[0] == a.id[0] || d.id[0] == c.id[0]);
    CHECK(trust_find(t, d.id, &got, &err) == UH_ENOTFOUND);
    trust_free(t);
}

static void seen_moves_address_to_front_and_caps(void)
{
    char dir[300];
    uh_err err = {0};
    trust_store *t = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(trust_open(dir, &t, &err) == 0);
    if (!t) return;
    trust_peer a = make_peer("a"), got;
    CHECK(trust_put(t, &a, &err) == 0);
    static const char *const addrs[] = {"10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:3", "10.0.0.4:4",
                                        "10.0.0.5:5"};
    for (int i = 0; i < 5; i++) CHECK(trust_seen(t, a.id, addrs[i], &err) == 0);
    CHECK(trust_get(t, a.id, &got) == 0);
    CHECK(got.n_addrs == TRUST_MAX_ADDRS);
    CHECK(strcmp(got.addrs[0], "10.0.0.5:5") == 0 && strcmp(got.addrs[3], "10.0.0.2:2") == 0);
    CHECK(got.last_seen > 1700000000);
    /* a known address moves to the front without duplicating */
    CHECK(trust_seen(t, a.id, "10.0.0.3:3", &err) == 0);
    CHECK(trust_get(t, a.id, &got) == 0 && got.n_addrs == TRUST_MAX_ADDRS);
    CHECK(strcmp(got.addrs[0], "10.0.0.3:3") == 0 && strcmp(got.addrs[1], "10.0.0.5:5") == 0 &&
          strcmp(got.addrs[2], "10.0.0.4:4") == 0 && strcmp(got.addrs[3], "10.0.0.2:2") == 0);
    /* unknown peer: no-op; bad address: refused */
    trust_peer b = make_peer("b");
    CHECK(trust_seen(t, b.id, "10.0.0.9:9", &err) == 0);
    CHECK(trust_get(t, b.id, &got) == UH_ENOTFOUND);
    CHECK(trust_seen(t, a.id, "", &err) == UH_EINVAL);
    trust_free(t);
}

static void two_stores_see_each_others_changes(void)
{
    char dir[300];
    uh_err err = {0};
    trust_store *s1 = NULL, *s2 = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(trust_open(dir, &s1, &err) == 0 && trust_open(dir, &s2, &err) == 0);
    if (!s1 || !s2) return;
    trust_peer a = make_peer("a"), b = make_peer("b"), got;
    CHECK(trust_refresh(s2, &err) == 0);
    CHECK(trust_put(s1, &a, &err) == 0);
    CHECK(trust_get(s2, a.id, &got) == UH_ENOTFOUND);
    CHECK(trust_refresh(s2, &err) == 1);
    CHECK(trust_get(s2, a.id, &got) == 0);
    CHECK(trust_refresh(s2, &err) == 0);
    /* s2 changes on top of s1's change (re-read under the lock), and s1 sees a revocation */
    CHECK(trust_put(s2, &b, &err) == 0);
    CHECK(trust_remove(s2, a.id, &err) == 0);
    CHECK(trust_refresh(s1, &err) == 1);
    CHECK(trust_get(s1, a.id, &got) == UH_ENOTFOUND && trust_get(s1, b.id, &got) == 0);
    trust_free(s1);
    trust_free(s2);
}

#define N_EACH 40

struct writer {
    trust_store *t;
    trust_peer peers[N_EACH];
    int failures;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uh_err err = {0};
    for (int i = 0; i < N_EACH; i++) {
        if (trust_put(w->t, &w->peers[i], &err) != 0) w->failures++;
        if (trust_refresh(w->t, &err) < 0) w->failures++;
    }
    return NULL;
}

static void concurrent_writers_lose_nothing(void)
{
    char dir[300];
    uh_err err = {0};
    static struct writer w[3];
    pthread_t th[3];
    fresh_dir(dir, sizeof dir);
    /* two stores on one directory (like two processes) and a second thread on the first store */
    trust_store *s1 = NULL, *s2 = NULL;
    CHECK(trust_open(dir, &s1, &err) == 0 && trust_open(dir, &s2, &err) == 0);
    if (!s1 || !s2) return;
    for (int k = 0; k < 3; k++) {
        w[k].t = k == 1 ? s2 : s1;
        w[k].failures = 0;
        for (int i = 0; i < N_EACH; i++) w[k].peers[i] = make_peer("w");
    }
    for (int k = 0; k < 3; k++) pthread_create(&th[k], NULL, writer_main, &w[k]);
    for (int k = 0; k < 3; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 3; k++) CHECK(w[k].failures == 0);
    trust_store *s3 = NULL;
    trust_peer *all = NULL;
    int n = 0;
    CHECK(trust_open(dir, &s3, &err) == 0);
    if (s3) {
        CHECK(trust_list(s3, &all, &n, &err) == 0);
        CHECKF(n == 3 * N_EACH, "%d peers", n);
        free(all);
    }
    trust_free(s1);
    trust_free(s2);
    trust_free(s3);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) return;
    if (write(fd, text, strlen(text)) < 0) perror("write");
    fchmod(fd, mode);
    close(fd);
}

/* Expands a file template: $I the id, $J the id with its last check character changed, $P the
 * base64 key. */
static void fill(char *out, size_t cap, const char *tmpl, const char *id, const char *pk64)
{
    size_t o = 0;
    for (const char *s = tmpl; *s && o + 80 < cap; s++) {
        if (s[0] == '$' && (s[1] == 'I' || s[1] == 'J' || s[1] == 'P')) {
            const char *v = s[1] == 'P' ? pk64 : id;
            size_t n = strlen(v);
            memcpy(out + o, v, n);
            if (s[1] == 'J') out[o + n - 1] = out[o + n - 1] == 'A' ? 'B' : 'A';
            o += n;
            s++;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = 0;
}

static void malformed_file_refused_and_untouched(void)
{
    char good_id[DEVICE_ID_STRLEN], pk64[64], entry[1024];
    trust_peer p = make_peer("ok");
    memcpy(good_id, p.id, sizeof good_id);
    sodium_bin2base64(pk64, sizeof pk64, p.sign_pk, 32, sodium_base64_VARIANT_ORIGINAL);
    struct {
        const char *tmpl; /* $I: the id, $J: the id with a wrong check character, $P: sign_pk */
        const char *field;
    } cases[] = {
        {"{\"version\":1,\"peers\":[{\"id\":\"$I\",\"sign_pk\":\"$P\",\"name\":\"n\",\"ring\":"
         "\"admin\",\"quota\":0,\"addrs\":[],\"paired_at\":1,\"last_seen\":1}]}",
         "peers[0].ring"},
        {"{\"version\":1,\"peers\":[{\"id\":\"$I\",\"sign_pk\":\"$P\",\"name\":\"n\",\"ring\":"
         "\"own\",\"quota\":-3,\"addrs\":[],\"paired_at\":1,\"last_seen\":1}]}",
         "peers[0].quota"},
        {"{\"version\":1,\"peers\":[{\"id\":\"$I\",\"sign_pk\":\"$P\",\"name\":\"n\",\"ring\":"
         "\"own\",\"quota\":0,\"addrs\":[\"a:1\",\"b:2\",\"c:3\",\"d:4\",\"e:5\"],\"paired_at\":1,"
         "\"last_seen\":1}]}",
         "peers[0].addrs"},
        {"{\"version\":1,\"peers\":[{\"id\":\"$I\",\"sign_pk\":\"$PAA\",\"name\":\"n\",\"ring\":"
         "\"own\",\"quota\":0,\"addrs\":[],\"paired_at\":1,\"last_seen\":1}]}",
         "peers[0].sign_pk"},
        {"{\"version\":1,\"peers\":[{\"id\":\"$J\",\"sign_pk\":\"$P\",\"name\":\"n\",\"ring\":"
         "\"own\",\"quota\":0,\"addrs\":[],\"paired_at\":1,\"last_seen\":1}]}",
         "peers[0].id"},
        {"{\"version\":1,\"peers\":[{\"id\":\"$I\",\"sign_pk\":\"$P\",\"ring\":"
         "\"own\",\"quota\":0,\"addrs\":[],\"paired_at\":1,\"last_seen\":1}]}",
         "peers[0].name"},
        {"{\"version\":1,\"peers\":[{\"id\":\"$I\",\"sign_pk\":\"$P\",\"name\":\"n\",\"ring\":"
         "\"own\",\"quota\":0,\"addrs\":[],\"paired_at\":1,\"last_seen\":1},"
         "{\"id\":\"$I\",\"sign_pk\":\"$P\",\"name\":\"n\",\"ring\":"
         "\"own\",\"quota\":0,\"addrs\":[],\"paired_at\":1,\"last_seen\":1}]}",
         "peers[1].id"},
        {"{\"version\":2,\"peers\":[]}", "version"},
        {"[1,2,3]", "not a JSON object"},
        {"{\"version\":1,\"peers\":[", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[300], path[400];
        uh_err err = {0};
        trust_store *t = NULL;
        fresh_dir(dir, sizeof dir);
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/peers.json", dir);
        fill(entry, sizeof entry, cases[i].tmpl, good_id, pk64);
        write_text(path, entry, 0600);
        CHECKF(trust_open(dir, &t, &err) == UH_EFORMAT, "case %zu: %s", i, err.msg);
        CHECKF(strstr(err.msg, path) && strstr(err.msg, cases[i].field), "case %zu: %s", i,
               err.msg);
        char *after = t_read_file(path, NULL);
        CHECK(after && strcmp(after, entry) == 0);
        free(after);
        trust_free(t);
    }
    /* a store opened on a good file keeps its contents when the file goes bad, and a change
     * is refused rather than writing over the bad file */
    char dir[300], path[400];
    uh_err err = {0};
    trust_store *t = NULL;
    trust_peer got, q = make_peer("q");
    fresh_dir(dir, sizeof dir);
    CHECK(trust_open(dir, &t, &err) == 0);
    if (!t) return;
    CHECK(trust_put(t, &p, &err) == 0);
    snprintf(path, sizeof path, "%s/peers.json", dir);
    write_text(path, "garbage", 0600);
    CHECK(trust_refresh(t, &err) == UH_EFORMAT);
    CHECK(trust_get(t, p.id, &got) == 0);
    CHECK(trust_put(t, &q, &err) == UH_EFORMAT);
    char *after = t_read_file(path, NULL);
    CHECK(after && strcmp(after, "garbage") == 0);
    free(after);
    /* open to others: refused */
    write_text(path, "{\"version\":1,\"peers\":[]}", 0644);
    CHECK(trust_refresh(t, &err) == UH_EINVAL);
    CHECKF(strstr(err.msg, "chmod 600"), "%s", err.msg);
    trust_free(t);
}

static void ring_names(void)
{
    enum trust_ring r;
    CHECK(trust_ring_parse("own", &r) == 0 && r == TRUST_RING_OWN);
    CHECK(trust_ring_parse("trusted", &r) == 0 && r == TRUST_RING_TRUSTED);
    CHECK(trust_ring_parse("Own", &r) == UH_EINVAL);
    CHECK(strcmp(trust_ring_name(TRUST_RING_TRUSTED), "trusted") == 0);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    if (sodium_init() < 0) return 1;
    snprintf(g_dir, sizeof g_dir, "/tmp/uh_test_trust.XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    T_RUN(put_get_list_remove);
    T_RUN(invalid_peers_refused);
    T_RUN(find_by_prefix);
    T_RUN(seen_moves_address_to_front_and_caps);
    T_RUN(two_stores_see_each_others_changes);
    T_RUN(concurrent_writers_lose_nothing);
    T_RUN(malformed_file_refused_and_untouched);
    T_RUN(ring_names);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", g_dir);
    return t_exit();
}
