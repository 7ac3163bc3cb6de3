/* main.c - the unhosted command line: global options, then dispatch to a subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/paths.h"
#include "cli/cli.h"
#include "kernels/qtypes.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "talk with a model in the terminal"},
    {"logits", cmd_logits, "write the raw logits of a token sequence to a file"},
    {"inspect", cmd_inspect, "show a GGUF file's metadata and tensors"},
    {"tokenize", cmd_tokenize, "print the token ids of a text under a model's tokenizer"},
    {"template", cmd_template, "render a chat template (file, model's, or built-in)"},
    {"bench", cmd_bench, "measure prompt and generation speed against memory bandwidth"},
    {"pull", cmd_pull, "download a model (registry name, URL or hf://) into the store"},
    {"models", cmd_models, "list local models (store, Ollama, LM Studio) or --available ones"},
    {"show", cmd_show, "show a model's metadata, chat template and licence"},
    {"import", cmd_import, "add a GGUF file on disk to the store (no copy)"},
    {"rm", cmd_rm, "remove a model from the store"},
    {"serve", cmd_serve, "run the HTTP API (OpenAI and Ollama compatible) on 127.0.0.1:7777"},
    {"token", cmd_token, "print the API token that non-local clients of serve need"},
    {"id", cmd_id, "show this device's id and name (--name renames it)"},
    {"peers", cmd_peers, "list paired and discovered devices of the running node"},
    {"peer", cmd_peer, "peer add HOST:PORT: a device to contact by address"},
    {"pair", cmd_pair, "pair with a device on the same network (a 6-digit code to confirm)"},
    {"pairing", cmd_pairing, "list pairings in progress, or accept / reject one"},
    {"invite", cmd_invite, "make a one-time code for a friend's device elsewhere"},
    {"join", cmd_join, "pair through a friend's invite code"},
    {"revoke", cmd_revoke, "forget a paired device"},
    {"discover", cmd_discover, "list other nodes on the local network (mDNS)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: unhosted [--home DIR] <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nState lives under --home, else $UNHOSTED_HOME, else the XDG directories.\n"
               "Run 'unhosted <command> --help' for a command's options.\n");
}

/* Takes --home DIR (or --home=DIR) out of the arguments after the command name, so that
 * `unhosted serve --home DIR` works like `unhosted --home DIR serve`. Returns the new argc, or
 * -1 when the directory cannot be used. */
static int take_home_option(int argc, char **argv, int from)
{
    int out = from;
    for (int i = from; i < argc; i++) {
        const char *dir = NULL;
        if (strcmp(argv[i], "--") == 0) {
            while (i < argc) argv[out++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strncmp(argv[i], "--home=", 7) == 0) dir = argv[i] + 7;
        if (!dir) {
            argv[out++] = argv[i];
            continue;
        }
        if (paths_set_home(dir) != 0) {
            fprintf(stderr, "unhosted: --home %s: cannot use that directory\n", dir);
            return -1;
        }
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            if (paths_set_home(argv[i + 1]) != 0) {
                fprintf(stderr, "unhosted: --home %s: cannot use that directory\n", argv[i + 1]);
                return 2;
            }
            i += 2;
        } else if (strncmp(argv[i], "--home=", 7) == 0) {
            if (paths_set_home(argv[i] + 7) != 0) {
                fprintf(stderr, "unhosted: %s: cannot use that directory\n", argv[i]);
                return 2;
            }
            i++;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "unhosted: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    argc = take_home_option(argc, argv, i + 1);
    if (argc < 0) return 2;
    qtypes_init();
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(argv[i], commands[c].name) == 0) return commands[c].fn(argc - i, argv + i);
    fprintf(stderr, "unhosted: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return 2;
}
