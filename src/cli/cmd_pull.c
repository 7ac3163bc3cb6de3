/* cmd_pull.c - `unhosted pull (NAME[:TAG] | URL | hf://ORG/REPO/FILE.gguf) [options]`:
 * downloads a model into the store (models/pull.h does the work).
 *
 * A name is looked up in the built-in registry (models/registry.h); entries of architectures this
 * build cannot run are refused before anything is fetched. On a terminal the progress is one
 * line redrawn at most ten times a second (percent, bytes, speed, ETA); otherwise a plain line
 * every few seconds, so logs stay readable. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "models/pull.h"
#include "models/registry.h"
#include "models/store.h"

#define PLAIN_EVERY 5.0 /* seconds between progress lines when stderr is not a terminal */
#define TTY_EVERY   0.1

static void pull_usage(FILE *f)
{
    fprintf(f,
            "usage: unhosted pull (NAME[:TAG] | URL | hf://ORG/REPO/FILE.gguf) [options]\n"
            "  NAME[:TAG]        a model of the built-in registry ('unhosted models --available')\n"
            "  URL               an http:// or https:// URL of a GGUF file\n"
            "  hf://ORG/REPO/F   a Hugging Face file: https://huggingface.co/ORG/REPO/resolve/main/F\n"
            "  --sha256 HEX      expected SHA-256 of the file (else the server's published digest)\n"
            "  --name NAME[:TAG] store the model under this name (default: the registry name, or\n"
            "                    the file name of the URL)\n"
            "  -j N              parallel connections (1..16, default 4)\n"
            "  --no-verify       accept a file nobody published a digest for (not recommended)\n"
            "A pull that stops (network, Ctrl-C) resumes where it stopped when run again.\n");
}

typedef struct {
    int tty;
    double t0, t_last;
    int drawn; /* a progress line is on screen (tty) */
} pull_view;

static void human(double b, char *buf, size_t cap)
{
    if (b >= 1 << 30)
        snprintf(buf, cap, "%.2f GiB", b / (1 << 30));
    else
        snprintf(buf, cap, "%.1f MiB", b / (1 << 20));
}

static int on_progress(const pull_progress *p, void *ud)
{
    pull_view *v = ud;
    double now = clock_mono_s();
    int final = strcmp(p->status, "downloading") != 0;
    if (strcmp(p->status, "resolving") == 0) return 0;
    if (!final && now - v->t_last < (v->tty ? TTY_EVERY : PLAIN_EVERY)) return 0;
    if (final && strcmp(p->status, "verifying") != 0) return 0;
    v->t_last = now;
    char done[32], total[32], speed[32], eta[32] = "?";
    human((double)p->done, done, sizeof done);
    human((double)p->total, total, sizeof total);
    human(p->bytes_per_s, speed, sizeof speed);
    double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 0;
    if (p->bytes_per_s > 0 && p->total >= p->done) {
        long s = (long)((double)(p->total - p->done) / p->bytes_per_s);
        snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    if (v->tty) {
        fprintf(stderr, "\r\033[K%s %5.1f%%  %s / %s  %s/s  ETA %s", p->status, pct, done, total,
                speed, eta);
        v->drawn = 1;
    } else {
        fprintf(stderr, "%s %.1f%% %s of %s, %s/s, ETA %s\n", p->status, pct, done, total, speed,
                eta);
    }
    fflush(stderr);
    return 0;
}

int cmd_pull(int argc, char **argv)
{
    const char *what = NULL, *sha = NULL, *as = NULL;
    long n_conn = 0;
    int no_verify = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            pull_usage(stdout);
            return 0;
        } else if (strcmp(a, "--sha256") == 0) {
            if (!(sha = cli_value("pull", argc, argv, &i))) return 2;
        } else if (strcmp(a, "--name") == 0) {
            if (!(as = cli_value("pull", argc, argv, &i))) return 2;
        } else if (strcmp(a, "-j") == 0 || strcmp(a, "--connections") == 0) {
            const char *v = cli_value("pull", argc, argv, &i);
            if (!v) return 2;
            if (cli_parse_long(v, 1, 16, &n_conn) != 0) {
                cli_error("pull", "-j %s: expected 1..16", v);
                return 2;
            }
        } else if (strcmp(a, "--no-verify") == 0) {
            no_verify = 1;
        } else if (a[0] == '-') {
            cli_error("pull", "unknown option %s", a);
            pull_usage(stderr);
            return 2;
        } else if (!what) {
            what = a;
        } else {
            cli_error("pull", "more than one model given (%s)", a);
            return 2;
        }
    }
    if (!what) {
        pull_usage(stderr);
        return 2;
    }

    uh_err err = {0};
    pull_target t;
    int rc = pull_resolve_target(what, as, sha, &t, &err);
    if (rc != 0) {
        cli_error("pull", "%s", err.msg);
        return rc == UH_EINVAL ? 2 : 1;
    }
    pull_opts o = {0};
    o.sha256 = t.sha256;
    o.size = t.size;
    pull_view view = {isatty(2), clock_mono_s(), 0, 0};
    o.url = t.url;
    o.name = t.name;
    o.tag = t.tag;
    o.n_connections = (int)n_conn;
    o.no_verify = no_verify;
    o.progress = on_progress;
    o.progress_ud = &view;

    store *s = NULL;
    store_entry e;
    if (store_open(&s, &err) != 0) {
        cli_error("pull", "%s", err.msg);
        return 1;
    }
    fprintf(stderr, "pulling %s:%s from %s\n", t.name, t.tag, t.url);
    rc = pull_model(s, &o, &e, &err);
    store_close(s);
    if (view.drawn) fputc('\n', stderr);
    if (rc != 0) {
        cli_error("pull", "%s", err.msg);
        return 1;
    }
    double dt = clock_mono_s() - view.t0;
    printf("pulled %s:%s sha256:%s %.1f MiB in %.1f s\n", e.name, e.tag, e.sha256,
           (double)e.size / (1 << 20), dt);
    return 0;
}
