/* test_pull.c - pulls from a real nginx on 127.0.0.1, started by the test with its own config in a
 * temporary directory, through an in-test TCP proxy that can cut or stall the stream.
 *
 * Files served: /test.gguf (a GGUF of a few MB of random tensors), /norange/ (max_ranges 0: 200
 * instead of 206), /badsum/ (an X-Linked-ETag that is not the file's digest), /linked/ (the
 * right digest in X-Linked-ETag), /missing.gguf (404). No traffic leaves the loopback. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/paths.h"
#include "base/sha256.h"
#include "check.h"
#include "gguf/gguf.h"
#include "kernels/qtypes.h"
#include "models/pull.h"
#include "models/store.h"

#define NGINX "/usr/sbin/nginx"
#define N_FLOATS (384 * 1024) /* per tensor; 4 tensors = 6 MiB */

static char g_dir[256];       /* temporary root */
static char g_sha[65];        /* digest of test.gguf */
static uint64_t g_size;
static int g_nginx_port, g_proxy_port;
static pid_t g_nginx = -1;
static int g_case;

/* ---- helpers ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int count_lines(const char *path)
{
    size_t len = 0;
    char *b = t_read_file(path, &len);
    int n = 0;
    for (size_t i = 0; b && i < len; i++) n += b[i] == '\n';
    free(b);
    return n;
}

static int n_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static int same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    char *x = t_read_file(a, &la), *y = t_read_file(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* ---- the proxy: 127.0.0.1:g_proxy_port -> nginx, counting bytes sent to the client ---- */

enum { PX_PASS, PX_CUT_ONCE, PX_DEAD_AFTER, PX_STALL_AFTER };

static struct {
    pthread_mutex_t mu;
    int mode;
    uint64_t budget; /* bytes to the client before the mode acts */
    uint64_t down;   /* bytes sent to clients */
    int cut_gen;     /* bumped when the connections open now must close */
    int slow;        /* pause 2 ms after each block sent to the client (about 8 MB/s) */
    int listen_fd;
    int stop;
} px = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void px_set(int mode, uint64_t budget)
{
    pthread_mutex_lock(&px.mu);
    px.slow = 0;
    px.mode = mode;
    px.budget = budget;
    px.down = 0;
    pthread_mutex_unlock(&px.mu);
}

static uint64_t px_down(void)
{
    pthread_mutex_lock(&px.mu);
    uint64_t d = px.down;
    pthread_mutex_unlock(&px.mu);
    return d;
}

static int send_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *px_conn(void *arg)
{
    int cfd = (int)(intptr_t)arg, sfd = -1;
    char buf[16384];
    pthread_mutex_lock(&px.mu);
    int gen = px.cut_gen, dead = px.mode == PX_DEAD_AFTER && px.down >= px.budget;
    pthread_mutex_unlock(&px.mu);
    if (dead || (sfd = connect_local(g_nginx_port)) < 0) goto out;
    for (;;) {
        struct pollfd p[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        pthread_mutex_lock(&px.mu);
        int stalled = px.mode == PX_STALL_AFTER && px.down >= px.budget;
        int cut = px.cut_gen != gen || px.stop;
        pthread_mutex_unlock(&px.mu);
        if (cut) break;
        if (stalled) p[1].events = 0;
        if (poll(p, 2, 50) < 0) break;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(cfd, buf, sizeof buf, 0);
            if (n <= 0 || send_all(sfd, buf, (size_t)n)) break;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(sfd, buf, sizeof buf, 0);
            if (n <= 0) break;
            size_t give = (size_t)n;
            int close_now = 0;
            pthread_mutex_lock(&px.mu);
            if (px.mode != PX_PASS && px.down + give >= px.budget) {
                give = px.down < px.budget ? (size_t)(px.budget - px.down) : 0;
                if (px.mode == PX_CUT_ONCE || px.mode == PX_DEAD_AFTER) {
                    close_now = 1;
                    px.cut_gen++;
                    if (px.mode == PX_CUT_ONCE) px.mode = PX_PASS;
                }
            }
            px.down += give;
            int slow = px.slow;
            pthread_mutex_unlock(&px.mu);
            if (slow) usleep(2000);
            if (give && send_all(cfd, buf, give)) break;
            if (close_now) break;
        }
    }
out:
    if (sfd >= 0) close(sfd);
    close(cfd);
    return NULL;
}

static void *px_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(px.listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            break;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, px_conn, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
    return NULL;
}

static int px_start(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    pthread_t t;
    px.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (px.listen_fd < 0 || bind(px.listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(px.listen_fd, 64) != 0 ||
        getsockname(px.listen_fd, (struct sockaddr *)&a, &l) != 0)
        return -1;
    g_proxy_port = ntohs(a.sin_port);
    if (pthread_create(&t, NULL, px_accept, NULL) != 0) return -1;
    pthread_detach(t);
    return 0;
}

/* ---- fixtures: files, nginx ---- */

static int make_gguf(const char *path)
{
    gguf_writer *w = gguf_writer_new();
    float *data = malloc(N_FLOATS * sizeof *data);
    int rc = -1;
    if (!w || !data) goto out;
    randombytes_buf(data, N_FLOATS * sizeof *data);
    for (size_t i = 0; i < N_FLOATS; i++) /* finite values */
        data[i] = (float)((int32_t)((uint32_t *)data)[i] % 1000) / 1000.0f;
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", "pull test");
    gguf_writer_set_u32(w, "llama.context_length", 256);
    for (int t = 0; t < 4; t++) {
        char name[32];
        int64_t ne[2] = {1024, N_FLOATS / 1024};
        snprintf(name, sizeof name, "t%d.weight", t);
        data[0] = (float)t;
        if (gguf_writer_add_tensor(w, name, QT_F32, 2, ne, data, N_FLOATS * sizeof *data)) goto out;
    }
    rc = gguf_writer_write(w, path, 0, NULL);
out:
    gguf_writer_free(w);
    free(data);
    return rc;
}

static int start_nginx(void)
{
    char conf[4096], path[512], www[300];
    snprintf(www, sizeof www, "%s/www", g_dir);
    g_nginx_port = free_port();
    snprintf(conf, sizeof conf,
             "daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\n"
             "error_log %s/error.log;\nevents { worker_connections 256; }\n"
             "http {\n  access_log %s/access.log;\n  client_body_temp_path %s/tmp;\n"
             "  proxy_temp_path %s/tmp;\n  fastcgi_temp_path %s/tmp;\n  uwsgi_temp_path %s/tmp;\n"
             "  scgi_temp_path %s/tmp;\n  default_type application/octet-stream;\n"
             "  server {\n    listen 127.0.0.1:%d;\n    root %s;\n"
             "    location /norange/ { max_ranges 0; }\n"
             "    location /badsum/ { add_header X-Linked-ETag "
             "\"\\\"%064d\\\"\"; }\n"
             "    location /linked/ { add_header X-Linked-ETag \"\\\"%s\\\"\"; }\n"
             "  }\n}\n",
             g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_nginx_port, www, 7, g_sha);
    snprintf(path, sizeof path, "%s/nginx.conf", g_dir);
    if (write_file(path, conf)) return -1;
    char elog[300];
    snprintf(elog, sizeof elog, "%s/error.log", g_dir);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(NGINX, NGINX, "-p", g_dir, "-c", path, "-e", elog, (char *)NULL);
        _exit(127);
    }
    g_nginx = pid;
    for (int i = 0; i < 100; i++) { /* up to 5 s */
        int fd = connect_local(g_nginx_port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            g_nginx = -1;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

static void stop_nginx(void)
{
    if (g_nginx <= 0) return;
    kill(g_nginx, SIGTERM);
    waitpid(g_nginx, NULL, 0);
    g_nginx = -1;
}

static int setup(void)
{
    char p[512], q[512];
    snprintf(g_dir, sizeof g_dir, "/tmp/uh-pull-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    chmod(g_dir, 0755); /* nginx may run its worker as another user */
    const char *sub[] = {"www", "www/norange", "www/badsum", "www/linked", "tmp"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, sub[i]);
        if (mkdir(p, 0755)) return -1;
    }
    snprintf(p, sizeof p, "%s/www/test.gguf", g_dir);
    if (make_gguf(p)) return -1;
    chmod(p, 0644);
    size_t len = 0;
    char *b = t_read_file(p, &len);
    unsigned char d[32];
    if (!b) return -1;
    sha256_buf(d, b, len);
    free(b);
    g_size = len;
    for (int i = 0; i < 32; i++) snprintf(g_sha + 2 * i, 3, "%02x", d[i]);
    const char *copies[] = {"norange", "badsum", "linked"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "%s/www/%s/test.gguf", g_dir, copies[i]);
        if (link(p, q)) return -1;
    }
    return 0;
}

/* A fresh store per case, under its own home. */
static store *case_store(void)
{
    char home[512];
    store *s = NULL;
    snprintf(home, sizeof home, "%s/home%d", g_dir, ++g_case);
    if (paths_set_home(home) != 0 || store_open(&s, NULL) != 0) return NULL;
    return s;
}

static void url_for(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", g_proxy_port, path);
}

typedef struct {
    uint64_t last_done;
    uint64_t cancel_at; /* 0 = never */
    int n_calls;
    int saw_downloading;
} prog;

static int on_progress(const pull_progress *p, void *ud)
{
    prog *pr = ud;
    pr->n_calls++;
    if (strcmp(p->status, "downloading") == 0) {
        pr->saw_downloading = 1;
        pr->last_done = p->done;
        if (pr->cancel_at && p->done >= pr->cancel_at) return 1;
    }
    return 0;
}

static pull_opts base_opts(const char *url, const char *sha, prog *pr)
{
    pull_opts o = {0};
    o.url = url;
    o.sha256 = sha;
    o.name = "pulltest";
    o.tag = "latest";
    o.timeout_s = 2;
    o.progress = on_progress;
    o.progress_ud = pr;
    return o;
}

static int n_listed(store *s)
{
    store_entry *es = NULL;
    int n = -1;
    if (store_list(s, &es, &n, NULL) != 0) return -1;
    free(es);
    return n;
}

static int has_state_file(store *s)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.state", store_partial_dir(s), g_sha);
    return access(p, F_OK) == 0;
}

/* The chunk size pull_fetch.c picks: size / (4 x connections), 256 KiB .. 8 MiB, in 64 KiB
 * steps. Chunks still in flight when a run stops are fetched again by the next run. */
static uint64_t test_chunk_size(int n_conn)
{
    uint64_t c = g_size / (4 * (uint64_t)n_conn);
    c = c < (256 << 10) ? 256 << 10 : c > (8 << 20) ? 8 << 20 : c;
    return c & ~(uint64_t)0xffff;
}

/* ---- cases ---- */

static store *g_full_store; /* kept for the second-pull case */

static void full_pull_stores_verified_file(void)
{
    char url[256], src[512];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    CHECK(s != NULL);
    url_for(url, sizeof url, "/test.gguf");
    px_set(PX_PASS, 0);
    pull_opts o = base_opts(url, g_sha, &pr);
    int rc = pull_model(s, &o, &e, &err);
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    CHECK(strcmp(e.sha256, g_sha) == 0);
    CHECK(e.size == g_size);
    CHECK(strcmp(e.arch, "llama") == 0 && e.n_ctx_train == 256);
    snprintf(src, sizeof src, "%s/www/test.gguf", g_dir);
    CHECK(same_file(e.path, src));
    CHECK(n_listed(s) == 1);
    CHECK(n_files(store_partial_dir(s)) == 0);
    CHECK(pr.saw_downloading);
    CHECKF(px_down() < g_size + 65536, "fetched %llu of %llu", (unsigned long long)px_down(),
           (unsigned long long)g_size);
    g_full_store = s;
}

static void second_pull_is_instant_and_offline(void)
{
    char url[256], log[300];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    CHECKF(g_full_store, "needs the store of the case before it (run the whole file)");
    if (!g_full_store) return;
    url_for(url, sizeof url, "/test.gguf");
    snprintf(log, sizeof log, "%s/access.log", g_dir);
    int before = count_lines(log);
    px_set(PX_PASS, 0);
    double t0 = clock_mono_s();
    pull_opts o = base_opts(url, g_sha, &pr);
    int rc = pull_model(g_full_store, &o, &e, &err);
    double dt = clock_mono_s() - t0;
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    CHECKF(dt < 0.5, "took %.2f s", dt);
    CHECK(count_lines(log) == before);
    CHECK(px_down() == 0);
    /* another name for the same digest: a manifest only, still no request */
    o.name = "alias";
    rc = pull_model(g_full_store, &o, &e, &err);
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    CHECK(count_lines(log) == before);
    CHECK(n_listed(g_full_store) == 2);
    store_close(g_full_store);
    g_full_store = NULL;
}

static void dropped_connection_is_retried_without_refetching(void)
{
    char url[256];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/test.gguf");
    px_set(PX_CUT_ONCE, g_size / 3);
    pull_opts o = base_opts(url, g_sha, &pr);
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    /* a retry asks only for the rest of its range: everything comes once (plus headers) */
    CHECKF(px_down() < g_size + 65536, "fetched %llu of %llu", (unsigned long long)px_down(),
           (unsigned long long)g_size);
    CHECK(n_listed(s) == 1);
    store_close(s);
}

static void interrupted_pull_resumes_after_restart(void)
{
    char url[256];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/test.gguf");
    px_set(PX_DEAD_AFTER, g_size / 2);
    pull_opts o = base_opts(url, g_sha, &pr);
    o.n_connections = 2;
    o.max_retries = 1;
    o.timeout_s = 1;
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == UH_EIO, "rc %d: %s", rc, err.msg);
    CHECK(n_listed(s) == 0);
    CHECK(s && has_state_file(s));
    uint64_t arrived = pr.last_done;
    CHECKF(arrived >= g_size / 4, "only %llu bytes before the cut", (unsigned long long)arrived);
    /* a new call (as after a restart of the program) resumes */
    px_set(PX_PASS, 0);
    prog pr2 = {0};
    o = base_opts(url, g_sha, &pr2);
    o.n_connections = 2;
    rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    uint64_t chunk = test_chunk_size(2);
    CHECKF(px_down() <= g_size - arrived + 2 * chunk + 65536,
           "refetched: %llu bytes for %llu missing", (unsigned long long)px_down(),
           (unsigned long long)(g_size - arrived));
    CHECK(n_listed(s) == 1 && strcmp(e.sha256, g_sha) == 0);
    CHECK(s && n_files(store_partial_dir(s)) == 0);
    store_close(s);
}

static void cancelled_pull_resumes(void)
{
    char url[256];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/test.gguf");
    px_set(PX_PASS, 0);
    px.slow = 1; /* slow enough for progress reports to come during the transfer */
    pull_opts o = base_opts(url, g_sha, &pr);
    o.n_connections = 2;
    pr.cancel_at = g_size / 2;
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == UH_EIO && strstr(err.msg, "cancelled"), "rc %d: %s", rc, err.msg);
    CHECK(n_listed(s) == 0);
    CHECK(s && has_state_file(s));
    uint64_t arrived = pr.last_done;
    prog pr2 = {0};
    px_set(PX_PASS, 0);
    o = base_opts(url, g_sha, &pr2);
    o.n_connections = 2;
    rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    uint64_t chunk = test_chunk_size(2);
    CHECKF(px_down() <= g_size - arrived + 2 * chunk + 65536,
           "refetched: %llu bytes for %llu missing", (unsigned long long)px_down(),
           (unsigned long long)(g_size - arrived));
    CHECK(n_listed(s) == 1);
    store_close(s);
}

static void server_ignoring_ranges_gives_correct_file(void)
{
    char url[256], src[512];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/norange/test.gguf");
    px_set(PX_PASS, 0);
    pull_opts o = base_opts(url, g_sha, &pr);
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    snprintf(src, sizeof src, "%s/www/test.gguf", g_dir);
    CHECK(rc == 0 && same_file(e.path, src));
    CHECK(s && n_files(store_partial_dir(s)) == 0);
    store_close(s);
}

static void published_digest_is_used(void)
{
    char url[256];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/linked/test.gguf");
    px_set(PX_PASS, 0);
    pull_opts o = base_opts(url, NULL, &pr);
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    CHECK(rc == 0 && strcmp(e.sha256, g_sha) == 0);
    store_close(s);
}

static void checksum_mismatch_is_rejected(void)
{
    char url[256], blob[4096];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/badsum/test.gguf");
    px_set(PX_PASS, 0);
    pull_opts o = base_opts(url, NULL, &pr);
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == UH_EFORMAT && strstr(err.msg, "sha256 mismatch"), "rc %d: %s", rc, err.msg);
    CHECK(n_listed(s) == 0);
    CHECK(s && !store_has_blob(s, g_sha));
    if (s) store_blob_path(s, g_sha, blob, sizeof blob);
    CHECK(access(blob, F_OK) != 0);
    CHECK(s && n_files(store_partial_dir(s)) == 0);
    /* the same with an explicit, wrong --sha256 */
    url_for(url, sizeof url, "/test.gguf");
    char wrong[65];
    memcpy(wrong, g_sha, 65);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    o = base_opts(url, wrong, &pr);
    rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == UH_EFORMAT && strstr(err.msg, wrong), "rc %d: %s", rc, err.msg);
    CHECK(n_listed(s) == 0);
    CHECK(s && n_files(store_partial_dir(s)) == 0);
    store_close(s);
}

static void unverifiable_url_is_refused_unless_asked(void)
{
    char url[256];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/test.gguf");
    px_set(PX_PASS, 0);
    pull_opts o = base_opts(url, NULL, &pr);
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == UH_EINVAL && strstr(err.msg, "--sha256"), "rc %d: %s", rc, err.msg);
    CHECKF(px_down() < 4096, "downloaded %llu bytes anyway", (unsigned long long)px_down());
    o.no_verify = 1;
    rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == 0 && strcmp(e.sha256, g_sha) == 0, "rc %d: %s", rc, err.msg);
    store_close(s);
}

static void not_found_is_a_clear_error(void)
{
    char url[256];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/missing.gguf");
    px_set(PX_PASS, 0);
    pull_opts o = base_opts(url, g_sha, &pr);
    double t0 = clock_mono_s();
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    CHECKF(rc == UH_EIO && strstr(err.msg, "HTTP 404"), "rc %d: %s", rc, err.msg);
    CHECKF(clock_mono_s() - t0 < 2, "took %.1f s (a 404 is not retried)", clock_mono_s() - t0);
    CHECK(n_listed(s) == 0);
    store_close(s);
}

static void stalled_server_times_out_with_bounded_retries(void)
{
    char url[256];
    prog pr = {0};
    store_entry e;
    uh_err err = {0};
    store *s = case_store();
    url_for(url, sizeof url, "/test.gguf");
    px_set(PX_STALL_AFTER, g_size / 3);
    pull_opts o = base_opts(url, g_sha, &pr);
    o.timeout_s = 1;
    o.max_retries = 2;
    double t0 = clock_mono_s();
    int rc = s ? pull_model(s, &o, &e, &err) : -1;
    double dt = clock_mono_s() - t0;
    CHECKF(rc == UH_EIO && strstr(err.msg, "timed out") && strstr(err.msg, "3 times"),
           "rc %d: %s", rc, err.msg);
    CHECKF(dt < 20, "took %.1f s", dt);
    CHECK(n_listed(s) == 0);
    /* a server that never answers at all: the first request times out too */
    px_set(PX_STALL_AFTER, 0);
    t0 = clock_mono_s();
    rc = s ? pull_model(s, &o, &e, &err) : -1;
    dt = clock_mono_s() - t0;
    CHECKF(rc == UH_EIO && strstr(err.msg, "timed out"), "rc %d: %s", rc, err.msg);
    CHECKF(dt < 30, "took %.1f s", dt);
    px_set(PX_PASS, 0);
    store_close(s);
}

static void bad_urls_are_refused(void)
{
    char out[PULL_MAX_URL + 1];
    uh_err err = {0};
    CHECK(pull_map_url("hf://org/repo/dir/f.gguf", out, sizeof out, &err) == 0);
    CHECK(strcmp(out, "https://huggingface.co/org/repo/resolve/main/dir/f.gguf") == 0);
    CHECK(pull_map_url("hf://org/f.gguf", out, sizeof out, &err) == UH_EINVAL);
    CHECK(pull_map_url("ftp://x/y.gguf", out, sizeof out, &err) == UH_EINVAL);
    CHECK(pull_map_url("http://x/a b.gguf", out, sizeof out, &err) == UH_EINVAL);
    char *longu = malloc(PULL_MAX_URL + 64);
    if (longu) {
        memset(longu, 'a', PULL_MAX_URL + 63);
        memcpy(longu, "http://", 7);
        longu[PULL_MAX_URL + 63] = 0;
        CHECK(pull_map_url(longu, out, sizeof out, &err) == UH_ELIMIT);
        free(longu);
    }
    char name[STORE_MAX_NAME + 1], tag[STORE_MAX_TAG + 1];
    CHECK(pull_default_name("https://h/x/Llama-3.2-1B-Q4_K_M.gguf?download=1", name, tag, &err) ==
          0);
    CHECK(strcmp(name, "llama-3.2-1b-q4_k_m") == 0 && strcmp(tag, "latest") == 0);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    if (sodium_init() < 0) return 1;
    qtypes_init();
    signal(SIGPIPE, SIG_IGN);
    if (access(NGINX, X_OK) != 0) {
        printf("FAIL nginx_present (%s not found: install nginx-light, see scripts/install-deps)\n",
               NGINX);
        return 1;
    }
    if (setup() != 0 || px_start() != 0 || start_nginx() != 0) {
        printf("FAIL nginx_started (setup in %s failed: %s)\n", g_dir, strerror(errno));
        stop_nginx();
        return 1;
    }
    T_RUN(bad_urls_are_refused);
    T_RUN(full_pull_stores_verified_file);
    T_RUN(second_pull_is_instant_and_offline);
    T_RUN(dropped_connection_is_retried_without_refetching);
    T_RUN(interrupted_pull_resumes_after_restart);
    T_RUN(cancelled_pull_resumes);
    T_RUN(server_ignoring_ranges_gives_correct_file);
    T_RUN(published_digest_is_used);
    T_RUN(checksum_mismatch_is_rejected);
    T_RUN(unverifiable_url_is_refused_unless_asked);
    T_RUN(not_found_is_a_clear_error);
    T_RUN(stalled_server_times_out_with_bounded_retries);
    stop_nginx();
    pthread_mutex_lock(&px.mu);
    px.stop = 1;
    pthread_mutex_unlock(&px.mu);
    shutdown(px.listen_fd, SHUT_RDWR);
    close(px.listen_fd);
    usleep(100000); /* let the proxy threads see stop */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", g_dir);
    return t_exit();
}
