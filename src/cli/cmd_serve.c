/* cmd_serve.c - the node: its HTTP API, its peer listener, and its token:
 *   unhosted serve [--listen HOST:PORT] [--peer-listen HOST:PORT|off] [--no-mdns]
 *                  [--mdns-interface IF] [--require-token] [--model NAME_OR_PATH ...]
 *                  [--parallel N] [--ctx N] [--queue N] [--mem-budget BYTES]
 *   unhosted token [--path]
 * serve runs until SIGTERM or SIGINT, then stops gracefully (open streams get a few seconds to
 * finish) and exits 0. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "base/paths.h"
#include "cluster/node.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "server/api_admin.h"
#include "server/api_delete.h"
#include "server/api_pull.h"
#include "server/api.h"
#include "exec/models.h"
#include "server/http.h"
#include "server/http_auth.h"
#include "server/web.h"

#ifndef UNHOSTED_VERSION
#define UNHOSTED_VERSION "0.1.0"
#endif

#define SERVE_MAX_MODELS 16
#define SERVE_GRACE_MS   5000
#define SERVE_DEFAULT_PEER "127.0.0.1:7778"

typedef struct {
    const char *listen;
    const char *peer_listen; /* NULL = the default (loopback, optional) */
    int no_mdns;
    const char *mdns_ifname;
    int require_token;
    const char *models[SERVE_MAX_MODELS];
    int n_models;
    long parallel;    /* sequences decoded together; 0 = default */
    long threads;     /* evaluation threads; 0 = all online CPUs */
    long n_ctx;       /* context per sequence; 0 = min(the model's, 4096) */
    long queue;       /* requests waiting per model before 429; 0 = 64 */
    uint64_t mem_budget; /* bytes for weights + KV; 0 = no limit */
} serve_opts;

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: unhosted serve [options]\n"
            "  --listen HOST:PORT   address to listen on (default %s); any address outside\n"
            "                       the loopback range requires the API token\n"
            "  --peer-listen HOST:PORT\n"
            "                       where other devices reach this one (encrypted, paired\n"
            "                       devices only; default %s, i.e. this machine only);\n"
            "                       0.0.0.0:%d opens it to the network, 'off' closes it\n"
            "  --no-mdns            do not announce this node on the local network\n"
            "  --mdns-interface IF  announce and browse on this interface only\n"
            "  --require-token      require the API token from every client, local ones too\n"
            "  --model NAME|PATH    a model to serve (repeatable)\n"
            "  --parallel N         sequences generated together (continuous batching)\n"
            "  --threads N          threads evaluating the model (default: all CPUs)\n"
            "  --ctx N              context length per sequence (default: the model's, at\n"
            "                       most 4096)\n"
            "  --queue N            requests that may wait for a slot, per model (default 64);\n"
            "                       more are answered 429\n"
            "  --mem-budget BYTES   memory for weights and KV caches; models are loaded on\n"
            "                       demand and the least recently used idle one is unloaded\n"
            "                       when the next would not fit\n"
            "Stops on SIGTERM / SIGINT: open streams get %d s to finish.\n",
            HTTP_DEFAULT_LISTEN, SERVE_DEFAULT_PEER, NODE_DEFAULT_PEER_PORT, SERVE_GRACE_MS / 1000);
}

static int parse_serve(int argc, char **argv, serve_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage(stdout);
            return 1;
        } else if (!strcmp(a, "--require-token")) {
            o->require_token = 1;
        } else if (!strcmp(a, "--listen")) {
            if (!(o->listen = cli_value("serve", argc, argv, &i))) return -1;
            http_listen l;
            uh_err err = {0};
            if (http_parse_listen(o->listen, &l, &err) != 0) {
                cli_error("serve", "--listen %s", err.msg);
                return -1;
            }
        } else if (!strcmp(a, "--peer-listen")) {
            if (!(o->peer_listen = cli_value("serve", argc, argv, &i))) return -1;
        } else if (!strcmp(a, "--no-mdns")) {
            o->no_mdns = 1;
        } else if (!strcmp(a, "--mdns-interface")) {
            if (!(o->mdns_ifname = cli_value("serve", argc, argv, &i))) return -1;
        } else if (!strcmp(a, "--model")) {
            if (!(v = cli_value("serve", argc, argv, &i))) return -1;
            if (o->n_models == SERVE_MAX_MODELS) {
                cli_error("serve", "at most %d --model options", SERVE_MAX_MODELS);
                return -1;
            }
            o->models[o->n_models++] = v;
        } else if (!strcmp(a, "--parallel")) {
            if (!(v = cli_value("serve", argc, argv, &i))) return -1;
            if (cli_parse_long(v, 1, 256, &o->parallel) != 0) {
                cli_error("serve", "--parallel must be 1..256");
                return -1;
            }
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            if (!(v = cli_value("serve", argc, argv, &i))) return -1;
            if (cli_parse_long(v, 1, 1024, &o->threads) != 0) {
                cli_error("serve", "--threads must be 1..1024");
                return -1;
            }
        } else if (!strcmp(a, "--ctx")) {
            if (!(v = cli_value("serve", argc, argv, &i))) return -1;
            if (cli_parse_long(v, 16, 1 << 24, &o->n_ctx) != 0) {
                cli_error("serve", "--ctx must be 16..16777216");
                return -1;
            }
        } else if (!strcmp(a, "--queue")) {
            if (!(v = cli_value("serve", argc, argv, &i))) return -1;
            if (cli_parse_long(v, 1, 65536, &o->queue) != 0) {
                cli_error("serve", "--queue must be 1..65536");
                return -1;
            }
        } else if (!strcmp(a, "--mem-budget")) {
            if (!(v = cli_value("serve", argc, argv, &i))) return -1;
            if (cli_parse_u64(v, &o->mem_budget) != 0) {
                cli_error("serve", "--mem-budget must be a number of bytes");
                return -1;
            }
        } else {
            cli_error("serve", "unknown option %s", a);
            serve_usage(stderr);
            return -1;
        }
    }
    return 0;
}

/* <config>/node.json tells CLI commands with the same home where this node listens. */
static void write_node_json(const char *http_host, int http_port, node *nd, char *path, size_t cap)
{
    char dir[4096];
    path[0] = '\0';
    if (paths_ensure_dir(PATHS_CONFIG, dir, sizeof dir) != 0) return;
    snprintf(path, cap, "%s/node.json", dir);
    buf_t b;
    buf_init(&b, 0);
    int rc = buf_printf(
        &b, "{\"http\":\"%s:%d\",\"peer_port\":%d,\"id\":\"%s\",\"pid\":%ld}\n",
        strcmp(http_host, "0.0.0.0") == 0 || strcmp(http_host, "::") == 0 ? "127.0.0.1" : http_host,
        http_port, nd ? node_peer_port(nd) : 0, nd ? identity_device_id(node_identity(nd)) : "",
        (long)getpid());
    if (rc != 0 || file_write_atomic(path, b.data, b.len, 0644, NULL) != 0) path[0] = '\0';
    buf_fini(&b);
}

int cmd_serve(int argc, char **argv)
{
    serve_opts o = {.listen = HTTP_DEFAULT_LISTEN};
    int prc = parse_serve(argc, argv, &o);
    if (prc != 0) return prc > 0 ? 0 : 2;

    /* Signals are taken by sigwait on this thread only: block them before any thread starts. */
    sigset_t stop_set, old_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, &old_set);
    signal(SIGPIPE, SIG_IGN);

    uh_err err = {0};
    http_server *srv = NULL;
    exec_models *am = NULL;
    api_server *api = NULL;
    node *nd = NULL;
    char node_json[4200] = "";
    http_config cfg = {.listen = o.listen, .require_token = o.require_token,
                       .version = UNHOSTED_VERSION};
    int rc = 1;
    exec_models_params mp = {.n_slots = (int)o.parallel, .n_ctx = (int)o.n_ctx,
                            .queue_max = (int)o.queue, .n_threads = (int)o.threads,
                            .mem_budget = o.mem_budget};
    if (http_server_new(&cfg, &srv, &err) != 0 ||
        exec_models_new(&mp, http_server_metrics(srv), &am, &err) != 0) {
        cli_error("serve", "%s", err.msg);
        goto done;
    }
    for (int i = 0; i < o.n_models; i++) {
        if (exec_models_add_configured(am, o.models[i], &err) != 0) {
            cli_error("serve", "--model %s", err.msg);
            goto done;
        }
    }
    if (api_register(srv, am, &api, &err) != 0 ||
        (api_pull_register(srv) != 0 && err_setf(&err, UH_ELIMIT, "cannot add /api/pull")) ||
        (api_delete_register(srv) != 0 && err_setf(&err, UH_ELIMIT, "cannot add /api/delete"))) {
        cli_error("serve", "%s", err.msg);
        goto done;
    }
    node_config nc = {
        .peer_listen = o.peer_listen ? o.peer_listen : SERVE_DEFAULT_PEER,
        .mdns = !o.no_mdns,
        .mdns_ifname = o.mdns_ifname,
        .models = am,
    };
    if (node_start(&nc, &nd, &err) != 0) {
        if (o.peer_listen) {
            cli_error("serve", "%s", err.msg);
            goto done;
        }
        /* The default peer port is taken (another node on this machine): go on without. */
        fprintf(stderr, "unhosted serve: %s; other devices cannot reach this node (use "
                        "--peer-listen)\n", err.msg);
        nc.peer_listen = "off";
        if (node_start(&nc, &nd, &err) != 0) {
            cli_error("serve", "%s", err.msg);
            goto done;
        }
    }
    api_set_node(api, nd);
    if (api_admin_register(srv, nd, UNHOSTED_VERSION, &err) != 0 || web_register(srv, &err) != 0 ||
        http_server_start(srv, &err) != 0) {
        cli_error("serve", "%s", err.msg);
        goto done;
    }
    http_listen l;
    http_parse_listen(o.listen, &l, NULL);
    printf("listening on http://%s:%d\n", l.host, http_server_port(srv));
    printf("device %s", identity_device_id(node_identity(nd)));
    if (node_peer_port(nd)) printf(", peers on port %d", node_peer_port(nd));
    printf("\n");
    write_node_json(l.host, http_server_port(srv), nd, node_json, sizeof node_json);
    if (http_server_is_public(srv))
        printf("clients outside this machine need the API token (Authorization: Bearer "
               "<token>); `unhosted token` prints it, it is stored in %s\n",
               http_server_token_path(srv));
    else if (o.require_token)
        printf("every client needs the API token; `unhosted token` prints it (%s)\n",
               http_server_token_path(srv));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop_set, &sig) != 0) {
    }
    log_info("serve_signal", "signal=%d", sig);
    api_begin_stop(api, SERVE_GRACE_MS);
    http_server_stop(srv, SERVE_GRACE_MS);
    rc = 0;
done:
    if (node_json[0]) remove(node_json);
    http_server_stop(srv, 0);
    node_stop(nd); /* runs for peers end; their streams close */
    exec_models_free(am); /* the last scheduler events close their streams */
    api_free(api);
    http_server_free(srv);
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    return rc;
}

int cmd_token(int argc, char **argv)
{
    int want_path = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--path")) {
            want_path = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: unhosted token [--path]\n"
                   "Prints the API token of `unhosted serve` (creating it on first use), or with\n"
                   "--path the file that holds it (mode 0600).\n");
            return 0;
        } else {
            cli_error("token", "unknown option %s", argv[i]);
            return 2;
        }
    }
    char path[4096];
    uh_err err = {0};
    http_token tok;
    if (http_token_default_path(path, sizeof path) != 0) {
        cli_error("token", "cannot find the config directory");
        return 1;
    }
    if (http_token_load_or_create(path, &tok, NULL, &err) != 0) {
        cli_error("token", "%s", err.msg);
        return 1;
    }
    printf("%s\n", want_path ? path : tok.hex);
    http_token_wipe(&tok);
    return 0;
}
