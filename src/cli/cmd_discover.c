/* cmd_discover.c - `unhosted discover`: browse the local network for other nodes over mDNS
 * for a while and list them (instance, device id, address). Browse only: nothing of this
 * device is announced, unless the diagnostic --announce-port asks for a throwaway instance. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "net/mdns.h"

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: unhosted discover [--timeout SECONDS] [--json] [--interface IF]\n"
        "\n"
        "Looks for other unhosted nodes on the local network (mDNS, _unhosted._tcp) for\n"
        "--timeout seconds (default 3) and lists them: instance, device id, address.\n"
        "Found devices are hints: pairing proves who is at an address.\n"
        "\n"
        "  --timeout SECONDS   how long to listen (0.1 to 3600)\n"
        "  --json              {\"services\":[{\"instance\",\"id\",\"proto\",\"host\",\"addr\"}]}\n"
        "  --interface IF      only this network interface\n"
        "\n"
        "Diagnostics (for testing other mDNS implementations against this one):\n"
        "  --announce-port PORT  also announce a throwaway instance with this port\n"
        "  --announce-name NAME  its instance name (default \"unhosted discover XXXX\")\n"
        "  --announce-id ID      its TXT id= value (default random)\n"
        "  --loopback            also use loopback interfaces\n");
}

/* Replaces control characters, so a name from the network cannot drive the terminal. */
static void print_clean(const char *s, int width)
{
    char buf[256];
    size_t n = 0;
    for (; *s && n + 1 < sizeof buf; s++)
        buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    buf[n] = 0;
    printf("%-*s", width, buf);
}

/* n_chars random base32 characters (a throwaway id or name tag; not a secret). */
static void random_id(char *out, size_t n_chars)
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t rnd[64];
    if (n_chars > sizeof rnd) n_chars = sizeof rnd;
    if (getrandom(rnd, n_chars, 0) != (ssize_t)n_chars) {
        uint64_t x = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
        for (size_t i = 0; i < n_chars; i++)
            rnd[i] = (uint8_t)((x = x * 6364136223846793005u + 1) >> 56);
    }
    for (size_t i = 0; i < n_chars; i++) out[i] = b32[rnd[i] & 31];
    out[n_chars] = 0;
}

static int print_json(const mdns_service *list, int n)
{
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "services");
    if (!root || !arr) goto fail;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) goto fail;
        cJSON_AddItemToArray(arr, o);
        if (!cJSON_AddStringToObject(o, "instance", list[i].instance) ||
            !cJSON_AddStringToObject(o, "id", list[i].device_id) ||
            !cJSON_AddNumberToObject(o, "proto", list[i].proto) ||
            !cJSON_AddStringToObject(o, "host", list[i].host) ||
            !cJSON_AddStringToObject(o, "addr", list[i].addr))
            goto fail;
    }
    char *s = cJSON_PrintUnformatted(root);
    if (!s) goto fail;
    printf("%s\n", s);
    free(s);
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    cli_error("discover", "out of memory");
    return 1;
}

int cmd_discover(int argc, char **argv)
{
    double timeout = 3;
    int json = 0, announce_port = 0, loopback = 0;
    const char *ifname = NULL, *announce_id = NULL, *announce_name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long l;
        float f;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--loopback") == 0) {
            loopback = 1;
        } else if (strcmp(a, "--timeout") == 0) {
            if (!(v = cli_value("discover", argc, argv, &i))) return 2;
            if (cli_parse_float(v, 0.1, 3600, &f) != 0) {
                cli_error("discover", "--timeout: expected 0.1 to 3600 seconds, got '%s'", v);
                return 2;
            }
            timeout = f;
        } else if (strcmp(a, "--interface") == 0) {
            if (!(ifname = cli_value("discover", argc, argv, &i))) return 2;
        } else if (strcmp(a, "--announce-port") == 0) {
            if (!(v = cli_value("discover", argc, argv, &i))) return 2;
            if (cli_parse_long(v, 1, 65535, &l) != 0) {
                cli_error("discover", "--announce-port: expected 1 to 65535, got '%s'", v);
                return 2;
            }
            announce_port = (int)l;
        } else if (strcmp(a, "--announce-id") == 0) {
            if (!(announce_id = cli_value("discover", argc, argv, &i))) return 2;
        } else if (strcmp(a, "--announce-name") == 0) {
            if (!(announce_name = cli_value("discover", argc, argv, &i))) return 2;
        } else {
            cli_error("discover", "unknown option '%s'", a);
            usage(stderr);
            return 2;
        }
    }

    char id[64], name[64];
    mdns_config cfg = {.ifname = ifname, .loopback = loopback};
    if (announce_port) {
        if (!announce_id) {
            random_id(id, 52);
            announce_id = id;
        }
        if (!announce_name) {
            char tag[5];
            random_id(tag, 4);
            snprintf(name, sizeof name, "unhosted discover %s", tag);
            announce_name = name;
        }
        cfg.instance = announce_name;
        cfg.device_id = announce_id;
        cfg.port = announce_port;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    mdns *m = NULL;
    uh_err err = {0};
    if (mdns_start(&cfg, &m, &err) != 0) {
        cli_error("discover", "%s", err.msg);
        return 1;
    }
    if (announce_port)
        fprintf(stderr, "announcing instance=\"%s\" id=%s port=%d\n", announce_name, announce_id,
                announce_port);
    double end = clock_mono_s() + timeout;
    while (!g_interrupted && clock_mono_s() < end) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    mdns_service *list = NULL;
    int n = 0, rc = 0;
    if (mdns_list(m, &list, &n) != 0) {
        cli_error("discover", "out of memory");
        rc = 1;
    } else if (json) {
        rc = print_json(list, n);
    } else if (n == 0) {
        printf("no nodes found\n");
    } else {
        printf("%-32s %-24s %s\n", "INSTANCE", "DEVICE ID", "ADDRESS");
        for (int i = 0; i < n; i++) {
            print_clean(list[i].instance, 32);
            printf(" ");
            print_clean(list[i].device_id[0] ? list[i].device_id : "-", 24);
            printf(" %s\n", list[i].addr);
        }
    }
    free(list);
    mdns_stop(m);
    return rc;
}
