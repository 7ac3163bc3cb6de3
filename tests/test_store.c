/* test_store.c - the local model store, the registry, name resolution and read-only discovery
 * of Ollama and LM Studio models, all inside a temporary UNHOSTED_HOME and HOME (no network). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "kernels/qtypes.h"
#include "models/discover.h"
#include "models/import.h"
#include "models/info.h"
#include "models/registry.h"
#include "models/registry_data.h"
#include "models/resolve.h"
#include "models/store.h"

static char g_dir[256]; /* scratch root: home/, unhosted/, files */

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int mkdirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(tmp, 0700);
        *p = '/';
    }
    return mkdir(tmp, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* A tiny valid GGUF (not a runnable model): arch, context, licence, one 2-D tensor of type. */
static int write_gguf(const char *path, const char *arch, uint32_t type, float seed)
{
    gguf_writer *w = gguf_writer_new();
    if (!w) return -1;
    char key[64];
    float data[64];
    for (int i = 0; i < 64; i++) data[i] = seed + (float)i;
    int64_t ne[2] = {32, 2};
    snprintf(key, sizeof key, "%s.context_length", arch);
    int rc = gguf_writer_set_str(w, "general.architecture", arch);
    rc |= gguf_writer_set_u32(w, key, 4096);
    rc |= gguf_writer_set_str(w, "general.license", "apache-2.0");
    rc |= gguf_writer_set_str(w, "tokenizer.chat_template", "{{ messages }}");
    if (type == QT_F32)
        rc |= gguf_writer_add_tensor(w, "w.weight", QT_F32, 2, ne, data, sizeof data);
    else /* F16: reuse the bytes (values do not matter) */
        rc |= gguf_writer_add_tensor(w, "w.weight", QT_F16, 2, ne, data, sizeof data / 2);
    uh_err err = {0};
    if (rc == 0) rc = gguf_writer_write(w, path, 0, &err);
    gguf_writer_free(w);
    return rc;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int count_files(const char *dir, int *hidden)
{
    DIR *d = opendir(dir);
    int n = 0;
    *hidden = 0;
    if (!d) return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (de->d_name[0] == '.') (*hidden)++;
        n++;
    }
    closedir(d);
    return n;
}

static void store_import_round_trip(void)
{
    store *s = NULL;
    uh_err err = {0};
    CHECK(store_open(&s, &err) == 0);
    if (!s) return;
    const char *f = tmp_path("a.gguf");
    CHECK(write_gguf(f, "llama", QT_F32, 1.0f) == 0);
    store_entry e;
    CHECKF(models_import(s, f, "tiny", "v1", &e, &err) == 0, "%s", err.msg);
    CHECK(strlen(e.sha256) == 64);
    CHECK(store_has_blob(s, e.sha256));
    CHECK(!strcmp(e.arch, "llama") && !strcmp(e.quant, "F32") && e.n_ctx_train == 4096);
    CHECK(e.n_params == 64 && !strcmp(e.license, "apache-2.0"));
    store_entry l;
    CHECKF(store_lookup(s, "tiny", "v1", &l, &err) == 0, "%s", err.msg);
    CHECK(!strcmp(l.sha256, e.sha256) && l.size == e.size && !strcmp(l.path, e.path));
    char blob[4400];
    store_blob_path(s, e.sha256, blob, sizeof blob);
    CHECK(!strcmp(l.path, blob)); /* same filesystem: linked into blobs/, not referenced */
    /* the manifest directory holds exactly the manifest: no temporary file left visible */
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/manifests/tiny", store_root(s));
    int hidden = 0;
    CHECK(count_files(dir, &hidden) == 1 && hidden == 0);
    char part[4400];
    snprintf(part, sizeof part, "%s", store_partial_dir(s));
    CHECK(count_files(part, &hidden) == 0);
    CHECK(store_lookup(s, "tiny", "v2", &l, &err) == UH_ENOTFOUND);
    store_close(s);
}

static void store_name_validation(void)
{
    char n[STORE_MAX_NAME + 1], t[STORE_MAX_TAG + 1];
    uh_err err = {0};
    CHECK(store_parse_name("llama3.2:1b", n, t, &err) == 0 && !strcmp(n, "llama3.2") &&
          !strcmp(t, "1b"));
    CHECK(store_parse_name("qwen2.5", n, t, &err) == 0 && !strcmp(t, "latest"));
    CHECK(store_parse_name("user/model:Q4_K_M", n, t, &err) == 0 && !strcmp(n, "user/model"));
    static const char *const bad[] = {"../x",  "a/../x", "/abs", "a//b", "a/",       ".hidden",
                                      "Upper", "a:b:c",  "a:",   ":tag", "a:..",     "a:.x",
                                      "a:b/c", "a b",    "",     "x\n",  "a/b/c/d/e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(store_parse_name(bad[i], n, t, &err) == UH_EINVAL, "'%s' accepted", bad[i]);
    char longname[STORE_MAX_NAME + 8];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK(store_parse_name(longname, n, t, &err) == UH_EINVAL);
    store *s = NULL;
    CHECK(store_open(&s, &err) == 0);
    store_entry e;
    CHECK(store_lookup(s, "..", "x", &e, &err) == UH_EINVAL);
    CHECK(store_remove(s, "../../etc", "passwd", &err) == UH_EINVAL);
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "../evil");
    snprintf(e.tag, sizeof e.tag, "latest");
    snprintf(e.path, sizeof e.path, "%s", tmp_path("a.gguf"));
    CHECK(store_put_manifest(s, &e, &err) == UH_EINVAL);
    store_close(s);
}

static void store_two_names_share_blob_and_gc(void)
{
    store *s = NULL;
    uh_err err = {0};
    CHECK(store_open(&s, &err) == 0);
    if (!s) return;
    const char *f = tmp_path("b.gguf");
    CHECK(write_gguf(f, "qwen2", QT_F16, 5.0f) == 0);
    store_entry a, b;
    CHECKF(models_import(s, f, "one", "latest", &a, &err) == 0, "%s", err.msg);
    CHECKF(models_import(s, f, "two", "x", &b, &err) == 0, "%s", err.msg);
    CHECK(!strcmp(a.sha256, b.sha256) && !strcmp(a.path, b.path));
    CHECK(!strcmp(a.quant, "F16"));
    CHECK(store_remove(s, "one", "latest", &err) == 0);
    CHECK(store_has_blob(s, b.sha256)); /* still used by two:x */
    CHECK(store_lookup(s, "two", "x", &b, &err) == 0);
    CHECK(store_remove(s, "two", "x", &err) == 0);
    CHECK(!store_has_blob(s, b.sha256)); /* collected */
    struct stat st;
    CHECK(stat(f, &st) == 0); /* the imported original is untouched */
    CHECK(store_remove(s, "two", "x", &err) == UH_ENOTFOUND);
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/manifests/two", store_root(s));
    CHECK(stat(dir, &st) != 0); /* empty name directory removed */
    store_close(s);
}

static void store_list_skips_broken_manifests(void)
{
    store *s = NULL;
    uh_err err = {0};
    CHECK(store_open(&s, &err) == 0);
    if (!s) return;
    store_entry e;
    CHECK(models_import(s, tmp_path("a.gguf"), "good", "latest", &e, &err) == 0);
    char p[4400];
    snprintf(p, sizeof p, "%s/manifests/corrupt", store_root(s));
    mkdirs(p);
    snprintf(p, sizeof p, "%s/manifests/corrupt/latest.json", store_root(s));
    CHECK(write_text(p, "{\"name\": \"corrupt\", \"tag\": ") == 0);
    snprintf(p, sizeof p, "%s/manifests/gone", store_root(s));
    mkdirs(p);
    snprintf(p, sizeof p, "%s/manifests/gone/latest.json", store_root(s));
    CHECK(write_text(p, "{\"name\":\"gone\",\"tag\":\"latest\",\"sha256\":\"" /* no such blob */
                        "0000000000000000000000000000000000000000000000000000000000000000\","
                        "\"size\":5}") == 0);
    snprintf(p, sizeof p, "%s/manifests/good/.latest.json.tmp.1.2", store_root(s));
    CHECK(write_text(p, "{}") == 0); /* a temporary file from a crashed writer */
    store_entry *v = NULL;
    int n = 0;
    CHECK(store_list(s, &v, &n, &err) == 0);
    int good = 0, other = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(v[i].name, "good")) good++;
        if (!strcmp(v[i].name, "corrupt") || !strcmp(v[i].name, "gone")) other++;
    }
    CHECK(good == 1 && other == 0);
    for (int i = 1; i < n; i++) CHECK(strcmp(v[i - 1].name, v[i].name) <= 0);
    free(v);
    CHECK(store_lookup(s, "corrupt", "latest", &e, &err) == UH_EFORMAT);
    CHECK(store_remove(s, "corrupt", "latest", &err) == 0); /* broken ones can still go */
    CHECK(store_remove(s, "gone", "latest", &err) == 0);
    /* a partial download is never listed: the file in partial/ has no manifest */
    snprintf(p, sizeof p, "%s/x.gguf.part", store_partial_dir(s));
    CHECK(write_text(p, "GGUF") == 0);
    CHECK(store_list(s, &v, &n, &err) == 0);
    for (int i = 0; i < n; i++) CHECK(!strcmp(v[i].name, "good") || !strcmp(v[i].name, "tiny"));
    free(v);
    unlink(p);
    store_close(s);
}

static void store_add_blob_moves_and_dedups(void)
{
    store *s = NULL;
    uh_err err = {0};
    CHECK(store_open(&s, &err) == 0);
    if (!s) return;
    char part[4400], sha[65];
    snprintf(part, sizeof part, "%s/dl.gguf", store_partial_dir(s));
    CHECK(write_gguf(part, "llama", QT_F32, 9.0f) == 0);
    CHECK(models_sha256_file(part, sha, &err) == 0);
    CHECK(store_add_blob(s, part, sha, &err) == 0);
    struct stat st;
    CHECK(stat(part, &st) != 0 && store_has_blob(s, sha));
    CHECK(write_gguf(part, "llama", QT_F32, 9.0f) == 0);
    CHECK(store_add_blob(s, part, sha, &err) == 0); /* already there: the copy goes */
    CHECK(stat(part, &st) != 0);
    CHECK(store_add_blob(s, part, "xyz", &err) == UH_EINVAL);
    store_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "pulled");
    snprintf(e.tag, sizeof e.tag, "1b");
    memcpy(e.sha256, sha, 65);
    snprintf(e.source, sizeof e.source, "https://example.invalid/x.gguf");
    CHECKF(store_put_manifest(s, &e, &err) == 0, "%s", err.msg);
    CHECK(store_lookup(s, "pulled", "1b", &e, &err) == 0 && e.size > 0);
    CHECK(store_remove(s, "pulled", "1b", &err) == 0 && !store_has_blob(s, sha));
    store_close(s);
}

static void sha256_known_vector(void)
{
    const char *p = tmp_path("abc.txt");
    CHECK(write_text(p, "abc") == 0);
    char hex[65];
    uh_err err = {0};
    CHECK(models_sha256_file(p, hex, &err) == 0);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    char name[STORE_MAX_NAME + 1];
    CHECK(models_name_from_file("/x/Llama-3.2-1B-Instruct-Q4_K_M.gguf", name, sizeof name) == 0);
    CHECK(!strcmp(name, "llama-3.2-1b-instruct-q4_k_m"));
    CHECK(models_name_from_file("/x/__My Model!.gguf", name, sizeof name) == 0);
    CHECK(!strcmp(name, "my-model-"));
}

static void registry_lookups(void)
{
    const registry_entry *r;
    uh_err err = {0};
    CHECK(registry_count() >= 25);
    CHECK(registry_lookup("llama3.2", "1b", &r, &err) == 0 && !strcmp(r->arch, "llama") &&
          r->supported && !strncmp(r->url, "https://", 8));
    CHECK(registry_lookup("llama3.2", NULL, &r, &err) == 0 && r->is_default);
    CHECK(registry_lookup("llama3.2", "latest", &r, &err) == 0 && r->is_default);
    CHECK(registry_lookup("qwen2.5", "7b-q8_0", &r, &err) == 0 && !strcmp(r->quant, "Q8_0"));
    CHECK(registry_lookup("qwen2.5", "0.5b", &r, &err) == 0 && !strcmp(r->arch, "qwen2"));
    CHECK(registry_lookup("nosuchmodel", "1b", &r, &err) == UH_ENOTFOUND);
    CHECK(registry_lookup("llama3.2", "70b", &r, &err) == UH_ENOTFOUND);
    CHECK(registry_lookup("gemma2", "2b", &r, &err) == 0 && r->supported);
    CHECK(registry_lookup("phi3.5", "3.8b", &r, &err) == 0 && !r->supported);
    static const char *const need[] = {
        "llama3.2:1b",      "llama3.2:3b",      "llama3.1:8b",    "qwen2.5:0.5b",
        "qwen2.5:1.5b",     "qwen2.5:3b",       "qwen2.5:7b",     "qwen2.5-coder:1.5b",
        "qwen2.5-coder:7b", "mistral:7b",       "tinyllama:1.1b", "smollm2:360m",
        "smollm2:1.7b",     "deepseek-r1:1.5b", "deepseek-r1:7b", "deepseek-r1:8b"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        char n[64];
        snprintf(n, sizeof n, "%s", need[i]);
        char *c = strchr(n, ':');
        *c = 0;
        CHECKF(registry_lookup(n, c + 1, &r, &err) == 0 && r->supported &&
                   models_arch_supported(r->arch),
               "%s", need[i]);
    }
    /* every supported entry's architecture is one the engine has, and every unsupported one's is
     * not, except models that need a feature their architecture's entry lacks (listed here);
     * every name has a default */
    static const char *const partial[] = {
        "phi3.5:3.8b", /* LongRoPE (rope_factors_long/short): refused at load for now */
    };
    for (int i = 0; i < registry_count(); i++) {
        r = registry_at(i);
        char full[96];
        snprintf(full, sizeof full, "%s:%s", r->name, r->tag);
        int is_partial = 0;
        for (size_t k = 0; k < sizeof partial / sizeof partial[0]; k++)
            is_partial |= !strcmp(full, partial[k]);
        CHECKF(!r->supported || models_arch_supported(r->arch), "%s", full);
        CHECKF(!is_partial || !r->supported, "%s: listed as partial but supported", full);
        CHECKF(r->supported || is_partial || !models_arch_supported(r->arch), "%s", full);
        const registry_entry *d;
        CHECK(registry_lookup(r->name, NULL, &d, &err) == 0 && d->is_default);
    }
    /* the compiled-in copy is the file in the repository, byte for byte */
    size_t len = 0;
    char *json = t_read_file("models/registry.json", &len);
    CHECKF(json && len == registry_json_len && !memcmp(json, registry_json, len),
           "src/models/registry_data.c is stale: run sh scripts/gen-registry-data");
    int n = 0;
    CHECK(json && registry_check(json, len, &n, &err) == 0 && n == registry_count());
    free(json);
    static const char *const bad[] = {
        "{}", "[{\"name\":\"a\"}]",
        "[{\"name\":\"a\",\"tag\":\"b\",\"url\":\"http://x\",\"sha256\":null,\"size\":0,"
        "\"arch\":\"llama\",\"quant\":\"Q4_0\",\"n_ctx\":1,\"license\":\"x\",\"default\":true,"
        "\"supported\":true}]",
        "[{\"name\":\"../a\",\"tag\":\"b\",\"url\":\"https://x\",\"sha256\":null,\"size\":0,"
        "\"arch\":\"llama\",\"quant\":\"Q4_0\",\"n_ctx\":1,\"license\":\"x\",\"default\":true,"
        "\"supported\":true}]",
        "[{\"name\":\"a\",\"tag\":\"b\",\"url\":\"https://x\",\"sha256\":\"ABC\",\"size\":0,"
        "\"arch\":\"llama\",\"quant\":\"Q4_0\",\"n_ctx\":1,\"license\":\"x\",\"default\":true,"
        "\"supported\":true}]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(registry_check(bad[i], strlen(bad[i]), &n, &err) == UH_EFORMAT, "bad[%zu]", i);
}

/* Fake Ollama and LM Studio trees under $HOME. */
static void make_other_stores(char ollama_sha[65])
{
    uh_err err = {0};
    const char *om = tmp_path("home/.ollama/models");
    char p[512], q[600];
    snprintf(p, sizeof p, "%s/blobs", om);
    mkdirs(p);
    CHECK(write_gguf(tmp_path("ol.gguf"), "llama", QT_F32, 3.0f) == 0);
    CHECK(models_sha256_file(tmp_path("ol.gguf"), ollama_sha, &err) == 0);
    snprintf(q, sizeof q, "%s/sha256-%s", p, ollama_sha);
    CHECK(rename(tmp_path("ol.gguf"), q) == 0);
    struct stat st;
    stat(q, &st);
    snprintf(p, sizeof p, "%s/manifests/registry.ollama.ai/library/llama3.2", om);
    mkdirs(p);
    char man[1024];
    snprintf(man, sizeof man,
             "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"application/vnd.ollama.image."
             "template\",\"digest\":\"sha256:%s\",\"size\":1},{\"mediaType\":\"application/vnd."
             "ollama.image.model\",\"digest\":\"sha256:%s\",\"size\":%lld}]}",
             ollama_sha, ollama_sha, (long long)st.st_size);
    snprintf(q, sizeof q, "%s/1b", p);
    CHECK(write_text(q, man) == 0);
    /* a manifest whose blob is incomplete: never listed */
    snprintf(man, sizeof man,
             "{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":"
             "\"sha256:%s\",\"size\":%lld}]}",
             ollama_sha, (long long)st.st_size + 1);
    snprintf(q, sizeof q, "%s/partial", p);
    CHECK(write_text(q, man) == 0);
    const char *lm = tmp_path("home/.lmstudio/models/bartowski/Tiny-GGUF");
    mkdirs(lm);
    snprintf(p, sizeof p, "%s/Tiny-Q8_0.gguf", lm);
    CHECK(write_gguf(p, "qwen2", QT_F32, 4.0f) == 0);
    snprintf(p, sizeof p, "%s/mmproj-Tiny-f16.gguf", lm);
    CHECK(write_gguf(p, "clip", QT_F32, 4.0f) == 0);
    snprintf(p, sizeof p, "%s/README.md", lm);
    CHECK(write_text(p, "not a model") == 0);
}

static void discovery_finds_ollama_and_lmstudio(void)
{
    char sha[65];
    make_other_stores(sha);
    store_entry *v = NULL, e;
    int n = 0;
    uh_err err = {0};
    CHECK(discover_list(&v, &n, &err) == 0);
    int ol = 0, lm = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(v[i].name, "ollama/llama3.2") && !strcmp(v[i].tag, "1b") &&
            !strcmp(v[i].source, "ollama") && !strcmp(v[i].sha256, sha) &&
            !strcmp(v[i].arch, "llama"))
            ol++;
        if (!strcmp(v[i].name, "lmstudio/bartowski/Tiny-GGUF") && !strcmp(v[i].tag, "Tiny-Q8_0") &&
            !strcmp(v[i].arch, "qwen2"))
            lm++;
        CHECKF(strcmp(v[i].tag, "partial") != 0, "incomplete Ollama blob listed");
        CHECKF(strncmp(v[i].tag, "mmproj", 6) != 0, "projector listed as a model");
    }
    CHECK(ol == 1 && lm == 1);
    free(v);
    CHECK(discover_find("ollama/llama3.2:1b", &e, &err) == 0 && !strcmp(e.sha256, sha));
    CHECK(discover_find("llama3.2:1b", &e, &err) == 0);                /* bare library name */
    CHECK(discover_find("ollama/llama3.2", &e, &err) == UH_ENOTFOUND); /* no :latest */
    CHECK(discover_find("lmstudio/bartowski/Tiny-GGUF", &e, &err) == 0 &&
          !strcmp(e.tag, "Tiny-Q8_0")); /* one model file: tag optional */
    CHECK(discover_find("lmstudio/bartowski/Tiny-GGUF:Tiny-Q8_0", &e, &err) == 0);
    CHECK(discover_find("ollama/llama3.2:partial", &e, &err) == UH_ENOTFOUND);
}

static void resolve_order(void)
{
    char path[4096];
    uh_err err = {0};
    store_entry e;
    int origin = -1;
    /* a path wins */
    const char *f = tmp_path("a.gguf");
    CHECK(models_resolve(f, path, sizeof path, &err) == 0 && !strcmp(path, f));
    CHECK(models_resolve(tmp_path("missing.gguf"), path, sizeof path, &err) == UH_ENOTFOUND);
    CHECK(strstr(err.msg, "no such file") != NULL);
    /* discovery when the store has no such name */
    CHECKF(models_resolve_entry("llama3.2:1b", &e, &origin, &err) == 0, "%s", err.msg);
    CHECK(origin == MODELS_FROM_DISCOVERY && !strcmp(e.source, "ollama"));
    /* the store before discovery */
    store *s = NULL;
    CHECK(store_open(&s, &err) == 0);
    store_entry imp;
    CHECK(models_import(s, f, "llama3.2", "1b", &imp, &err) == 0);
    CHECK(models_resolve_entry("llama3.2:1b", &e, &origin, &err) == 0);
    CHECK(origin == MODELS_FROM_STORE && !strcmp(e.path, imp.path));
    CHECK(models_resolve_entry("ollama/llama3.2:1b", &e, &origin, &err) == 0 &&
          origin == MODELS_FROM_DISCOVERY); /* explicit prefix skips the store */
    CHECK(store_remove(s, "llama3.2", "1b", &err) == 0);
    store_close(s);
    /* a registry name not pulled yet: a hint; an unsupported architecture: refused */
    CHECK(models_resolve("qwen2.5:0.5b", path, sizeof path, &err) == UH_ENOTFOUND);
    CHECK(strstr(err.msg, "unhosted pull qwen2.5:0.5b") != NULL);
    CHECK(models_resolve("phi3.5:3.8b", path, sizeof path, &err) == UH_EUNSUPPORTED);
    CHECK(strstr(err.msg, "phi3") != NULL);
    CHECK(models_resolve("gemma2:2b", path, sizeof path, &err) == UH_ENOTFOUND);
    CHECK(models_resolve("nosuch:1b", path, sizeof path, &err) == UH_ENOTFOUND);
    CHECK(models_resolve("../x", path, sizeof path, &err) != 0);
    CHECK(models_resolve("Bad Name", path, sizeof path, &err) == UH_EINVAL);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    snprintf(g_dir, sizeof g_dir, "/tmp/uh_store_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    setenv("UNHOSTED_HOME", tmp_path("unhosted"), 1);
    setenv("HOME", tmp_path("home"), 1);
    unsetenv("OLLAMA_MODELS");
    mkdirs(tmp_path("home"));
    T_RUN(store_import_round_trip);
    T_RUN(store_name_validation);
    T_RUN(store_two_names_share_blob_and_gc);
    T_RUN(store_list_skips_broken_manifests);
    T_RUN(store_add_blob_moves_and_dedups);
    T_RUN(sha256_known_vector);
    T_RUN(registry_lookups);
    T_RUN(discovery_finds_ollama_and_lmstudio);
    T_RUN(resolve_order);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' && rm -rf '%s'", g_dir, g_dir);
    if (system(cmd) != 0) return 1;
    return t_exit();
}
