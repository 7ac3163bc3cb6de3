/* registry.c - the short-name table: models/registry.json (compiled in as registry_data.c),
 * parsed and validated once, then looked up by name and tag.
 *
 * File format (docs/models.md): a JSON array of objects
 *   {"name", "tag", "url", "sha256": hex | null, "size": bytes | 0, "arch", "quant", "n_ctx",
 *    "license", "default": bool, "supported": bool}
 * name and tag follow the store's rules (they become store names when pulled); url is https;
 * name:tag pairs are unique; at most one default per name (none: the first entry is the
 * default). */
#include "models/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "base/log.h"
#include "models/registry_data.h"
#include "models/store.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static registry_entry *g_entries; /* strings point into g_root */
static int g_n;
static cJSON *g_root;

static int is_hex64(const char *s)
{
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Fills e from object o (strings borrowed from o); UH_EFORMAT naming the field. */
static int parse_entry(const cJSON *o, int idx, registry_entry *e, uh_err *err)
{
    static const char *const str_keys[] = {"name", "tag", "url", "arch", "quant", "license"};
    const char *s[6];
    if (!cJSON_IsObject(o))
        return err_setf(err, UH_EFORMAT, "registry entry %d: not an object", idx);
    for (int k = 0; k < 6; k++)
        if (!(s[k] = get_str(o, str_keys[k])))
            return err_setf(err, UH_EFORMAT, "registry entry %d: \"%s\" missing or not a string",
                            idx, str_keys[k]);
    char name[STORE_MAX_NAME + 1], tag[STORE_MAX_TAG + 1], spec[STORE_MAX_NAME + STORE_MAX_TAG + 2];
    snprintf(spec, sizeof spec, "%s:%s", s[0], s[1]);
    uh_err e2;
    if (strlen(s[0]) > STORE_MAX_NAME || strlen(s[1]) > STORE_MAX_TAG ||
        store_parse_name(spec, name, tag, &e2) != 0 || strcmp(name, s[0]) != 0 ||
        strcmp(tag, s[1]) != 0)
        return err_setf(err, UH_EFORMAT, "registry entry %d: bad name:tag \"%s:%s\"", idx, s[0],
                        s[1]);
    if (strncmp(s[2], "https://", 8) != 0)
        return err_setf(err, UH_EFORMAT, "registry entry %d (%s): url is not https", idx, spec);
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(o, "sha256");
    if (!cJSON_IsNull(sha) && !(cJSON_IsString(sha) && is_hex64(sha->valuestring)))
        return err_setf(err, UH_EFORMAT,
                        "registry entry %d (%s): sha256 must be 64 lowercase hex digits or null",
                        idx, spec);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    const cJSON *n_ctx = cJSON_GetObjectItemCaseSensitive(o, "n_ctx");
    /* doubles hold integers exactly up to 2^53: plenty for file sizes */
    if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 9007199254740992.0 ||
        size->valuedouble != (double)(uint64_t)size->valuedouble)
        return err_setf(err, UH_EFORMAT, "registry entry %d (%s): bad size", idx, spec);
    if (!cJSON_IsNumber(n_ctx) || n_ctx->valuedouble < 1 || n_ctx->valuedouble > 16777216.0 ||
        n_ctx->valuedouble != (double)(uint32_t)n_ctx->valuedouble)
        return err_setf(err, UH_EFORMAT, "registry entry %d (%s): bad n_ctx", idx, spec);
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(o, "default");
    const cJSON *sup = cJSON_GetObjectItemCaseSensitive(o, "supported");
    if (!cJSON_IsBool(def) || !cJSON_IsBool(sup))
        return err_setf(err, UH_EFORMAT, "registry entry %d (%s): default/supported not bool", idx,
                        spec);
    e->name = s[0];
    e->tag = s[1];
    e->url = s[2];
    e->arch = s[3];
    e->quant = s[4];
    e->license = s[5];
    e->sha256 = cJSON_IsString(sha) ? sha->valuestring : NULL;
    e->size = (uint64_t)size->valuedouble;
    e->n_ctx = (uint32_t)n_ctx->valuedouble;
    e->is_default = cJSON_IsTrue(def);
    e->supported = cJSON_IsTrue(sup);
    return UH_OK;
}

/* Parses and validates; on success *root owns the strings *entries points into. */
static int parse_all(const char *json, size_t len, cJSON **root_out, registry_entry **entries_out,
                     int *n_out, uh_err *err)
{
    registry_entry *es = NULL;
    int rc;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsArray(root)) {
        rc = err_setf(err, UH_EFORMAT, "registry: not a JSON array");
        goto fail;
    }
    int n = cJSON_GetArraySize(root);
    es = calloc(n > 0 ? (size_t)n : 1, sizeof *es);
    if (!es) {
        rc = err_setf(err, UH_ENOMEM, "registry: out of memory");
        goto fail;
    }
    int i = 0;
    for (const cJSON *o = root->child; o; o = o->next, i++)
        if ((rc = parse_entry(o, i, &es[i], err)) != 0) goto fail;
    for (i = 0; i < n; i++) {
        for (int j = 0; j < i; j++) {
            if (strcmp(es[i].name, es[j].name) != 0) continue;
            if (strcmp(es[i].tag, es[j].tag) == 0) {
                rc = err_setf(err, UH_EFORMAT, "registry: %s:%s listed twice", es[i].name,
                              es[i].tag);
                goto fail;
            }
            if (es[i].is_default && es[j].is_default) {
                rc = err_setf(err, UH_EFORMAT, "registry: two defaults for %s", es[i].name);
                goto fail;
            }
        }
    }
    *root_out = root;
    *entries_out = es;
    *n_out = n;
    return UH_OK;
fail:
    free(es);
    cJSON_Delete(root);
    return rc;
}

int registry_check(const char *json, size_t len, int *n_entries, uh_err *err)
{
    cJSON *root = NULL;
    registry_entry *es = NULL;
    int n = 0;
    int rc = parse_all(json, len, &root, &es, &n, err);
    if (rc == 0) {
        free(es);
        cJSON_Delete(root);
        if (n_entries) *n_entries = n;
    }
    return rc;
}

static void registry_init(void)
{
    uh_err err = {0};
    if (parse_all((const char *)registry_json, registry_json_len, &g_root, &g_entries, &g_n,
                  &err) != 0) {
        log_error("registry_invalid", "msg=\"%s\"", err.msg);
        g_n = 0;
    }
}

int registry_count(void)
{
    pthread_once(&g_once, registry_init);
    return g_n;
}

const registry_entry *registry_at(int i)
{
    pthread_once(&g_once, registry_init);
    return i >= 0 && i < g_n ? &g_entries[i] : NULL;
}

int registry_lookup(const char *name, const char *tag, const registry_entry **out, uh_err *err)
{
    pthread_once(&g_once, registry_init);
    int want_default = !tag || !*tag || strcmp(tag, "latest") == 0;
    const registry_entry *first = NULL;
    for (int i = 0; i < g_n; i++) {
        const registry_entry *e = &g_entries[i];
        if (strcmp(e->name, name) != 0) continue;
        if (!first) first = e;
        if (want_default ? e->is_default : strcmp(e->tag, tag) == 0) {
            *out = e;
            return UH_OK;
        }
    }
    if (want_default && first) {
        *out = first;
        return UH_OK;
    }
    return err_setf(err, UH_ENOTFOUND, "'%s%s%s' is not in the model registry", name,
                    want_default ? "" : ":", want_default ? "" : tag);
}
