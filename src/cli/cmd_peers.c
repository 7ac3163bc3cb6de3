/* cmd_peers.c - the devices the running node knows, through its admin API:
 *   unhosted peers [--json]       paired and discovered devices (table or the node's JSON)
 *   unhosted peer add HOST:PORT   a device to contact by address
 *   unhosted revoke DEVICE        forget a paired device (id or a prefix of it)
 * Each also takes --node HOST:PORT (see node_client.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_util.h"
#include "cli/node_client.h"

#define MODELS_COL 24 /* characters of the MODELS column */

static const char NODE_HELP[] =
    "  --node HOST:PORT   the node's HTTP address (default: the one in <config>/node.json,\n"
    "                     else 127.0.0.1:7777)\n";

/* ---- peers ---- */

static void print_peer(const cJSON *p)
{
    char shortid[16], name[24], ring[12], rtt[16], models[MODELS_COL + 1], load[32], addr[72];
    node_client_printable(node_client_str(p, "short"), shortid, sizeof shortid);
    node_client_printable(node_client_str(p, "name"), name, sizeof name);
    node_client_printable(node_client_str(p, "addr")[0] ? node_client_str(p, "addr") : "-", addr,
                          sizeof addr);
    int paired = node_client_bool(p, "paired");
    int online = paired && node_client_bool(p, "online");
    const char *state = !paired ? "discovered" : online ? "online" : "offline";
    node_client_printable(paired ? node_client_str(p, "ring") : "-", ring, sizeof ring);
    double rtt_ms = node_client_num(p, "rtt_ms", 0);
    if (online && rtt_ms > 0)
        snprintf(rtt, sizeof rtt, "%.1fms", rtt_ms);
    else
        snprintf(rtt, sizeof rtt, "-");
    size_t n = 0;
    const cJSON *m;
    models[0] = '\0';
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(p, "models"))
    {
        if (!cJSON_IsString(m)) continue;
        char one[MODELS_COL + 1];
        node_client_printable(m->valuestring, one, sizeof one);
        int w = snprintf(models + n, sizeof models - n, "%s%s", n ? "," : "", one);
        if (w < 0 || (size_t)w >= sizeof models - n) {
            memcpy(models + sizeof models - 4, "...", 4);
            break;
        }
        n += (size_t)w;
    }
    if (!models[0]) snprintf(models, sizeof models, "-");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(p, "load");
    if (online && cJSON_IsObject(l)) {
        int queued = (int)node_client_num(l, "queued", 0);
        snprintf(load, sizeof load, "%d/%d", (int)node_client_num(l, "active", 0),
                 (int)node_client_num(l, "slots", 0));
        if (queued > 0) snprintf(load + strlen(load), sizeof load - strlen(load), "+%d", queued);
    } else {
        snprintf(load, sizeof load, "-");
    }
    printf("%-8s %-16s %-10s %-7s %-8s %-*s %-7s %s\n", shortid, name, state, ring, rtt, MODELS_COL,
           models, load, addr);
}

int cmd_peers(int argc, char **argv)
{
    const char *node_addr = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: unhosted peers [--json] [--node HOST:PORT]\n"
                   "Paired and discovered devices: state (online, offline, discovered), ring,\n"
                   "round trip, models and load.\n"
                   "  --json             the node's answer as JSON\n%s",
                   NODE_HELP);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--node")) {
            if (!(node_addr = cli_value("peers", argc, argv, &i))) return 2;
        } else {
            cli_error("peers", "unexpected argument %s (see --help)", argv[i]);
            return 2;
        }
    }
    node_client *c = node_client_cli_open("peers", node_addr);
    if (!c) return 1;
    cJSON *ans = NULL;
    uh_err err = {0};
    int rc = 1;
    if (node_client_get(c, "/admin/peers", &ans, NULL, &err) != 0) {
        cli_error("peers", "%s", err.msg);
        goto done;
    }
    const cJSON *peers = cJSON_GetObjectItemCaseSensitive(ans, "peers");
    if (!cJSON_IsArray(peers)) {
        cli_error("peers", "the node's answer has no peer list");
        goto done;
    }
    if (json) {
        char *text = cJSON_Print(ans);
        if (!text) goto done;
        printf("%s\n", text);
        free(text);
    } else if (cJSON_GetArraySize(peers) == 0) {
        printf("no peers yet: pair a device with 'unhosted pair' or 'unhosted invite'\n");
    } else {
        printf("%-8s %-16s %-10s %-7s %-8s %-*s %-7s %s\n", "SHORT-ID", "NAME", "STATE", "RING",
               "RTT", MODELS_COL, "MODELS", "LOAD", "ADDR");
        const cJSON *p;
        cJSON_ArrayForEach(p, peers) print_peer(p);
    }
    rc = 0;
done:
    cJSON_Delete(ans);
    node_client_free(c);
    return rc;
}

/* ---- peer add / revoke ---- */

/* Parses "[options] ARG" for a command taking one argument and --node. Returns -1 to go on,
 * else the exit status. */
static int one_arg(const char *cmd, const char *help, int argc, char **argv, const char **arg,
                   const char **node_addr)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s%s", help, NODE_HELP);
            return 0;
        } else if (!strcmp(argv[i], "--node")) {
            if (!(*node_addr = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error(cmd, "unknown option %s (see --help)", argv[i]);
            return 2;
        } else if (*arg) {
            cli_error(cmd, "unexpected argument %s (see --help)", argv[i]);
            return 2;
        } else {
            *arg = argv[i];
        }
    }
    if (!*arg) {
        fprintf(stderr, "%s", help);
        return 2;
    }
    return -1;
}

/* POSTs {key: value} to path; prints the answer's field out_key after label. */
static int post_one(const char *cmd, const char *node_addr, const char *path, const char *key,
                    const char *value, const char *out_key, const char *label)
{
    node_client *c = node_client_cli_open(cmd, node_addr);
    if (!c) return 1;
    cJSON *body = cJSON_CreateObject(), *ans = NULL;
    uh_err err = {0};
    int rc = 1;
    if (!body || !cJSON_AddStringToObject(body, key, value)) goto done;
    if (node_client_post(c, path, body, 0, &ans, NULL, &err) != 0) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    char id[80];
    node_client_printable(node_client_str(ans, out_key), id, sizeof id);
    printf("%s %s\n", label, id);
    rc = 0;
done:
    cJSON_Delete(body);
    cJSON_Delete(ans);
    node_client_free(c);
    return rc;
}

int cmd_peer(int argc, char **argv)
{
    static const char help[] =
        "usage: unhosted peer add HOST:PORT [--node HOST:PORT]\n"
        "Adds a device to contact by address (its peer port, 7778 by default); it then shows\n"
        "in 'unhosted peers' as discovered and can be paired with 'unhosted pair'.\n";
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("%s%s", help, NODE_HELP);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        if (argc >= 2) cli_error("peer", "unknown subcommand '%s'", argv[1]);
        fprintf(stderr, "%s", help);
        return 2;
    }
    const char *addr = NULL, *node_addr = NULL;
    int rc = one_arg("peer add", help, argc - 1, argv + 1, &addr, &node_addr);
    if (rc >= 0) return rc;
    if (!node_client_addr_valid(addr)) {
        cli_error("peer add", "%s: expected HOST:PORT (port 1-65535)", addr);
        return 2;
    }
    return post_one("peer add", node_addr, "/admin/peers/add", "addr", addr, "id", "added");
}

int cmd_revoke(int argc, char **argv)
{
    static const char help[] =
        "usage: unhosted revoke DEVICE [--node HOST:PORT]\n"
        "Forgets a paired device (its id, or enough of its start to name one); its next\n"
        "connection is refused.\n";
    const char *dev = NULL, *node_addr = NULL;
    int rc = one_arg("revoke", help, argc, argv, &dev, &node_addr);
    if (rc >= 0) return rc;
    if (strlen(dev) > 63) {
        cli_error("revoke", "%.20s...: too long for a device id", dev);
        return 2;
    }
    return post_one("revoke", node_addr, "/admin/revoke", "id", dev, "revoked", "revoked");
}
