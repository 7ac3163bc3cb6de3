/* cmd_pair.c - pairing through the running node's admin API:
 *   unhosted pair DEVICE [--ring own|trusted] [--quota N] [--code CODE] [--timeout S]
 *                 [--no-confirm] [--json]
 *   unhosted pairing [--json]
 *   unhosted pairing accept ID [--code CODE] [--ring R] [--quota N] [--wait] [--timeout S]
 *   unhosted pairing reject ID
 *   unhosted invite [--ring R] [--quota N] [--ttl S] [--json]
 *   unhosted join CODE [--quota N]
 * Each also takes --node HOST:PORT (node_client.h).
 *
 * pair starts a pairing, waits for the 6-digit code, shows it, and then decides: with --code it
 * accepts when the code given is the one shown (the node compares; a different code rejects on
 * both devices); on a terminal it asks; with --no-confirm it stops there and leaves the decision
 * to `pairing accept|reject` (for scripts: --json prints the pairing with its id and code). It
 * then waits for the outcome and exits 0 only when both devices confirmed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "cli/node_client.h"
#include "server/api_admin.h"

#define PAIR_TIMEOUT_DEFAULT 120 /* seconds to wait for the code, then for the outcome */
#define PAIR_TIMEOUT_MAX     3600
#define PAIR_POLL_US         200000
#define QUOTA_MAX            1000000000000000L
#define NAME_PRINT_MAX       72 /* bytes of a device name as printed */

static const char NODE_HELP[] =
    "  --node HOST:PORT   the node's HTTP address (default: the one in <config>/node.json,\n"
    "                     else 127.0.0.1:7777)\n";

/* Options shared by the commands here; which ones a command takes is checked in its parser. */
typedef struct {
    const char *node_addr;
    const char *ring; /* NULL = the node's default */
    long quota;       /* -1 = not given */
    const char *code; /* as typed */
    char code6[7];    /* its digits */
    long timeout_s;
    long ttl_s; /* -1 = not given */
    int json, no_confirm, wait;
    const char *arg; /* the one positional argument */
} pair_opts;

/* Parses argv[from..]. allowed: the options the command takes, e.g. "ring,quota,code". Returns
 * -1 to go on, else the exit status (help printed: 0; usage error: 2). */
static int parse_opts(const char *cmd, const char *help, const char *allowed, int argc, char **argv,
                      int from, pair_opts *o)
{
    o->quota = -1;
    o->ttl_s = -1;
    o->timeout_s = PAIR_TIMEOUT_DEFAULT;
    for (int i = from; i < argc; i++) {
        const char *a = argv[i], *v;
        int known = a[0] == '-' && a[1] == '-' && strstr(allowed, a + 2) != NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s%s", help, NODE_HELP);
            return 0;
        } else if (!strcmp(a, "--node")) {
            if (!(o->node_addr = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (known && !strcmp(a, "--json")) {
            o->json = 1;
        } else if (known && !strcmp(a, "--no-confirm")) {
            o->no_confirm = 1;
        } else if (known && !strcmp(a, "--wait")) {
            o->wait = 1;
        } else if (known && !strcmp(a, "--ring")) {
            if (!(o->ring = cli_value(cmd, argc, argv, &i))) return 2;
            if (strcmp(o->ring, "own") && strcmp(o->ring, "trusted")) {
                cli_error(cmd, "--ring must be own or trusted");
                return 2;
            }
        } else if (known && !strcmp(a, "--quota")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (cli_parse_long(v, 0, QUOTA_MAX, &o->quota) != 0) {
                cli_error(cmd, "--quota must be a number of tokens per day (0 = no limit)");
                return 2;
            }
        } else if (known && !strcmp(a, "--code")) {
            if (!(o->code = cli_value(cmd, argc, argv, &i))) return 2;
            if (api_admin_code_parse(o->code, o->code6) != 0) {
                cli_error(cmd, "--code must be the 6 digits the other device shows");
                return 2;
            }
        } else if (known && !strcmp(a, "--timeout")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (cli_parse_long(v, 1, PAIR_TIMEOUT_MAX, &o->timeout_s) != 0) {
                cli_error(cmd, "--timeout must be 1..%d seconds", PAIR_TIMEOUT_MAX);
                return 2;
            }
        } else if (known && !strcmp(a, "--ttl")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (cli_parse_long(v, ADMIN_INVITE_TTL_MIN, ADMIN_INVITE_TTL_MAX, &o->ttl_s) != 0) {
                cli_error(cmd, "--ttl must be %d..%d seconds", ADMIN_INVITE_TTL_MIN,
                          ADMIN_INVITE_TTL_MAX);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            cli_error(cmd, "unknown option %s (see --help)", a);
            return 2;
        } else if (o->arg || !strstr(allowed, "ARG")) {
            cli_error(cmd, "unexpected argument %s (see --help)", a);
            return 2;
        } else {
            o->arg = a;
        }
    }
    if (strstr(allowed, "ARG") && !o->arg) {
        fprintf(stderr, "%s", help);
        return 2;
    }
    return -1;
}

static void add_common(cJSON *body, const pair_opts *o)
{
    if (o->ring) cJSON_AddStringToObject(body, "ring", o->ring);
    if (o->quota >= 0) cJSON_AddNumberToObject(body, "quota", (double)o->quota);
}

static int print_json(const cJSON *v)
{
    char *text = cJSON_Print(v);
    if (!text) return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* ---- pairing state ---- */

static int state_final(const char *state)
{
    return !strcmp(state, "done") || !strcmp(state, "rejected") || !strcmp(state, "failed");
}

/* GET /admin/pairing?id=pid into *out (the "pairing" object's parent; caller deletes). */
static int get_pairing(node_client *c, const char *pid, cJSON **root, const cJSON **p, uh_err *err)
{
    char path[64];
    snprintf(path, sizeof path, "/admin/pairing?id=%s", pid);
    int rc = node_client_get(c, path, root, NULL, err);
    if (rc != 0) return rc;
    *p = cJSON_GetObjectItemCaseSensitive(*root, "pairing");
    if (!cJSON_IsObject(*p)) {
        cJSON_Delete(*root);
        *root = NULL;
        return UH_EFORMAT;
    }
    return 0;
}

/* Ctrl-C while `pair` waits rejects the pairing instead of leaving it to time out. */
static volatile sig_atomic_t g_interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static void catch_interrupt(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt; /* no SA_RESTART: a blocked read returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Polls the pairing until until_final ? its state is final : its code is known (or it is
 * final). Returns 0 with the last answer, UH_ELIMIT on timeout, or the request's error. */
static int poll_pairing(node_client *c, const char *pid, int until_final, long timeout_s,
                        cJSON **root, const cJSON **p, uh_err *err)
{
    double deadline = clock_mono_s() + (double)timeout_s;
    for (;;) {
        int rc = get_pairing(c, pid, root, p, err);
        if (rc != 0) return rc;
        const char *state = node_client_str(*p, "state");
        if (state_final(state)) return 0;
        if (!until_final && node_client_str(*p, "code")[0] && !strcmp(state, "waiting")) return 0;
        cJSON_Delete(*root);
        *root = NULL;
        if (clock_mono_s() > deadline) return UH_ELIMIT;
        if (g_interrupted) return err_setf(err, UH_EIO, "interrupted");
        usleep(PAIR_POLL_US);
        if (g_interrupted) return err_setf(err, UH_EIO, "interrupted");
    }
}

static void show_code(const cJSON *p)
{
    char code[8], name[NAME_PRINT_MAX], id[72];
    node_client_printable(node_client_str(p, "code"), code, sizeof code);
    node_client_printable(node_client_str(p, "peer_name"), name, sizeof name);
    node_client_printable(node_client_str(p, "peer_id"), id, sizeof id);
    printf("Pairing code: %.3s %.3s\n", code, strlen(code) > 3 ? code + 3 : "");
    printf("Other device: %s (%s)\n", name[0] ? name : "?", id);
    fflush(stdout);
}

/* Prints the outcome of a finished pairing; returns the exit status (0 only for done). */
static int outcome(const char *cmd, const cJSON *p)
{
    const char *state = node_client_str(p, "state");
    char name[NAME_PRINT_MAX], id[72], msg[160];
    node_client_printable(node_client_str(p, "peer_name"), name, sizeof name);
    node_client_printable(node_client_str(p, "peer_id"), id, sizeof id);
    node_client_printable(node_client_str(p, "message"), msg, sizeof msg);
    if (!strcmp(state, "done")) {
        printf("Paired with %s (%s).\n", name[0] ? name : "?", id);
        return 0;
    }
    cli_error(cmd, "pairing %s%s%s", state, msg[0] ? ": " : "", msg);
    return 1;
}

/* POSTs accept or reject for pid. 409 (no longer waiting: the other side decided first) is
 * not an error here: the outcome follows. */
static int decide(const char *cmd, node_client *c, const char *pid, int accept, const pair_opts *o)
{
    cJSON *body = cJSON_CreateObject(), *ans = NULL;
    if (!body) return UH_ENOMEM;
    cJSON_AddStringToObject(body, "id", pid);
    if (accept) {
        if (o->code) cJSON_AddStringToObject(body, "code", o->code6);
        add_common(body, o);
    }
    uh_err err = {0};
    int status = 0;
    int rc = node_client_post(c, accept ? "/admin/pairing/accept" : "/admin/pairing/reject", body,
                              0, &ans, &status, &err);
    if (rc != 0 && status == 409)
        rc = 0;
    else if (rc != 0)
        cli_error(cmd, "%s", err.msg);
    cJSON_Delete(body);
    cJSON_Delete(ans);
    return rc;
}

/* Asks on the terminal; 1 for yes. */
static int ask_confirm(void)
{
    printf("Does the other device show the same code? [y/N] ");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 0;
    return line[0] == 'y' || line[0] == 'Y';
}

/* ---- pair ---- */

int cmd_pair(int argc, char **argv)
{
    static const char help[] =
        "usage: unhosted pair DEVICE [options]\n"
        "Pairs with a device: a discovered one (its id or the start of it, see 'unhosted\n"
        "peers') or HOST:PORT (its peer port). Both devices show the same 6-digit code;\n"
        "each user checks it and confirms.\n"
        "  --ring own|trusted the ring this device gives the other (default own)\n"
        "  --quota N          tokens per day it may generate here (default 0 = no limit)\n"
        "  --code CODE        the code the other device shows: accept if it matches, reject\n"
        "                     if not (no question asked)\n"
        "  --no-confirm       show the code and leave the decision to 'unhosted pairing\n"
        "                     accept|reject ID' (for scripts)\n"
        "  --json             with --no-confirm: print the pairing as JSON\n"
        "  --timeout S        seconds to wait for the code and for the other device\n"
        "                     (default 120)\n";
    pair_opts o = {0};
    int rc =
        parse_opts("pair", help, "ARG,ring,quota,code,timeout,no-confirm,json", argc, argv, 1, &o);
    if (rc >= 0) return rc;
    const char *target = o.arg;
    if (strchr(target, ':')
            ? !node_client_addr_valid(target)
            : strlen(target) >= ADMIN_TARGET_MAX ||
                  strspn(target, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-") != strlen(target)) {
        cli_error("pair", "%.80s: expected a device id (or its start) or HOST:PORT", target);
        return 2;
    }
    if (!o.no_confirm && !o.code && !isatty(STDIN_FILENO)) {
        cli_error("pair", "no terminal to confirm the code on: pass --code CODE (the code the "
                          "other device shows) or --no-confirm");
        return 2;
    }
    node_client *c = node_client_cli_open("pair", o.node_addr);
    if (!c) return 1;
    cJSON *body = cJSON_CreateObject(), *ans = NULL, *root = NULL;
    const cJSON *p = NULL;
    uh_err err = {0};
    char pid[32] = "";
    rc = 1;
    if (!body) goto done;
    cJSON_AddStringToObject(body, "target", target);
    add_common(body, &o);
    if (node_client_post(c, "/admin/pair", body, (int)o.timeout_s + 5, &ans, NULL, &err) != 0) {
        cli_error("pair", "%s", err.msg);
        goto done;
    }
    snprintf(pid, sizeof pid, "%s",
             node_client_str(cJSON_GetObjectItemCaseSensitive(ans, "pairing"), "id"));
    if (!pid[0] || strlen(pid) > 15) {
        cli_error("pair", "the node's answer has no pairing id");
        goto done;
    }
    if (!o.no_confirm) catch_interrupt();
    int prc = poll_pairing(c, pid, 0, o.timeout_s, &root, &p, &err);
    if (g_interrupted) goto interrupted;
    if (prc == UH_ELIMIT) {
        cli_error("pair", "no code after %ld s: is the other device reachable?", o.timeout_s);
        decide("pair", c, pid, 0, &o);
        goto done;
    }
    if (prc != 0) {
        cli_error("pair", "%s", err.msg[0] ? err.msg : "bad answer from the node");
        goto done;
    }
    if (state_final(node_client_str(p, "state"))) {
        rc = outcome("pair", p);
        goto done;
    }
    if (o.no_confirm) {
        if (o.json) {
            rc = print_json(p);
        } else {
            printf("Pairing id: %s\n", pid);
            show_code(p);
            printf("Answer with 'unhosted pairing accept %s --code CODE' or "
                   "'unhosted pairing reject %s'.\n",
                   pid, pid);
            rc = 0;
        }
        goto done;
    }
    show_code(p);
    int accept = o.code ? 1 : ask_confirm();
    if (g_interrupted) goto interrupted;
    int differ = o.code && strcmp(o.code6, node_client_str(p, "code")) != 0;
    if (differ) fprintf(stderr, "unhosted pair: the codes differ: rejecting\n");
    if (decide("pair", c, pid, accept, &o) != 0) goto done;
    if (accept && !differ) {
        printf("Waiting for the other device...\n");
        fflush(stdout);
    }
    cJSON_Delete(root);
    root = NULL;
    prc = poll_pairing(c, pid, 1, o.timeout_s, &root, &p, &err);
    if (g_interrupted) goto interrupted;
    if (prc == UH_ELIMIT) {
        cli_error("pair", "the other device did not answer within %ld s", o.timeout_s);
        decide("pair", c, pid, 0, &o);
    } else if (prc != 0) {
        cli_error("pair", "%s", err.msg[0] ? err.msg : "bad answer from the node");
    } else {
        rc = outcome("pair", p);
    }
    goto done;
interrupted:
    decide("pair", c, pid, 0, &o);
    fprintf(stderr, "\nunhosted pair: interrupted: pairing %s rejected\n", pid);
    rc = 130;
done:
    cJSON_Delete(body);
    cJSON_Delete(ans);
    cJSON_Delete(root);
    node_client_free(c);
    return rc;
}

/* ---- pairing ---- */

static int pairing_list(const pair_opts *o)
{
    node_client *c = node_client_cli_open("pairing", o->node_addr);
    if (!c) return 1;
    cJSON *ans = NULL;
    uh_err err = {0};
    int rc = 1;
    if (node_client_get(c, "/admin/pairings", &ans, NULL, &err) != 0) {
        cli_error("pairing", "%s", err.msg);
        goto done;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(ans, "pairings"), *p;
    if (!cJSON_IsArray(list)) {
        cli_error("pairing", "the node's answer has no pairing list");
        goto done;
    }
    if (o->json) {
        rc = print_json(ans);
        goto done;
    }
    if (cJSON_GetArraySize(list) == 0) {
        printf("no pairings\n");
        rc = 0;
        goto done;
    }
    printf("%-10s %-9s %-10s %-8s %-8s %s\n", "ID", "DIRECTION", "STATE", "CODE", "DEVICE", "NAME");
    cJSON_ArrayForEach(p, list)
    {
        char pid[16], state[16], code[8], shortid[16], name[NAME_PRINT_MAX], shown[8];
        node_client_printable(node_client_str(p, "id"), pid, sizeof pid);
        node_client_printable(node_client_str(p, "state"), state, sizeof state);
        node_client_printable(node_client_str(p, "code"), code, sizeof code);
        node_client_printable(node_client_str(p, "peer_short"), shortid, sizeof shortid);
        node_client_printable(node_client_str(p, "peer_name"), name, sizeof name);
        if (strlen(code) == 6)
            snprintf(shown, sizeof shown, "%.3s %.3s", code, code + 3);
        else
            snprintf(shown, sizeof shown, "-");
        printf("%-10s %-9s %-10s %-8s %-8s %s\n", pid,
               node_client_bool(p, "incoming") ? "in" : "out", state, shown,
               shortid[0] ? shortid : "-", name[0] ? name : "-");
    }
    rc = 0;
done:
    cJSON_Delete(ans);
    node_client_free(c);
    return rc;
}

static int pairing_answer(int accept, const pair_opts *o)
{
    const char *cmd = accept ? "pairing accept" : "pairing reject";
    size_t n = strlen(o->arg);
    if (n == 0 || n > 15 ||
        strspn(o->arg, "0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ") != n) {
        cli_error(cmd, "%.40s: not a pairing id (see 'unhosted pairing')", o->arg);
        return 2;
    }
    node_client *c = node_client_cli_open(cmd, o->node_addr);
    if (!c) return 1;
    cJSON *body = cJSON_CreateObject(), *ans = NULL, *root = NULL;
    const cJSON *p;
    uh_err err = {0};
    int rc = 1;
    if (!body) goto done;
    cJSON_AddStringToObject(body, "id", o->arg);
    if (accept) {
        if (o->code) cJSON_AddStringToObject(body, "code", o->code6);
        add_common(body, o);
    }
    if (node_client_post(c, accept ? "/admin/pairing/accept" : "/admin/pairing/reject", body, 0,
                         &ans, NULL, &err) != 0) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    p = cJSON_GetObjectItemCaseSensitive(ans, "pairing");
    if (accept && o->wait && !state_final(node_client_str(p, "state"))) {
        int prc = poll_pairing(c, o->arg, 1, o->timeout_s, &root, &p, &err);
        if (prc == UH_ELIMIT) {
            cli_error(cmd, "the other device did not answer within %ld s", o->timeout_s);
            goto done;
        }
        if (prc != 0) {
            cli_error(cmd, "%s", err.msg[0] ? err.msg : "bad answer from the node");
            goto done;
        }
    }
    const char *state = node_client_str(p, "state");
    if (!accept) {
        printf("rejected\n");
        rc = 0;
    } else if (state_final(state)) {
        rc = outcome(cmd, p);
    } else {
        printf("accepted: waiting for the other device\n");
        rc = 0;
    }
done:
    cJSON_Delete(body);
    cJSON_Delete(ans);
    cJSON_Delete(root);
    node_client_free(c);
    return rc;
}

int cmd_pairing(int argc, char **argv)
{
    static const char help[] =
        "usage: unhosted pairing [--json]\n"
        "       unhosted pairing accept ID [--code CODE] [--ring R] [--quota N] [--wait]\n"
        "       unhosted pairing reject ID\n"
        "Lists incoming and outgoing pairings with their codes, or answers one.\n"
        "  --code CODE        the code the other device shows (a different one rejects)\n"
        "  --ring own|trusted the ring this device gives the other (incoming pairings)\n"
        "  --quota N          tokens per day it may generate here (0 = no limit)\n"
        "  --wait             wait until the other device decided too (exit 0 when paired)\n"
        "  --timeout S        seconds --wait waits (default 120)\n";
    pair_opts o = {0};
    int rc;
    if (argc >= 2 && (!strcmp(argv[1], "accept") || !strcmp(argv[1], "reject"))) {
        int accept = !strcmp(argv[1], "accept");
        rc = parse_opts(accept ? "pairing accept" : "pairing reject", help,
                        accept ? "ARG,code,ring,quota,wait,timeout" : "ARG", argc, argv, 2, &o);
        return rc >= 0 ? rc : pairing_answer(accept, &o);
    }
    rc = parse_opts("pairing", help, "json", argc, argv, 1, &o);
    return rc >= 0 ? rc : pairing_list(&o);
}

/* ---- invite / join ---- */

int cmd_invite(int argc, char **argv)
{
    static const char help[] =
        "usage: unhosted invite [--ring own|trusted] [--quota N] [--ttl S] [--json]\n"
        "Makes a one-time code for a friend elsewhere: they run 'unhosted join CODE'. The\n"
        "code names an address of this node that the friend must be able to reach\n"
        "(serve --peer-listen).\n"
        "  --ring own|trusted the ring the friend gets (default trusted)\n"
        "  --quota N          tokens per day they may generate here (default 0 = no limit)\n"
        "  --ttl S            seconds the code stays valid, 60..604800 (default 3600)\n"
        "  --json             the node's answer as JSON\n";
    pair_opts o = {0};
    int rc = parse_opts("invite", help, "ring,quota,ttl,json", argc, argv, 1, &o);
    if (rc >= 0) return rc;
    node_client *c = node_client_cli_open("invite", o.node_addr);
    if (!c) return 1;
    cJSON *body = cJSON_CreateObject(), *ans = NULL;
    uh_err err = {0};
    rc = 1;
    if (!body) goto done;
    add_common(body, &o);
    if (o.ttl_s >= 0) cJSON_AddNumberToObject(body, "ttl", (double)o.ttl_s);
    if (node_client_post(c, "/admin/invite", body, 0, &ans, NULL, &err) != 0) {
        cli_error("invite", "%s", err.msg);
        goto done;
    }
    if (o.json) {
        rc = print_json(ans);
        goto done;
    }
    char code[160], until[64] = "?";
    node_client_printable(node_client_str(ans, "code"), code, sizeof code);
    time_t expires = (time_t)node_client_num(ans, "expires", 0);
    struct tm tm;
    if (expires > 0 && localtime_r(&expires, &tm))
        strftime(until, sizeof until, "%Y-%m-%d %H:%M", &tm);
    printf("Invite code: %s\n", code);
    printf("Valid once, until %s. On the friend's device run:\n", until);
    printf("  unhosted join %s\n", code);
    rc = 0;
done:
    cJSON_Delete(body);
    cJSON_Delete(ans);
    node_client_free(c);
    return rc;
}

int cmd_join(int argc, char **argv)
{
    static const char help[] =
        "usage: unhosted join CODE [--quota N]\n"
        "Pairs with the friend whose 'unhosted invite' made CODE (HOST:PORT/XXXX-...).\n"
        "  --quota N          tokens per day the friend may generate here (default 0 = no\n"
        "                     limit)\n";
    pair_opts o = {0};
    int rc = parse_opts("join", help, "ARG,quota", argc, argv, 1, &o);
    if (rc >= 0) return rc;
    size_t n = strlen(o.arg);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)o.arg[i] <= ' ' || o.arg[i] == 0x7f) n = 0;
    if (n == 0 || n > 127 || !strchr(o.arg, '/')) {
        cli_error("join", "%.60s: not an invite code (HOST:PORT/XXXX-XXXX-XXXX-XXXX)", o.arg);
        return 2;
    }
    node_client *c = node_client_cli_open("join", o.node_addr);
    if (!c) return 1;
    cJSON *body = cJSON_CreateObject(), *ans = NULL;
    uh_err err = {0};
    rc = 1;
    if (!body) goto done;
    cJSON_AddStringToObject(body, "code", o.arg);
    if (o.quota >= 0) cJSON_AddNumberToObject(body, "quota", (double)o.quota);
    if (node_client_post(c, "/admin/join", body, 90, &ans, NULL, &err) != 0) {
        cli_error("join", "%s", err.msg);
        goto done;
    }
    char id[72];
    node_client_printable(node_client_str(ans, "id"), id, sizeof id);
    printf("Paired with %s.\n", id);
    rc = 0;
done:
    cJSON_Delete(body);
    cJSON_Delete(ans);
    node_client_free(c);
    return rc;
}
