/* cmd_models.c - the model store commands:
 *   unhosted models [--json] [--available]   list the store and discovered models (or registry)
 *   unhosted rm NAME[:TAG]                   remove a store entry (its blob when unused)
 *   unhosted show NAME                       manifest, GGUF summary, chat template, licence
 *   unhosted import PATH [NAME[:TAG]]        add a GGUF file already on disk (no copy) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/cli_util.h"
#include "gguf/gguf.h"
#include "models/discover.h"
#include "models/import.h"
#include "models/info.h"
#include "models/registry.h"
#include "models/resolve.h"
#include "models/store.h"

static void human_size(uint64_t b, char *buf, size_t cap)
{
    static const char *const unit[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1000.0 && u < 4) v /= 1000.0, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void human_params(uint64_t n, char *buf, size_t cap)
{
    if (n == 0)
        snprintf(buf, cap, "-");
    else if (n >= 1000000000ull)
        snprintf(buf, cap, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, cap, "%.0fM", (double)n / 1e6);
    else
        snprintf(buf, cap, "%.0fK", (double)n / 1e3);
}

/* A store entry whose file is its content-addressed blob (not a file referenced in place). */
static int in_blob(const store_entry *e)
{
    char tail[80];
    size_t pl = strlen(e->path);
    snprintf(tail, sizeof tail, "/blobs/sha256-%s", e->sha256);
    return e->sha256[0] && pl >= strlen(tail) && !strcmp(e->path + pl - strlen(tail), tail);
}

/* SOURCE column: "pulled", "imported", "in place", or the other program's name. */
static const char *source_kind(const store_entry *e)
{
    if (!strcmp(e->source, "ollama") || !strcmp(e->source, "lmstudio")) return e->source;
    if (!in_blob(e)) return "in place";
    return strncmp(e->source, "import:", 7) ? "pulled" : "imported";
}

static cJSON *entry_json(const store_entry *e, const char *kind)
{
    cJSON *o = cJSON_CreateObject();
    char full[STORE_MAX_NAME + STORE_MAX_TAG + 2];
    snprintf(full, sizeof full, "%s:%s", e->name, e->tag);
    cJSON_AddStringToObject(o, "name", full);
    cJSON_AddNumberToObject(o, "size", (double)e->size);
    cJSON_AddStringToObject(o, "arch", e->arch);
    cJSON_AddStringToObject(o, "quant", e->quant);
    cJSON_AddNumberToObject(o, "n_params", (double)e->n_params);
    cJSON_AddNumberToObject(o, "n_ctx_train", e->n_ctx_train);
    cJSON_AddStringToObject(o, "source", kind);
    if (e->sha256[0])
        cJSON_AddStringToObject(o, "sha256", e->sha256);
    else
        cJSON_AddNullToObject(o, "sha256");
    cJSON_AddStringToObject(o, "path", e->path);
    cJSON_AddBoolToObject(o, "supported", models_arch_supported(e->arch));
    return o;
}

static void print_row(const store_entry *e, const char *kind)
{
    char full[STORE_MAX_NAME + STORE_MAX_TAG + 2], size[32], params[32], arch[48];
    snprintf(full, sizeof full, "%s:%s", e->name, e->tag);
    human_size(e->size, size, sizeof size);
    human_params(e->n_params, params, sizeof params);
    snprintf(arch, sizeof arch, "%s%s", e->arch[0] ? e->arch : "?",
             models_arch_supported(e->arch) ? "" : " (unsupported)");
    printf("%-40s %10s  %-12s %-8s %7s  %s\n", full, size, arch, e->quant[0] ? e->quant : "?",
           params, kind);
}

static int list_available(int json)
{
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (!json)
        printf("%-28s %10s  %-8s %-8s %8s  %-10s %s\n", "NAME", "SIZE", "ARCH", "QUANT", "CONTEXT",
               "LICENSE", "NOTE");
    for (int i = 0; i < registry_count(); i++) {
        const registry_entry *r = registry_at(i);
        int ok = r->supported && models_arch_supported(r->arch);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            char full[STORE_MAX_NAME + STORE_MAX_TAG + 2];
            snprintf(full, sizeof full, "%s:%s", r->name, r->tag);
            cJSON_AddStringToObject(o, "name", full);
            cJSON_AddStringToObject(o, "url", r->url);
            if (r->sha256)
                cJSON_AddStringToObject(o, "sha256", r->sha256);
            else
                cJSON_AddNullToObject(o, "sha256");
            cJSON_AddNumberToObject(o, "size", (double)r->size);
            cJSON_AddStringToObject(o, "arch", r->arch);
            cJSON_AddStringToObject(o, "quant", r->quant);
            cJSON_AddNumberToObject(o, "n_ctx", r->n_ctx);
            cJSON_AddStringToObject(o, "license", r->license);
            cJSON_AddBoolToObject(o, "default", r->is_default);
            cJSON_AddBoolToObject(o, "supported", ok);
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        char full[STORE_MAX_NAME + STORE_MAX_TAG + 2], size[32];
        snprintf(full, sizeof full, "%s:%s", r->name, r->tag);
        if (r->size)
            human_size(r->size, size, sizeof size);
        else
            snprintf(size, sizeof size, "-");
        printf("%-28s %10s  %-8s %-8s %8u  %-10s %s%s\n", full, size, r->arch, r->quant, r->n_ctx,
               r->license, r->is_default ? "default " : "", ok ? "" : "unsupported");
    }
    if (json) {
        char *t = cJSON_Print(arr);
        if (t) puts(t);
        free(t);
        cJSON_Delete(arr);
    }
    return 0;
}

int cmd_models(int argc, char **argv)
{
    int json = 0, available = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--available"))
            available = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: unhosted models [--json] [--available]\n"
                   "  lists the models in the store and those found in Ollama and LM Studio\n"
                   "  --available  the registry's names instead (what 'unhosted pull' knows)\n"
                   "  --json       machine-readable output\n");
            return 0;
        } else {
            cli_error("models", "unknown option %s", argv[i]);
            return 2;
        }
    }
    if (available) return list_available(json);
    uh_err err = {0};
    store *s = NULL;
    store_entry *se = NULL, *de = NULL;
    int ns = 0, nd = 0;
    if (store_open(&s, &err) != 0 || store_list(s, &se, &ns, &err) != 0) {
        cli_error("models", "%s", err.msg);
        store_close(s);
        return 1;
    }
    store_close(s);
    if (discover_list(&de, &nd, &err) != 0) nd = 0;
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < ns; i++)
            cJSON_AddItemToArray(arr, entry_json(&se[i], source_kind(&se[i])));
        for (int i = 0; i < nd; i++) cJSON_AddItemToArray(arr, entry_json(&de[i], de[i].source));
        char *t = cJSON_Print(arr);
        if (t) puts(t);
        free(t);
        cJSON_Delete(arr);
    } else {
        printf("%-40s %10s  %-12s %-8s %7s  %s\n", "NAME", "SIZE", "ARCH", "QUANT", "PARAMS",
               "SOURCE");
        for (int i = 0; i < ns; i++) print_row(&se[i], source_kind(&se[i]));
        for (int i = 0; i < nd; i++) print_row(&de[i], de[i].source);
        if (ns + nd == 0)
            fprintf(stderr, "no models yet: 'unhosted pull NAME' (see 'unhosted models "
                            "--available') or 'unhosted import FILE.gguf'\n");
    }
    free(se);
    free(de);
    return 0;
}

int cmd_rm(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 ? stdout : stderr, "usage: unhosted rm NAME[:TAG]\n");
        return argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
    }
    if (!strncmp(argv[1], "ollama/", 7) || !strncmp(argv[1], "lmstudio/", 9)) {
        cli_error("rm", "%s belongs to another program's store; unhosted only reads it", argv[1]);
        return 1;
    }
    uh_err err = {0};
    char name[STORE_MAX_NAME + 1], tag[STORE_MAX_TAG + 1];
    if (store_parse_name(argv[1], name, tag, &err) != 0) {
        cli_error("rm", "%s", err.msg);
        return 2;
    }
    store *s = NULL;
    int rc = store_open(&s, &err);
    if (rc == 0) rc = store_remove(s, name, tag, &err);
    store_close(s);
    if (rc != 0) {
        cli_error("rm", "%s", err.msg);
        return 1;
    }
    printf("removed %s:%s\n", name, tag);
    return 0;
}

static void show_gguf(const char *path, const store_entry *e)
{
    gguf_file *f = NULL;
    uh_err err = {0};
    if (gguf_open(path, &f, &err) != 0) {
        printf("  (cannot read: %s)\n", err.msg);
        return;
    }
    gguf_str s;
    if (gguf_get_str(f, "general.name", &s, NULL) == 0)
        printf("  %-14s %.*s\n", "model name", (int)s.len, s.ptr);
    printf("  %-14s %s%s\n", "architecture", e->arch,
           models_arch_supported(e->arch) ? "" : " (not supported by this build)");
    char params[32];
    human_params(e->n_params, params, sizeof params);
    printf("  %-14s %s (%llu)\n", "parameters", params, (unsigned long long)e->n_params);
    printf("  %-14s %u\n", "context", e->n_ctx_train);
    printf("  %-14s %s\n", "quantization", e->quant);
    const char *lic = e->license[0] ? e->license : NULL;
    const registry_entry *r;
    char name[STORE_MAX_NAME + 1];
    snprintf(name, sizeof name, "%s", e->name);
    if (!lic && e->name[0] && registry_lookup(name, e->tag, &r, NULL) == 0) lic = r->license;
    printf("  %-14s %s\n", "license", lic ? lic : "(not stated in the file)");
    if (gguf_get_str(f, "tokenizer.chat_template", &s, NULL) == 0)
        printf("\nchat template:\n%.*s\n", (int)s.len, s.ptr);
    else
        printf("\nchat template: (none in the file)\n");
    gguf_close(f);
}

int cmd_show(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 ? stdout : stderr, "usage: unhosted show NAME[:TAG] | FILE.gguf\n");
        return argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
    }
    uh_err err = {0};
    store_entry e;
    int origin;
    if (models_resolve_entry(argv[1], &e, &origin, &err) != 0) {
        cli_error("show", "%s", err.msg);
        return 1;
    }
    if (origin == MODELS_FROM_PATH && models_file_info(e.path, &e, &err) != 0) {
        cli_error("show", "%s", err.msg);
        return 1;
    }
    char size[32];
    human_size(e.size, size, sizeof size);
    if (origin != MODELS_FROM_PATH) printf("  %-14s %s:%s\n", "name", e.name, e.tag);
    printf("  %-14s %s\n", "file", e.path);
    printf("  %-14s %s (%llu bytes)\n", "size", size, (unsigned long long)e.size);
    if (e.sha256[0]) printf("  %-14s %s\n", "sha256", e.sha256);
    printf("  %-14s %s\n", "source", e.source);
    show_gguf(e.path, &e);
    return 0;
}

int cmd_import(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        int help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
        fprintf(help ? stdout : stderr,
                "usage: unhosted import FILE.gguf [NAME[:TAG]]\n"
                "  adds a GGUF file to the store without copying it: a hard link when the file\n"
                "  is on the store's filesystem, else a reference to it where it is. NAME\n"
                "  defaults to the file name, lowercased.\n");
        return help ? 0 : 2;
    }
    uh_err err = {0};
    char name[STORE_MAX_NAME + 1], tag[STORE_MAX_TAG + 1];
    if (argc == 3) {
        if (store_parse_name(argv[2], name, tag, &err) != 0) {
            cli_error("import", "%s", err.msg);
            return 2;
        }
    } else {
        char guess[STORE_MAX_NAME + 1];
        if (models_name_from_file(argv[1], guess, sizeof guess) != 0 ||
            store_parse_name(guess, name, tag, &err) != 0) {
            cli_error("import", "cannot make a name from '%s': give one", argv[1]);
            return 2;
        }
    }
    store *s = NULL;
    store_entry e;
    int rc = store_open(&s, &err);
    if (rc == 0) rc = models_import(s, argv[1], name, tag, &e, &err);
    store_close(s);
    if (rc != 0) {
        cli_error("import", "%s", err.msg);
        return 1;
    }
    char size[32];
    human_size(e.size, size, sizeof size);
    printf("imported %s:%s (%s, %s %s, %s)\n", e.name, e.tag, size, e.arch, e.quant,
           in_blob(&e) ? "linked into the store" : "referenced in place");
    if (!models_arch_supported(e.arch))
        fprintf(stderr, "unhosted import: note: this build cannot run the '%s' architecture yet\n",
                e.arch);
    return 0;
}
