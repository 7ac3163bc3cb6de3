/* bench_serve.c - load generator for `unhosted serve`: N concurrent streaming clients.
 *
 *   bench_serve --url http://127.0.0.1:PORT [-c CONCURRENCY] [-n REQUESTS] [--max-tokens N]
 *               [--prompt-min WORDS] [--prompt-max WORDS] [--seed S] [--chat]
 *               [--disconnect-fraction F] [--random-params] [--per-token] [--model NAME]
 *               [--json]
 *
 * One process drives REQUESTS streaming requests ("stream": true) through libcurl's multi
 * interface, CONCURRENCY of them in flight at any time, to POST /v1/completions (or
 * /v1/chat/completions with --chat). Each prompt is a seeded random run of words, its length
 * uniform in [prompt-min, prompt-max]. Every SSE `data:` event carrying text counts as one
 * generated token for the latency figures; token counts come from the usage chunk
 * (stream_options.include_usage) when the server sends one. With --disconnect-fraction F, that
 * fraction of the requests (chosen at random) hang up after a random number of events, like
 * clients that leave early. With --random-params, each request draws its own temperature, top_p,
 * max_tokens (1..N), seed and endpoint.
 *
 * The server holds back text that is not yet whole (an incomplete UTF-8 sequence, a possible stop
 * string) and sends it with a later token, so the text events of a model whose tokens are often
 * partial characters come in bursts. --per-token asks for the chosen tokens' log-probabilities
 * ("logprobs": true for chat, 0 for completions), for which the server sends one event per token,
 * text or not: the latency figures are then per token whatever the model's vocabulary.
 *
 * A request is "ok" when it got status 200 and the stream ended with `data: [DONE]` and no error
 * event; "aborted" when this program hung up on purpose; "failed" otherwise. It reports:
 *
 *   tokens_per_s     all tokens received / wall time (the aggregate generation rate, prefill and
 *                    queueing included)
 *   stream_tps       per-stream decode rate, (tokens - 1) / (last event - first token), median
 *   server_tps       per-stream decode rate as the node measured it (timings.predicted_per_second
 *                    of the usage chunk), median: what a stream decodes at, free of how the text
 *                    events happen to be spaced
 *   ttft             request sent to first token, p50 / p99, ms
 *   itl              gap between consecutive tokens of one stream, p50 / p99, ms
 *   token_events     the token events counted; with --per-token, one per generated token (an
 *                    end-of-generation token, counted in the usage, has no event)
 *
 * The exit status is 0 when no request failed. Only loopback URLs are accepted (127.0.0.1,
 * localhost, [::1]): this is a benchmark, not a load-testing tool for other people's servers. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/rng.h"

#define MAX_CONCURRENCY 256
#define LINE_CAP        (1 << 20) /* bytes of one SSE line; more is a failed request */

typedef struct {
    double *v; /* seconds (or tokens/s), sorted before the report */
    size_t n, cap;
} samples;

typedef struct {
    const char *url; /* base, e.g. http://127.0.0.1:7777 (no trailing slash) */
    const char *model;
    int concurrency, n_requests, max_tokens, prompt_min, prompt_max;
    uint64_t seed;
    double disconnect_fraction;
    int chat, random_params, per_token, json;
} bench_opts;

enum { REQ_OK, REQ_FAILED, REQ_ABORTED };

typedef struct {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    buf_t line;                      /* the SSE line being received, capped at LINE_CAP */
    double t_start, t_first, t_last; /* seconds, monotonic */
    int n_tok;                       /* token events (see on_line) */
    int n_usage;                     /* completion_tokens of the usage chunk; 0 if none came */
    double server_tps;               /* timings.predicted_per_second of that chunk; 0 if none */
    double t_end;                    /* last data event before [DONE] */
    int abort_after;                 /* hang up after this many events; -1 = never */
    int n_events;
    int saw_done, saw_error, hung_up, overflow;
    int chat, per_token;
    samples *itl; /* where this stream's inter-token gaps go (borrowed) */
} stream;

typedef struct {
    int n_ok, n_failed, n_aborted;
    long n_tokens, n_token_events;
    samples ttft, itl, stream_tps, server_tps;
    long status_counts[6]; /* by first digit of the HTTP status; [0] = no response */
} results;

static int samples_push(samples *s, double x)
{
    if (buf_grow_array((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v) != 0) return -1;
    s->v[s->n++] = x;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples; 0 when there are none. */
static double percentile(const samples *s, double p)
{
    if (s->n == 0) return 0;
    size_t k = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    if (k < 1) k = 1;
    if (k > s->n) k = s->n;
    return s->v[k - 1];
}

/* ---- URL check: loopback only ---- */

static int url_is_loopback(const char *url)
{
    static const char *const hosts[] = {"127.0.0.1", "localhost", "[::1]"};
    if (strncmp(url, "http://", 7) != 0) return 0;
    const char *h = url + 7;
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t len = strlen(hosts[i]);
        if (strncmp(h, hosts[i], len) == 0 && (h[len] == ':' || h[len] == '/' || h[len] == 0))
            return 1;
    }
    return 0;
}

/* ---- requests ---- */

static const char *const words[] = {
    "the",   "cat",   "sat",    "on",    "a",     "warm",  "mat",   "and",   "looked", "at",
    "bird",  "in",    "garden", "while", "rain",  "fell",  "over",  "old",   "town",   "little",
    "girl",  "named", "Lily",   "found", "shiny", "stone", "near",  "river", "she",    "was",
    "happy", "to",    "play",   "with",  "her",   "dog",   "under", "big",   "tree",   "sun",
};

/* Appends `s` to a JSON string body, escaping what JSON needs (the word list needs none, but
 * --model comes from the command line). */
static void json_str(char **p, char *end, const char *s)
{
    char *o = *p;
    for (; *s && o + 8 < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            o += snprintf(o, (size_t)(end - o), "\\u%04x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o = 0;
    *p = o;
}

/* Builds the request body for one stream; NULL when out of memory. */
static char *make_body(const bench_opts *o, rng_state *rng, int chat)
{
    const int n_words =
        o->prompt_min + (int)(rng_next(rng) % (uint64_t)(o->prompt_max - o->prompt_min + 1));
    const size_t cap = 1024 + (size_t)n_words * 16 + 6 * strlen(o->model);
    char *b = malloc(cap), *p = b, *end = b + cap;
    if (!b) return NULL;
    p += snprintf(p, (size_t)(end - p), "{\"model\":\"");
    json_str(&p, end, o->model);
    p += snprintf(p, (size_t)(end - p),
                  chat ? "\",\"messages\":[{\"role\":\"user\",\"content\":\"" : "\",\"prompt\":\"");
    for (int i = 0; i < n_words; i++) {
        const char *w = words[rng_next(rng) % (sizeof words / sizeof words[0])];
        p += snprintf(p, (size_t)(end - p), i ? " %s" : "%s", w);
    }
    p += snprintf(p, (size_t)(end - p), chat ? "\"}]" : "\"");
    if (o->random_params) {
        const double temp = (double)(rng_next(rng) % 151) / 100.0;       /* 0 .. 1.5 */
        const double top_p = 0.5 + (double)(rng_next(rng) % 51) / 100.0; /* 0.5 .. 1 */
        const int n_max = 1 + (int)(rng_next(rng) % (uint64_t)o->max_tokens);
        const unsigned seed = (unsigned)(rng_next(rng) & 0x7fffffff);
        p += snprintf(p, (size_t)(end - p),
                      ",\"max_tokens\":%d,\"temperature\":%.2f,\"top_p\":%.2f,\"seed\":%u", n_max,
                      temp, top_p, seed);
    } else {
        p += snprintf(p, (size_t)(end - p), ",\"max_tokens\":%d,\"temperature\":0", o->max_tokens);
    }
    if (o->per_token)
        p += snprintf(p, (size_t)(end - p), chat ? ",\"logprobs\":true" : ",\"logprobs\":0");
    /* The usage chunk counts tokens whose text the server held back (an incomplete UTF-8
     * sequence, a possible stop string) and sent later with another token's delta. */
    snprintf(p, (size_t)(end - p), ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    return b;
}

/* One complete SSE line. Returns 0 to go on, -1 to hang up (on purpose or on a bad event). */
static int on_line(stream *s, const char *line)
{
    if (strncmp(line, "data: ", 6) != 0) return 0; /* blank separators, comments */
    const char *data = line + 6;
    if (strcmp(data, "[DONE]") == 0) {
        s->saw_done = 1;
        return 0;
    }
    cJSON *root = cJSON_Parse(data);
    if (!root) {
        s->saw_error = 1;
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "error")) s->saw_error = 1;
    const cJSON *n_usage = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "usage"), "completion_tokens");
    if (cJSON_IsNumber(n_usage) && n_usage->valuedouble > 0 && n_usage->valuedouble < 1e9)
        s->n_usage = (int)n_usage->valuedouble;
    const cJSON *pps = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "timings"), "predicted_per_second");
    if (cJSON_IsNumber(pps) && pps->valuedouble > 0 && pps->valuedouble < 1e9)
        s->server_tps = pps->valuedouble;
    s->t_end = clock_mono_s();
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
    const cJSON *text = s->chat ? cJSON_GetObjectItemCaseSensitive(
                                      cJSON_GetObjectItemCaseSensitive(choice, "delta"), "content")
                                : cJSON_GetObjectItemCaseSensitive(choice, "text");
    /* A token event: with --per-token one that carries the token's log-probability; otherwise
     * one with text (not the chat stream's opening role chunk nor the closing one, both empty). */
    const int is_token =
        s->per_token ? cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(choice, "logprobs"))
                     : cJSON_IsString(text) && text->valuestring[0] != 0;
    int rc = 0;
    if (is_token) {
        const double t = clock_mono_s();
        if (s->n_tok == 0)
            s->t_first = t;
        else if (samples_push(s->itl, t - s->t_last) < 0)
            s->overflow = 1;
        s->t_last = t;
        s->n_tok++;
    }
    s->n_events++;
    if (s->abort_after >= 0 && s->n_events >= s->abort_after) {
        s->hung_up = 1;
        rc = -1;
    }
    cJSON_Delete(root);
    return rc;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user)
{
    stream *s = user;
    const size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        const char c = ptr[i];
        if (c == '\n') {
            buf_t *l = &s->line;
            if (l->len && l->data[l->len - 1] == '\r') l->data[--l->len] = 0;
            int rc = on_line(s, l->data ? l->data : "");
            buf_reset(l);
            if (rc < 0) return 0; /* a short count makes curl abort */
            continue;
        }
        if (buf_putc(&s->line, c) != 0) {
            s->overflow = 1;
            return 0;
        }
    }
    return n;
}

static void stream_reset(stream *s)
{
    if (s->easy) curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    free(s->body);
    buf_fini(&s->line);
    memset(s, 0, sizeof *s);
}

/* Prepares the next request in `s` (not yet added to the multi handle); 0 or -1. */
static int stream_start(stream *s, const bench_opts *o, rng_state *rng, samples *itl)
{
    char url[512];
    memset(s, 0, sizeof *s);
    buf_init(&s->line, LINE_CAP - 1);
    s->itl = itl;
    s->chat = o->chat;
    s->per_token = o->per_token;
    if (o->random_params) s->chat = (int)(rng_next(rng) & 1);
    s->abort_after = -1;
    if (o->disconnect_fraction > 0 &&
        (double)(rng_next(rng) % 1000000) / 1e6 < o->disconnect_fraction)
        s->abort_after =
            1 + (int)(rng_next(rng) % (uint64_t)(o->max_tokens > 1 ? o->max_tokens : 1));
    s->body = make_body(o, rng, s->chat);
    s->easy = curl_easy_init();
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!s->body || !s->easy || !s->headers) return -1;
    snprintf(url, sizeof url, "%s%s", o->url, s->chat ? "/v1/chat/completions" : "/v1/completions");
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(s->easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    s->t_start = clock_mono_s();
    return 0;
}

static void stream_finish(stream *s, CURLcode cc, results *r)
{
    long code = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    r->status_counts[code >= 100 && code < 600 ? code / 100 : 0]++;
    int outcome;
    if (s->hung_up)
        outcome = REQ_ABORTED;
    else if (cc == CURLE_OK && code == 200 && s->saw_done && !s->saw_error && !s->overflow)
        outcome = REQ_OK;
    else
        outcome = REQ_FAILED;
    if (outcome == REQ_OK) r->n_ok++;
    if (outcome == REQ_FAILED) {
        r->n_failed++;
        fprintf(stderr, "bench_serve: request failed: status=%ld curl=\"%s\" done=%d error=%d\n",
                code, curl_easy_strerror(cc), s->saw_done, s->saw_error);
    }
    if (outcome == REQ_ABORTED) r->n_aborted++;
    const int n_gen = s->n_usage > s->n_tok ? s->n_usage : s->n_tok;
    r->n_tokens += n_gen;
    r->n_token_events += s->n_tok;
    /* Out of memory here only loses a sample. */
    if (s->n_tok > 0) (void)samples_push(&r->ttft, s->t_first - s->t_start);
    if (n_gen > 1 && s->n_tok > 0 && s->t_end > s->t_first + 1e-3)
        (void)samples_push(&r->stream_tps, (double)(n_gen - 1) / (s->t_end - s->t_first));
    if (outcome == REQ_OK && s->server_tps > 0) (void)samples_push(&r->server_tps, s->server_tps);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(
        stderr,
        "usage: bench_serve --url http://127.0.0.1:PORT [-c CONCURRENCY] [-n REQUESTS]\n"
        "         [--max-tokens N] [--prompt-min WORDS] [--prompt-max WORDS] [--seed S]\n"
        "         [--chat] [--disconnect-fraction F] [--random-params] [--per-token]\n"
        "         [--model NAME] [--json]\n");
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.model = "default",
                      .concurrency = 8,
                      .n_requests = 32,
                      .max_tokens = 64,
                      .prompt_min = 8,
                      .prompt_max = 64,
                      .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--chat") == 0) {
            o->chat = 1;
            continue;
        }
        if (strcmp(a, "--random-params") == 0) {
            o->random_params = 1;
            continue;
        }
        if (strcmp(a, "--per-token") == 0) {
            o->per_token = 1;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (!v) goto bad;
        i++;
        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "-c") == 0)
            o->concurrency = atoi(v);
        else if (strcmp(a, "-n") == 0)
            o->n_requests = atoi(v);
        else if (strcmp(a, "--max-tokens") == 0)
            o->max_tokens = atoi(v);
        else if (strcmp(a, "--prompt-min") == 0)
            o->prompt_min = atoi(v);
        else if (strcmp(a, "--prompt-max") == 0)
            o->prompt_max = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            o->seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--disconnect-fraction") == 0)
            o->disconnect_fraction = atof(v);
        else
            goto bad;
    }
    if (!o->url) goto bad;
    if (!url_is_loopback(o->url)) {
        fprintf(stderr,
                "bench_serve: only http://127.0.0.1, localhost or [::1] URLs are allowed\n");
        return -1;
    }
    if (o->concurrency < 1 || o->concurrency > MAX_CONCURRENCY || o->n_requests < 1 ||
        o->max_tokens < 1 || o->prompt_min < 1 || o->prompt_max < o->prompt_min ||
        o->prompt_max > 100000 || o->disconnect_fraction < 0 || o->disconnect_fraction > 1)
        goto bad;
    return 0;
bad:
    usage();
    return -1;
}

static void report(const bench_opts *o, results *r, double wall)
{
    qsort(r->ttft.v, r->ttft.n, sizeof(double), cmp_double);
    qsort(r->itl.v, r->itl.n, sizeof(double), cmp_double);
    qsort(r->stream_tps.v, r->stream_tps.n, sizeof(double), cmp_double);
    qsort(r->server_tps.v, r->server_tps.n, sizeof(double), cmp_double);
    const double tps = wall > 0 ? (double)r->n_tokens / wall : 0;
    if (o->json) {
        printf("{\"requests\":%d,\"concurrency\":%d,\"ok\":%d,\"failed\":%d,\"aborted\":%d,"
               "\"tokens\":%ld,\"token_events\":%ld,\"wall_s\":%.3f,\"tokens_per_s\":%.2f,"
               "\"stream_tps_p50\":%.2f,\"server_tps_p50\":%.2f,"
               "\"ttft_p50_ms\":%.1f,\"ttft_p99_ms\":%.1f,\"itl_p50_ms\":%.2f,\"itl_p99_ms\":%.2f,"
               "\"status_2xx\":%ld,\"status_4xx\":%ld,\"status_5xx\":%ld}\n",
               o->n_requests, o->concurrency, r->n_ok, r->n_failed, r->n_aborted, r->n_tokens,
               r->n_token_events, wall, tps, percentile(&r->stream_tps, 50),
               percentile(&r->server_tps, 50),
               percentile(&r->ttft, 50) * 1e3,
               percentile(&r->ttft, 99) * 1e3, percentile(&r->itl, 50) * 1e3,
               percentile(&r->itl, 99) * 1e3, r->status_counts[2], r->status_counts[4],
               r->status_counts[5]);
        return;
    }
    printf("requests      %d (concurrency %d): ok %d, failed %d, aborted %d\n", o->n_requests,
           o->concurrency, r->n_ok, r->n_failed, r->n_aborted);
    printf("wall          %.2f s, %ld tokens, %ld token events\n", wall, r->n_tokens,
           r->n_token_events);
    printf("tokens/s      %.2f aggregate, %.2f per stream (median decode rate)\n", tps,
           percentile(&r->stream_tps, 50));
    printf("server decode %.2f tokens/s per stream (median of the node's own timings)\n",
           percentile(&r->server_tps, 50));
    printf("ttft          p50 %.1f ms, p99 %.1f ms\n", percentile(&r->ttft, 50) * 1e3,
           percentile(&r->ttft, 99) * 1e3);
    printf("inter-token   p50 %.2f ms, p99 %.2f ms\n", percentile(&r->itl, 50) * 1e3,
           percentile(&r->itl, 99) * 1e3);
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (parse_args(argc, argv, &o) < 0) return 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
    CURLM *multi = curl_multi_init();
    static stream streams[MAX_CONCURRENCY];
    results r = {0};
    rng_state rng;
    rng_seed(&rng, o.seed);
    int started = 0, running = 0, rc = 1;
    if (!multi) goto done;

    const double t0 = clock_mono_s();
    while (started < o.n_requests || running > 0) {
        for (int i = 0; i < o.concurrency && started < o.n_requests; i++) {
            if (streams[i].easy) continue;
            if (stream_start(&streams[i], &o, &rng, &r.itl) < 0) {
                fprintf(stderr, "bench_serve: out of memory\n");
                goto done;
            }
            curl_multi_add_handle(multi, streams[i].easy);
            started++;
            running++;
        }
        int still;
        curl_multi_perform(multi, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            stream *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            const CURLcode cc = msg->data.result;
            curl_multi_remove_handle(multi, msg->easy_handle);
            stream_finish(s, cc, &r);
            stream_reset(s);
            running--;
        }
        if (running > 0) curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    report(&o, &r, clock_mono_s() - t0);
    rc = r.n_failed ? 1 : 0;
done:
    for (int i = 0; i < MAX_CONCURRENCY; i++) {
        if (streams[i].easy) curl_multi_remove_handle(multi, streams[i].easy);
        stream_reset(&streams[i]);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    free(r.ttft.v);
    free(r.itl.v);
    free(r.stream_tps.v);
    free(r.server_tps.v);
    return rc;
}
