/* test_oai_req.c - request parsing for OpenAI chat/completions and Ollama chat/generate: every
 * field's accepted forms, and for each bad input the 400 with the offending param named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "server/oai_req.h"

static const oai_limits g_lim = {.n_ctx = 2048};

/* Parses text (must be valid JSON) as kind; returns the parse result. */
static int parse(enum oai_kind kind, const char *text, oai_request *r, oai_error *e)
{
    cJSON *j = NULL;
    oai_error je;
    if (oai_json_parse(text, strlen(text), 0, &j, &je) != 0) {
        printf("  bad test JSON: %s (%s)\n", text, je.message);
        return -1000;
    }
    int rc = oai_parse(kind, j, &g_lim, r, e);
    cJSON_Delete(j);
    return rc;
}

static void test_chat_valid(void)
{
    oai_request r;
    oai_error e;
    const char *t =
        "{\"model\":\"llama3.2:1b\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":\"text\","
        "\"text\":\"there\"}]},{\"role\":\"assistant\",\"content\":null}],\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},\"max_tokens\":64,\"temperature\":0.5,"
        "\"top_p\":0.9,\"seed\":-1,\"stop\":[\"\\n\\n\",\"END\"],\"n\":1,\"presence_penalty\":0.5,"
        "\"frequency_penalty\":-0.5,\"logprobs\":true,\"top_logprobs\":3,\"user\":\"x\","
        "\"tools\":[]}";
    CHECKF(parse(OAI_CHAT, t, &r, &e) == 0, "%s (%s)", e.message, e.param);
    CHECK(!strcmp(r.model, "llama3.2:1b") && r.n_messages == 3);
    CHECK(!strcmp(r.messages[0].role, "system") && !strcmp(r.messages[0].content, "be brief"));
    CHECK(!strcmp(r.messages[1].content, "hi\nthere") && r.messages[1].content_len == 8);
    CHECK(!strcmp(r.messages[2].role, "assistant") && !strcmp(r.messages[2].content, ""));
    CHECK(r.stream && r.include_usage && r.max_tokens == 64);
    CHECK(r.has_temperature && r.temperature == 0.5f && r.has_top_p && fabsf(r.top_p - 0.9f) < 1e-6f);
    CHECK(r.has_seed && r.seed == UINT64_MAX);
    CHECK(r.n_stop == 2 && !strcmp(r.stop[0], "\n\n") && !strcmp(r.stop[1], "END"));
    CHECK(r.presence_penalty == 0.5f && r.frequency_penalty == -0.5f);
    CHECK(r.logprobs == 1 && r.top_logprobs == 3);
    oai_request_free(&r);
    CHECK(r.arena == NULL && r.model == NULL);
    oai_request_free(&r); /* twice is fine */

    CHECK(parse(OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                &r, &e) == 0);
    CHECK(!r.stream && r.max_tokens == -1 && !r.has_temperature && !r.has_seed && r.n_stop == 0);
    oai_request_free(&r);
    CHECK(parse(OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                          "\"max_completion_tokens\":7,\"stop\":\"S\",\"seed\":42,\"temperature\":null}",
                &r, &e) == 0);
    CHECK(r.max_tokens == 7 && r.n_stop == 1 && !strcmp(r.stop[0], "S") && r.seed == 42);
    CHECK(!r.has_temperature); /* null is "not given" */
    oai_request_free(&r);
}

typedef struct {
    enum oai_kind kind;
    const char *json;
    const char *param;   /* expected "param" */
    const char *message; /* a substring of the expected message */
} bad_case;

static const bad_case g_bad[] = {
    {OAI_CHAT, "[]", "", "JSON object"},
    {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model", "required"},
    {OAI_CHAT, "{\"model\":5,\"messages\":[]}", "model", "must be a string"},
    {OAI_CHAT, "{\"model\":\"\",\"messages\":[]}", "model", "empty"},
    {OAI_CHAT, "{\"model\":\"m\"}", "messages", "required"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":{}}", "messages", "must be an array"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages", "at least one"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[1]}", "messages[0]", "object"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages[0].role", "required"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}",
     "messages[0].role", "wizard"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\"}]}",
     "messages[1].content", "required"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":7}]}",
     "messages[0].content", "must be a string"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
     "messages[0].content[0]", "not supported"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
     "messages[0].content[0]", "text must be a string"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
     "messages[0].content", "UTF-8"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}",
     "stream", "boolean"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{}}",
     "stream_options", "only allowed when stream"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true,"
     "\"stream_options\":{\"include_usage\":\"yes\"}}",
     "stream_options.include_usage", "boolean"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}",
     "max_tokens", "between"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}",
     "max_tokens", "integer"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":4096}",
     "max_tokens", "context length (2048)"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":\"9\"}",
     "max_completion_tokens", "integer"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":2.5}",
     "temperature", "between 0 and 2"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":\"1\"}",
     "top_p", "number"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":0.5}",
     "seed", "64-bit integer"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":5}",
     "stop", "string or an array"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",3]}",
     "stop[1]", "must be a string"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"1\",\"2\",\"3\","
     "\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
     "stop", "limit 16"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n",
     "n must be 1"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"presence_penalty\":-3}",
     "presence_penalty", "between -2 and 2"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"frequency_penalty\":true}",
     "frequency_penalty", "number"},
    {OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}",
     "top_logprobs", "requires logprobs"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,"
     "\"top_logprobs\":21}",
     "top_logprobs", "between 0 and 20"},
    {OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\"}]}",
     "tools", "not supported"},
    {OAI_COMPLETION, "{\"model\":\"m\"}", "prompt", "required"},
    {OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "prompt", "array of one string"},
    {OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,2,3]}", "prompt", "array of one string"},
    {OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":6}", "logprobs", "between 0 and 5"},
    {OLLAMA_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[]}]}",
     "messages[0].content", "must be a string"},
    {OLLAMA_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"x\"}]}",
     "messages[0].role", "not one of"},
    {OLLAMA_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"AAAA\"]}]}",
     "messages[0].images", "not supported"},
    {OLLAMA_CHAT, "{\"model\":\"m\",\"messages\":[],\"options\":[]}", "options", "object"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"options\":{\"num_predict\":0}}", "options.num_predict", "not be 0"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"options\":{\"num_predict\":-3}}", "options.num_predict", "between"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"options\":{\"num_predict\":5000}}", "options.num_predict",
     "context length"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"options\":{\"top_k\":-1}}", "options.top_k", "between"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"options\":{\"stop\":[\"\",7]}}", "options.stop[1]", "string"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"options\":{\"num_ctx\":0}}", "options.num_ctx", "between"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"options\":{\"repeat_penalty\":\"1\"}}",
     "options.repeat_penalty", "number"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"prompt\":3}", "prompt", "string"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"images\":[\"x\"]}", "images", "not supported"},
    {OLLAMA_GENERATE, "{\"model\":\"m\",\"stream\":\"no\"}", "stream", "boolean"},
};

static void test_bad_requests(void)
{
    for (size_t i = 0; i < sizeof g_bad / sizeof g_bad[0]; i++) {
        const bad_case *c = &g_bad[i];
        oai_request r;
        oai_error e;
        int rc = parse(c->kind, c->json, &r, &e);
        CHECKF(rc == UH_EINVAL && e.status == 400 && !strcmp(e.param, c->param) &&
                   strstr(e.message, c->message),
               "case %zu %s: rc=%d param=\"%s\" message=\"%s\"", i, c->json, rc, e.param, e.message);
        CHECK(r.arena == NULL && r.model == NULL); /* freed on failure */
    }
}

static void test_caps(void)
{
    oai_request r;
    oai_error e;
    /* messages over the cap */
    size_t cap = 64 + 40 * (OAI_MAX_MESSAGES + 1);
    char *t = malloc(cap);
    size_t n = (size_t)snprintf(t, cap, "{\"model\":\"m\",\"messages\":[");
    for (int i = 0; i <= OAI_MAX_MESSAGES; i++)
        n += (size_t)snprintf(t + n, cap - n, "%s{\"role\":\"user\",\"content\":\"x\"}", i ? "," : "");
    snprintf(t + n, cap - n, "]}");
    CHECK(parse(OAI_CHAT, t, &r, &e) == UH_EINVAL && !strcmp(e.param, "messages") &&
          strstr(e.message, "limit 1024"));
    free(t);
    /* prompt bytes over a small limit */
    cJSON *j = cJSON_Parse("{\"model\":\"m\",\"prompt\":\"0123456789abcdef\",\"max_tokens\":99999}");
    oai_limits small = {.max_prompt_bytes = 8};
    CHECK(oai_parse(OAI_COMPLETION, j, &small, &r, &e) == UH_EINVAL && !strcmp(e.param, "prompt") &&
          strstr(e.message, "too long (16 bytes, limit 8)"));
    oai_limits roomy = {.max_prompt_bytes = 16}; /* n_ctx 0: max_tokens checked later */
    CHECK(oai_parse(OAI_COMPLETION, j, &roomy, &r, &e) == 0 && r.max_tokens == 99999 &&
          r.prompt_len == 16);
    oai_request_free(&r);
    cJSON_Delete(j);
    /* a stop string longer than its cap */
    char *long_stop = malloc(OAI_MAX_STOP_LEN + 64);
    n = (size_t)snprintf(long_stop, OAI_MAX_STOP_LEN + 64, "{\"model\":\"m\",\"prompt\":\"\",\"stop\":\"");
    memset(long_stop + n, 'a', OAI_MAX_STOP_LEN + 1);
    strcpy(long_stop + n + OAI_MAX_STOP_LEN + 1, "\"}");
    CHECK(parse(OAI_COMPLETION, long_stop, &r, &e) == UH_EINVAL && !strcmp(e.param, "stop") &&
          strstr(e.message, "too long"));
    free(long_stop);
}

static void test_completion_and_ollama(void)
{
    oai_request r;
    oai_error e;
    CHECK(parse(OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"once upon\"],\"logprobs\":2}", &r,
                &e) == 0);
    CHECK(!strcmp(r.prompt, "once upon") && r.logprobs && r.top_logprobs == 2 && !r.stream);
    oai_request_free(&r);
    CHECKF(parse(OLLAMA_CHAT,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"format\":"
                 "\"json\",\"keep_alive\":\"5m\",\"options\":{\"temperature\":0.1,\"top_k\":40,"
                 "\"top_p\":0.5,\"seed\":7,\"num_predict\":-2,\"stop\":[\"x\"],\"num_ctx\":4096,"
                 "\"repeat_penalty\":1.1,\"min_p\":0.05}}",
                 &r, &e) == 0,
           "%s", e.message);
    CHECK(r.stream == 1); /* Ollama's default */
    CHECK(r.has_temperature && fabsf(r.temperature - 0.1f) < 1e-6f && r.top_k == 40);
    CHECK(r.has_seed && r.seed == 7 && r.max_tokens == -1 && r.fill_context);
    CHECK(r.n_stop == 1 && r.num_ctx == 4096 && fabsf(r.repeat_penalty - 1.1f) < 1e-6f);
    CHECK(fabsf(r.min_p - 0.05f) < 1e-6f);
    CHECK(!strcmp(r.notes, "format,keep_alive"));
    oai_request_free(&r);
    CHECK(parse(OLLAMA_CHAT, "{\"model\":\"m\",\"messages\":[]}", &r, &e) == 0 && r.n_messages == 0);
    oai_request_free(&r);
    CHECK(parse(OLLAMA_GENERATE,
                "{\"model\":\"m\",\"system\":\"sys\",\"prompt\":\"p\",\"stream\":false,"
                "\"options\":{\"num_predict\":12}}",
                &r, &e) == 0);
    CHECK(!strcmp(r.system, "sys") && !strcmp(r.prompt, "p") && !r.stream && r.max_tokens == 12);
    oai_request_free(&r);
    CHECK(parse(OLLAMA_GENERATE, "{\"model\":\"m\"}", &r, &e) == 0 && !strcmp(r.prompt, ""));
    oai_request_free(&r);
}

static void test_json_depth(void)
{
    CHECK(oai_json_depth("1", 1, 32) == 0);
    CHECK(oai_json_depth("{}", 2, 32) == 1);
    CHECK(oai_json_depth("[[],[[]]]", 9, 32) == 3);
    CHECK(oai_json_depth("{\"a\":\"[[[[\"}", 11, 32) == 1);   /* brackets in strings */
    CHECK(oai_json_depth("[\"\\\"[[\"]", 8, 32) == 1);         /* an escaped quote */
    CHECK(oai_json_depth("[[[[", 4, 2) == 3);                    /* stops past the cap */
    char deep[100];
    memset(deep, '[', 33);
    memset(deep + 33, ']', 33);
    cJSON *j;
    oai_error e;
    CHECK(oai_json_parse(deep, 66, 32, &j, &e) == UH_ELIMIT && strstr(e.message, "deeper than 32"));
    CHECK(oai_json_parse(deep + 1, 64, 32, &j, &e) == 0);
    cJSON_Delete(j);
    CHECK(oai_json_parse("", 0, 0, &j, &e) == UH_EFORMAT && strstr(e.message, "empty"));
    CHECK(oai_json_parse("{} {}", 5, 0, &j, &e) == UH_EFORMAT && j == NULL);
    CHECK(oai_json_parse("{\"a\":tru}", 9, 0, &j, &e) == UH_EFORMAT && strstr(e.message, "byte"));
    CHECK(oai_json_parse(" {\"a\":1}\n", 9, 0, &j, &e) == 0);
    cJSON_Delete(j);
    /* the length bounds the parse: no reading past it (no NUL after the text) */
    char *exact = malloc(7);
    memcpy(exact, "{\"a\":1}", 7);
    CHECK(oai_json_parse(exact, 7, 0, &j, &e) == 0);
    cJSON_Delete(j);
    free(exact);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(test_chat_valid);
    T_RUN(test_bad_requests);
    T_RUN(test_caps);
    T_RUN(test_completion_and_ollama);
    T_RUN(test_json_depth);
    return t_exit();
}
