/* node_client.c - finding the running node and calling its admin API over HTTP with libcurl
 * (see node_client.h). */
#include "cli/node_client.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/file.h"
#include "base/paths.h"
#include "cli/cli_util.h"
#include "server/api_admin.h"
#include "server/http_auth.h"

#define NODE_JSON_MAX (64u << 10)
#define ADDR_MAX      128

struct node_client {
    CURL *curl;
    char addr[ADDR_MAX];
    int addr_given;                 /* from --node or node.json (else the default) */
    char auth[HTTP_TOKEN_HEX + 32]; /* "Authorization: Bearer <token>" or "" (a secret) */
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct {
    buf_t body; /* capped at NODE_CLIENT_MAX_RESPONSE */
    int too_big;
} resp_buf;

int node_client_addr_valid(const char *addr)
{
    return strlen(addr) < ADDR_MAX && api_admin_addr_valid(addr);
}

/* The "http" address of <config>/node.json into c->addr: 1 if found, 0 if there is no file,
 * <0 on a malformed file. */
static int read_node_json(node_client *c, uh_err *err)
{
    char dir[1024], path[1100];
    if (paths_dir(PATHS_CONFIG, dir, sizeof dir) != 0) return 0;
    snprintf(path, sizeof path, "%s/node.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    size_t len = 0;
    char *text = cli_read_file(path, NODE_JSON_MAX, &len);
    if (!text) return err_setf(err, UH_EFORMAT, "%s: unreadable or too large", path);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *http = cJSON_GetObjectItemCaseSensitive(root, "http");
    int rc = 1;
    if (!cJSON_IsString(http) || !node_client_addr_valid(http->valuestring))
        rc = err_setf(err, UH_EFORMAT, "%s: no valid \"http\" address (HOST:PORT)", path);
    else
        snprintf(c->addr, sizeof c->addr, "%s", http->valuestring);
    cJSON_Delete(root);
    return rc;
}

/* The API token when its file exists and holds one; nothing otherwise (loopback clients do not
 * need it). */
static void read_token(node_client *c)
{
    char path[1100];
    if (http_token_default_path(path, sizeof path) != 0) return;
    char *hex = NULL;
    size_t len = 0;
    if (file_read(path, HTTP_TOKEN_HEX + 2, &hex, &len, NULL) != 0) return;
    size_t n = len;
    while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r')) hex[--n] = '\0';
    if (n == HTTP_TOKEN_HEX && strspn(hex, "0123456789abcdef") == n)
        snprintf(c->auth, sizeof c->auth, "Authorization: Bearer %s", hex);
    sodium_memzero(hex, len);
    free(hex);
}

int node_client_open(const char *addr, node_client **out, uh_err *err)
{
    *out = NULL;
    node_client *c = calloc(1, sizeof *c);
    if (!c) return err_setf(err, UH_ENOMEM, "out of memory");
    int rc;
    if (addr) {
        if (!node_client_addr_valid(addr)) {
            rc = err_setf(err, UH_EINVAL, "--node %.100s: expected HOST:PORT", addr);
            goto fail;
        }
        snprintf(c->addr, sizeof c->addr, "%s", addr);
        c->addr_given = 1;
    } else {
        rc = read_node_json(c, err);
        if (rc < 0) goto fail;
        c->addr_given = rc;
        if (!rc) snprintf(c->addr, sizeof c->addr, "%s", NODE_CLIENT_DEFAULT);
    }
    read_token(c);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(c->curl = curl_easy_init())) {
        rc = err_setf(err, UH_ENOMEM, "curl_easy_init failed");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    node_client_free(c);
    return rc;
}

node_client *node_client_cli_open(const char *cmd, const char *addr)
{
    node_client *c = NULL;
    uh_err err = {0};
    if (node_client_open(addr, &c, &err) != 0) cli_error(cmd, "%s", err.msg);
    return c;
}

const char *node_client_printable(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; s && *s && n + 1 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        out[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (cap) out[n] = '\0';
    return out;
}

const char *node_client_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double node_client_num(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int node_client_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

void node_client_free(node_client *c)
{
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    sodium_memzero(c, sizeof *c);
    free(c);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    resp_buf *b = ud;
    size_t n = size * nmemb;
    int rc = buf_append(&b->body, ptr, n);
    if (rc == UH_ELIMIT) b->too_big = 1;
    return rc ? 0 : n;
}

/* The message of an error body in OpenAI ({"error":{"message"}}) or Ollama ({"error":s}) shape. */
static void error_message(const char *body, size_t len, long status, uh_err *err, int code)
{
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    if (cJSON_IsString(m) && m->valuestring[0])
        err_setf(err, code, "%.400s", m->valuestring);
    else
        err_setf(err, code, "the node answered HTTP %ld", status);
    cJSON_Delete(root);
}

static int request(node_client *c, const char *method, const char *path, const cJSON *body,
                   int timeout_s, cJSON **out, int *status, uh_err *err)
{
    *out = NULL;
    if (status) *status = 0;
    char url[ADDR_MAX + 512];
    if (snprintf(url, sizeof url, "http://%s%s", c->addr, path) >= (int)sizeof url)
        return err_setf(err, UH_ELIMIT, "request path too long");
    char *payload = NULL;
    struct curl_slist *hdrs = NULL;
    resp_buf b = {.too_big = 0};
    buf_init(&b.body, NODE_CLIENT_MAX_RESPONSE);
    int rc = 0;
    CURL *h = c->curl;
    curl_easy_reset(h);
    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)(timeout_s > 0 ? timeout_s : NODE_CLIENT_TIMEOUT_S));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "unhosted-cli");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    if (c->auth[0]) hdrs = curl_slist_append(hdrs, c->auth);
    if (!strcmp(method, "POST")) {
        payload = body ? cJSON_PrintUnformatted(body) : strdup("{}");
        if (!payload) {
            rc = err_setf(err, UH_ENOMEM, "out of memory");
            goto done;
        }
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode res = curl_easy_perform(h);
    if (res == CURLE_COULDNT_CONNECT) {
        rc = err_setf(err, UH_EIO, "no node running%s%s (start one with 'unhosted serve')",
                      c->addr_given ? " at " : "", c->addr_given ? c->addr : "");
        goto done;
    }
    if (res == CURLE_OPERATION_TIMEDOUT) {
        rc = err_setf(err, UH_EIO, "the node at %s did not answer in time", c->addr);
        goto done;
    }
    if (b.too_big) {
        rc = err_setf(err, UH_ELIMIT, "the node's answer is larger than %u bytes",
                      NODE_CLIENT_MAX_RESPONSE);
        goto done;
    }
    if (res != CURLE_OK) {
        rc = err_setf(err, UH_EIO, "%s: %s", c->addr,
                      c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
        goto done;
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (status) *status = (int)code;
    if (code < 200 || code > 299) {
        rc = code == 404 ? UH_ENOTFOUND : code >= 400 && code < 500 ? UH_EINVAL : UH_EIO;
        error_message(b.body.data, b.body.len, code, err, rc);
        goto done;
    }
    *out = b.body.data ? cJSON_ParseWithLength(b.body.data, b.body.len) : NULL;
    if (!*out) rc = err_setf(err, UH_EFORMAT, "the node's answer is not JSON");
done:
    for (struct curl_slist *s = hdrs; s; s = s->next) sodium_memzero(s->data, strlen(s->data));
    curl_slist_free_all(hdrs);
    free(payload);
    buf_fini(&b.body);
    return rc;
}

int node_client_get(node_client *c, const char *path, cJSON **out, int *status, uh_err *err)
{
    return request(c, "GET", path, NULL, 0, out, status, err);
}

int node_client_post(node_client *c, const char *path, const cJSON *body, int timeout_s,
                     cJSON **out, int *status, uh_err *err)
{
    return request(c, "POST", path, body, timeout_s, out, status, err);
}
