/* test_admin.c - the admin API (api_admin.h) on a real HTTP server and a node that only listens
 * on loopback: answer shapes, input checks with the field named, 404 for unknown pairings and
 * devices, 415 for POSTs that are not JSON, foreign origins refused; and the address and code
 * parsers the CLI shares. Pairing between two nodes is tested end to end by cli_pair.sh. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cluster/node.h"
#include "server/api_admin.h"
#include "server/http.h"

static char g_dir[] = "/tmp/uh_admin_XXXXXX";
static char g_base[64];
static node *g_node;

/* ---- a minimal client ---- */

typedef struct {
    long status;
    char body[1 << 16];
    size_t len;
} reply;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    if (r->len + len >= sizeof r->body) return 0;
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

/* method path [body with content_type] [extra header]; the parsed body (or NULL) in *json. */
static void call(const char *method, const char *path, const char *content_type, const char *body,
                 const char *extra, reply *r, cJSON **json)
{
    char url[256], ct[96];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        hl = curl_slist_append(hl, ct);
    } else {
        hl = curl_slist_append(hl, "Content-Type:"); /* curl would add a form type */
    }
    if (extra) hl = curl_slist_append(hl, extra);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    *json = cJSON_Parse(r->body);
}

static void post(const char *path, const char *body, reply *r, cJSON **json)
{
    call("POST", path, "application/json", body, NULL, r, json);
}

/* The OpenAI error's "param", or "" */
static const char *err_param(const cJSON *j)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "param");
    return cJSON_IsString(p) ? p->valuestring : "";
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---- cases ---- */

static void admin_self_shape(void)
{
    reply r;
    cJSON *j;
    call("GET", "/admin/self", NULL, NULL, NULL, &r, &j);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    const char *id = str(j, "id");
    CHECKF(strlen(id) == DEVICE_ID_STRLEN - 1, "id %s", id);
    CHECK(strlen(str(j, "short")) == DEVICE_ID_SHORT && !strncmp(id, str(j, "short"), 7));
    CHECK(!strcmp(id, identity_device_id(node_identity(g_node))));
    CHECK(!strcmp(str(j, "version"), "1.2.3"));
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "peer_port")));
    cJSON_Delete(j);
}

static void admin_lists_are_arrays(void)
{
    reply r;
    cJSON *j;
    call("GET", "/admin/peers", NULL, NULL, NULL, &r, &j);
    CHECKF(r.status == 200 && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "peers")), "%s",
           r.body);
    cJSON_Delete(j);
    call("GET", "/admin/pairings", NULL, NULL, NULL, &r, &j);
    CHECKF(r.status == 200 && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "pairings")), "%s",
           r.body);
    cJSON_Delete(j);
}

static void admin_unknown_pairing_404(void)
{
    reply r;
    cJSON *j;
    call("GET", "/admin/pairing?id=ffffffff", NULL, NULL, NULL, &r, &j);
    CHECKF(r.status == 404, "%ld %s", r.status, r.body);
    cJSON_Delete(j);
    call("GET", "/admin/pairing", NULL, NULL, NULL, &r, &j);
    CHECKF(r.status == 400 && !strcmp(err_param(j), "id"), "%ld %s", r.status, r.body);
    cJSON_Delete(j);
    call("GET", "/admin/pairing?id=a%2Fb", NULL, NULL, NULL, &r, &j);
    CHECKF(r.status == 400, "%ld %s", r.status, r.body);
    cJSON_Delete(j);
    post("/admin/pairing/accept", "{\"id\":\"ffffffff\",\"code\":\"123 456\"}", &r, &j);
    CHECKF(r.status == 404, "%ld %s", r.status, r.body);
    cJSON_Delete(j);
    post("/admin/pairing/reject", "{\"id\":\"ffffffff\"}", &r, &j);
    CHECKF(r.status == 404, "%ld %s", r.status, r.body);
    cJSON_Delete(j);
    post("/admin/revoke", "{\"id\":\"ZZZZZZZ\"}", &r, &j);
    CHECKF(r.status == 404, "%ld %s", r.status, r.body);
    cJSON_Delete(j);
}

static void admin_post_needs_json_type(void)
{
    static const char *types[] = {NULL, "text/plain", "application/x-www-form-urlencoded",
                                  "application/jsonx", "multipart/form-data"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        reply r;
        cJSON *j;
        call("POST", "/admin/invite", types[i], "{}", NULL, &r, &j);
        CHECKF(r.status == 415, "%s: %ld %s", types[i] ? types[i] : "none", r.status, r.body);
        cJSON_Delete(j);
    }
    reply r;
    cJSON *j;
    call("POST", "/admin/invite", "application/json; charset=utf-8", "{\"ttl\":60}", NULL, &r, &j);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    cJSON_Delete(j);
}

static void admin_foreign_origin_refused(void)
{
    reply r;
    cJSON *j;
    call("POST", "/admin/invite", "application/json", "{}", "Origin: http://evil.example", &r, &j);
    CHECKF(r.status == 401 || r.status == 403, "%ld %s", r.status, r.body);
    cJSON_Delete(j);
    call("GET", "/admin/peers", NULL, NULL, "Origin: http://evil.example", &r, &j);
    CHECKF(r.status == 401 || r.status == 403, "%ld %s", r.status, r.body);
    cJSON_Delete(j);
}

static void admin_bad_fields_named(void)
{
    static const struct {
        const char *path, *body, *param;
    } cases[] = {
        {"/admin/invite", "{\"ttl\":59}", "ttl"},
        {"/admin/invite", "{\"ttl\":604801}", "ttl"},
        {"/admin/invite", "{\"ttl\":\"60\"}", "ttl"},
        {"/admin/invite", "{\"ring\":\"friends\"}", "ring"},
        {"/admin/invite", "{\"ring\":1}", "ring"},
        {"/admin/invite", "{\"quota\":-1}", "quota"},
        {"/admin/invite", "{\"quota\":1.5}", "quota"},
        {"/admin/invite", "[1]", ""},
        {"/admin/pair", "{}", "target"},
        {"/admin/pair", "{\"target\":5}", "target"},
        {"/admin/pair", "{\"target\":\"host:notaport\"}", "target"},
        {"/admin/pair", "{\"target\":\"ABC/DEF\"}", "target"},
        {"/admin/pair", "{\"target\":\"127.0.0.1:7\",\"ring\":\"x\"}", "ring"},
        {"/admin/peers/add", "{\"addr\":\"nohost\"}", "addr"},
        {"/admin/peers/add", "{\"addr\":\"h:70000\"}", "addr"},
        {"/admin/revoke", "{\"id\":\"\"}", "id"},
        {"/admin/revoke", "{\"id\":\"a/b\"}", "id"},
        {"/admin/pairing/accept", "{\"id\":\"ffffffff\",\"code\":\"12345\"}", "code"},
        {"/admin/pairing/accept", "{\"id\":\"ffffffff\",\"quota\":-5}", "quota"},
        {"/admin/pairing/accept", "{}", "id"},
        {"/admin/join", "{}", "code"},
        {"/admin/join", "{\"code\":\"x\",\"quota\":true}", "quota"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reply r;
        cJSON *j;
        post(cases[i].path, cases[i].body, &r, &j);
        CHECKF(r.status == 400 && !strcmp(err_param(j), cases[i].param), "%s %s: %ld %s",
               cases[i].path, cases[i].body, r.status, r.body);
        cJSON_Delete(j);
    }
}

static void admin_invite_answer(void)
{
    reply r;
    cJSON *j;
    time_t now = time(NULL);
    post("/admin/invite", "{\"ring\":\"own\",\"quota\":100,\"ttl\":600}", &r, &j);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    CHECK(strchr(str(j, "code"), '/') != NULL);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "expires");
    CHECK(cJSON_IsNumber(e) && e->valuedouble >= (double)now + 599 &&
          e->valuedouble <= (double)now + 602);
    cJSON_Delete(j);
}

static void admin_addr_and_code_parsers(void)
{
    CHECK(api_admin_addr_valid("127.0.0.1:7778"));
    CHECK(api_admin_addr_valid("laptop.local:1"));
    CHECK(api_admin_addr_valid("[::1]:65535"));
    CHECK(!api_admin_addr_valid("127.0.0.1"));
    CHECK(!api_admin_addr_valid(":7778"));
    CHECK(!api_admin_addr_valid("127.0.0.1:0"));
    CHECK(!api_admin_addr_valid("127.0.0.1:65536"));
    CHECK(!api_admin_addr_valid("127.0.0.1:77a"));
    CHECK(!api_admin_addr_valid("a b:1"));
    CHECK(!api_admin_addr_valid("[::1:1"));
    CHECK(!api_admin_addr_valid("user@host:1"));
    char long_addr[100];
    memset(long_addr, 'a', sizeof long_addr);
    memcpy(long_addr + sizeof long_addr - 6, ":7778", 6);
    CHECK(!api_admin_addr_valid(long_addr));
    char code[7];
    CHECK(api_admin_code_parse("123 456", code) == 0 && !strcmp(code, "123456"));
    CHECK(api_admin_code_parse("123-456", code) == 0 && !strcmp(code, "123456"));
    CHECK(api_admin_code_parse("000000", code) == 0 && !strcmp(code, "000000"));
    CHECK(api_admin_code_parse("12345", code) != 0);
    CHECK(api_admin_code_parse("1234567", code) != 0);
    CHECK(api_admin_code_parse("12a456", code) != 0);
    CHECK(api_admin_code_parse("", code) != 0);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    if (!mkdtemp(g_dir)) return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    uh_err err = {0};
    char token_path[128];
    snprintf(token_path, sizeof token_path, "%s/api-token", g_dir);
    http_config hc = {.listen = "127.0.0.1:0", .token_path = token_path, .version = "1.2.3"};
    node_config nc = {.dir = g_dir, .peer_listen = "127.0.0.1:0", .mdns = 0}; /* no models */
    http_server *srv = NULL;
    int rc = 1;
    if (http_server_new(&hc, &srv, &err) != 0 || node_start(&nc, &g_node, &err) != 0 ||
        api_admin_register(srv, g_node, "1.2.3", &err) != 0 || http_server_start(srv, &err) != 0) {
        printf("FAIL admin_setup\n  %s\n", err.msg);
        goto done;
    }
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_server_port(srv));
    T_RUN(admin_self_shape);
    T_RUN(admin_lists_are_arrays);
    T_RUN(admin_unknown_pairing_404);
    T_RUN(admin_post_needs_json_type);
    T_RUN(admin_foreign_origin_refused);
    T_RUN(admin_bad_fields_named);
    T_RUN(admin_invite_answer);
    T_RUN(admin_addr_and_code_parsers);
    rc = t_exit();
done:
    http_server_free(srv);
    node_stop(g_node);
    curl_global_cleanup();
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
