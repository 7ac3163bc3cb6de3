/* test_exec.c - the neutral request and event types (exec/exec.h): a request survives its JSON
 * form and a one-allocation copy field for field; the decoder refuses other versions, malformed
 * fields and anything past a cap; events carry token pieces (any byte, NUL included) and their
 * alternatives; the HTTP edge maps every failure code to the status clients expect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exec/exec.h"
#include "server/api_impl.h"

static exec_request sample_request(void)
{
    static const exec_message msgs[] = {{.role = "system", .content = "be brief"},
                                        {.role = "user", .content = "caf\xc3\xa9 \"quoted\"\n"}};
    static const char *const stops[] = {"\n\n", "END"};
    static const uh_token resume[] = {5, 0, 31999};
    exec_request r;
    memset(&r, 0, sizeof r);
    r.model = "stories:latest";
    r.prompt = EXEC_PROMPT_MESSAGES;
    r.messages = msgs;
    r.n_messages = 2;
    r.sampler = uh_sampler_default_params();
    r.sampler.temp = 0.25f;
    r.sampler.top_k = 7;
    r.sampler.top_p = 0.5f;
    r.sampler.min_p = 0.125f;
    r.sampler.repeat_penalty = 1.5f;
    r.sampler.repeat_last_n = -1;
    r.sampler.freq_penalty = -0.5f;
    r.sampler.presence_penalty = 0.75f;
    r.sampler.seed = 18446744073709551615ull; /* does not fit a double */
    r.max_tokens = 33;
    r.stops = stops;
    r.n_stops = 2;
    r.logprobs = 1;
    r.top_logprobs = 3;
    r.resume = resume;
    r.n_resume = 3;
    r.expect_fp = "0123456789abcdef";
    r.ring = EXEC_RING_LOCAL;
    return r;
}

static void check_same(const exec_request *a, const exec_request *b)
{
    CHECK(strcmp(a->model, b->model) == 0);
    CHECK(a->prompt == b->prompt && a->n_messages == b->n_messages);
    for (int i = 0; i < a->n_messages && i < b->n_messages; i++)
        CHECK(strcmp(a->messages[i].role, b->messages[i].role) == 0 &&
              strcmp(a->messages[i].content, b->messages[i].content) == 0);
    CHECK(memcmp(&a->sampler, &b->sampler, sizeof a->sampler) == 0);
    CHECK(a->max_tokens == b->max_tokens && a->n_stops == b->n_stops);
    for (int i = 0; i < a->n_stops && i < b->n_stops; i++)
        CHECK(strcmp(a->stops[i], b->stops[i]) == 0);
    CHECK(a->logprobs == b->logprobs && a->top_logprobs == b->top_logprobs);
    CHECK(a->n_resume == b->n_resume &&
          memcmp(a->resume, b->resume, (size_t)a->n_resume * sizeof *a->resume) == 0);
    CHECK(strcmp(a->expect_fp, b->expect_fp) == 0);
    CHECK(a->ring == b->ring);
}

/* JSON text of r, parsed back into a request. */
static int round_trip(const exec_request *r, exec_request **out, uh_err *err)
{
    cJSON *j = exec_request_json(r);
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    cJSON *back = s ? cJSON_Parse(s) : NULL;
    free(s);
    int rc = back ? exec_request_from_json(back, out, err) : UH_ENOMEM;
    cJSON_Delete(back); /* the copy owns everything it points to */
    return rc;
}

static void request_survives_json_and_copy(void)
{
    exec_request r = sample_request();
    exec_request *d = NULL, *x = NULL;
    exec_fail f;
    uh_err err = {0};
    CHECK(exec_request_dup(&r, &d, &f) == 0);
    if (d) check_same(&r, d);
    CHECKF(round_trip(&r, &x, &err) == 0, "%s", err.msg);
    if (x) check_same(&r, x);
    free(d);
    free(x);

    /* the other prompt forms */
    exec_request t = sample_request();
    t.prompt = EXEC_PROMPT_TEMPLATED;
    t.text = "why?";
    t.text_len = 4;
    t.system = "sys";
    CHECK(round_trip(&t, &x, &err) == 0);
    CHECK(x && x->prompt == EXEC_PROMPT_TEMPLATED && x->text_len == 4 &&
          strcmp(x->text, "why?") == 0 && strcmp(x->system, "sys") == 0 && x->messages == NULL);
    free(x);
    static const uh_token toks[] = {1, 450, 4996};
    t.prompt = EXEC_PROMPT_TOKENS;
    t.tokens = toks;
    t.n_tokens = 3;
    CHECK(round_trip(&t, &x, &err) == 0);
    CHECK(x && x->n_tokens == 3 && x->tokens[2] == 4996 && x->text == NULL);
    free(x);
}

/* Decodes text as a RUN body: the code, and the message in err. */
static int decode(const char *text, uh_err *err)
{
    cJSON *j = cJSON_Parse(text);
    exec_request *r = NULL;
    int rc = j ? exec_request_from_json(j, &r, err) : UH_EFORMAT;
    cJSON_Delete(j);
    if (rc == 0)
        CHECK(r != NULL);
    else
        CHECK(r == NULL);
    free(r);
    return rc;
}

#define HEAD "{\"v\":1,\"model\":\"m\",\"prompt\":{\"kind\":\"text\",\"text\":\"hi\"}"

static void decoder_refuses_bad_requests(void)
{
    uh_err err = {0};
    CHECK(decode(HEAD "}", &err) == 0);
    CHECK(decode("{\"v\":2,\"model\":\"m\",\"prompt\":{\"kind\":\"text\",\"text\":\"\"}}", &err) ==
          UH_EUNSUPPORTED);
    CHECK(decode("{\"model\":\"m\",\"prompt\":{\"kind\":\"text\",\"text\":\"\"}}", &err) ==
          UH_EFORMAT);
    CHECK(decode("{\"v\":1,\"prompt\":{\"kind\":\"text\",\"text\":\"\"}}", &err) == UH_EFORMAT);
    CHECK(decode("{\"v\":1,\"model\":\"m\",\"prompt\":{\"kind\":\"poem\"}}", &err) == UH_EFORMAT);
    CHECK(decode("{\"v\":1,\"model\":\"m\",\"prompt\":{\"kind\":\"messages\",\"messages\":[]}}",
                 &err) == UH_ELIMIT);
    CHECK(decode("{\"v\":1,\"model\":\"m\",\"prompt\":{\"kind\":\"tokens\",\"tokens\":[-1]}}",
                 &err) == UH_EFORMAT);
    CHECK(decode("{\"v\":1,\"model\":\"m\",\"prompt\":{\"kind\":\"tokens\",\"tokens\":[1.5]}}",
                 &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"resume\":[2147483648]}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"top_logprobs\":21,\"logprobs\":true}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"logprobs\":1}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"ring\":\"everyone\"}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"fp\":\"0123456789abcdef0\"}", &err) == UH_ELIMIT);
    CHECK(decode(HEAD ",\"sampler\":{\"seed\":-1}}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"sampler\":{\"seed\":\"-1\"}}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"sampler\":{\"seed\":\"12x\"}}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"sampler\":{\"top_p\":1.5}}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"sampler\":{\"temp\":\"hot\"}}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"stops\":[\"\"]}", &err) == UH_EFORMAT);
    CHECK(decode(HEAD ",\"unknown_field\":[1,2,{}]}", &err) == 0); /* newer senders may add */

    /* caps: stop strings, resume tokens, model name */
    char *s = malloc(1 << 20);
    int n = snprintf(s, 1 << 20, HEAD ",\"stops\":[");
    for (int i = 0; i <= EXEC_MAX_STOPS; i++)
        n += snprintf(s + n, (1 << 20) - n, "%s\"s%d\"", i ? "," : "", i);
    snprintf(s + n, (1 << 20) - n, "]}");
    CHECK(decode(s, &err) == UH_ELIMIT);
    n = snprintf(s, 1 << 20, HEAD ",\"resume\":[");
    for (int i = 0; i <= EXEC_MAX_RESUME; i++)
        n += snprintf(s + n, (1 << 20) - n, "%s1", i ? "," : "");
    snprintf(s + n, (1 << 20) - n, "]}");
    CHECK(decode(s, &err) == UH_ELIMIT && strstr(err.msg, "resume"));
    n = snprintf(s, 1 << 20, "{\"v\":1,\"prompt\":{\"kind\":\"text\",\"text\":\"\"},\"model\":\"");
    for (int i = 0; i <= EXEC_MAX_MODEL; i++) s[n++] = 'm';
    snprintf(s + n, (1 << 20) - n, "\"}");
    CHECK(decode(s, &err) == UH_ELIMIT);
    free(s);
}

static void check_rejects_what_a_caller_gets_wrong(void)
{
    exec_fail f;
    exec_request r = sample_request();
    r.model = "";
    CHECK(exec_request_check(&r, &f) == UH_EINVAL && f.field == EXEC_FIELD_MODEL);
    r = sample_request();
    r.n_messages = 0;
    CHECK(exec_request_check(&r, &f) == UH_EINVAL && f.field == EXEC_FIELD_PROMPT);
    r = sample_request();
    r.top_logprobs = EXEC_TOP_MAX + 1;
    CHECK(exec_request_check(&r, &f) == UH_EINVAL && f.field == EXEC_FIELD_LOGPROBS);
    r = sample_request();
    r.n_resume = EXEC_MAX_RESUME + 1;
    CHECK(exec_request_check(&r, &f) == UH_ELIMIT);
    r = sample_request();
    r.ring = (enum exec_ring)7;
    CHECK(exec_request_check(&r, &f) == UH_EINVAL && f.field == EXEC_FIELD_RING);
    r = sample_request();
    exec_request *d = NULL;
    r.n_stops = EXEC_MAX_STOPS + 1;
    CHECK(exec_request_dup(&r, &d, &f) == UH_EINVAL && d == NULL);
    CHECK(exec_request_check(&(exec_request){0}, &f) == UH_EINVAL);
}

static cJSON *event_round_trip(const exec_event *ev, exec_event *out, exec_event_store *st,
                               uh_err *err, int *rc)
{
    cJSON *j = exec_event_json(ev);
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    cJSON *back = s ? cJSON_Parse(s) : NULL;
    free(s);
    *rc = back ? exec_event_from_json(ev->type, back, out, st, err) : UH_ENOMEM;
    return back; /* the decoded text points into it */
}

static void events_carry_pieces_and_alternatives(void)
{
    static const char nul_piece[] = {'a', 0, (char)0xff};
    exec_alt alts[2] = {{.id = 9, .logprob = -0.5f, .piece = " the", .piece_len = 4},
                        {.id = 3, .logprob = -1.25f, .piece = nul_piece, .piece_len = 3}};
    exec_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = EXEC_EV_TOKEN;
    ev.text = " the";
    ev.text_len = 4;
    ev.token = 9;
    ev.index = 4;
    ev.piece = " the";
    ev.piece_len = 4;
    ev.logprob = -0.5f;
    ev.top = alts;
    ev.n_top = 2;
    exec_event got;
    exec_event_store *st = malloc(sizeof *st);
    uh_err err = {0};
    int rc;
    cJSON *hold = event_round_trip(&ev, &got, st, &err, &rc);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(got.type == EXEC_EV_TOKEN && got.token == 9 && got.index == 4);
    CHECK(got.text_len == 4 && memcmp(got.text, " the", 4) == 0);
    CHECK(got.piece_len == 4 && memcmp(got.piece, " the", 4) == 0 && got.logprob == -0.5f);
    CHECK(got.n_top == 2 && got.top[1].id == 3 && got.top[1].logprob == -1.25f);
    CHECK(got.top[1].piece_len == 3 && memcmp(got.top[1].piece, nul_piece, 3) == 0);
    cJSON_Delete(hold);

    /* without logprobs: no piece, no alternatives */
    ev.piece = NULL;
    ev.n_top = 0;
    hold = event_round_trip(&ev, &got, st, &err, &rc);
    CHECK(rc == 0 && got.piece == NULL && got.n_top == 0 && got.logprob == 0);
    cJSON_Delete(hold);

    memset(&ev, 0, sizeof ev);
    ev.type = EXEC_EV_DONE;
    ev.text = "tail";
    ev.text_len = 4;
    ev.finish = EXEC_FINISH_ERROR;
    ev.code = UH_EIO;
    ev.error = "evaluation failed";
    ev.usage = (exec_usage){.n_prompt = 5, .n_cached = 2, .n_completion = 7};
    ev.timings = (exec_timings){.load = 1.5, .queued = 0.25, .total = 3};
    hold = event_round_trip(&ev, &got, st, &err, &rc);
    CHECK(rc == 0 && got.finish == EXEC_FINISH_ERROR && got.code == UH_EIO);
    CHECK(strcmp(got.error, "evaluation failed") == 0 && got.usage.n_completion == 7 &&
          got.usage.n_cached == 2 && got.timings.load == 1.5 && got.timings.total == 3);
    cJSON_Delete(hold);

    /* malformed: a bad piece, too many alternatives, an unknown finish */
    const char *bad[] = {
        "{\"x\":\"\",\"t\":1,\"i\":0,\"p\":\"4\"}",
        "{\"x\":\"\",\"t\":1,\"i\":0,\"p\":\"zz\"}",
        "{\"x\":\"\",\"t\":-1,\"i\":0}",
        "{\"x\":\"\",\"t\":1,\"i\":0,\"p\":\"\",\"top\":[{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},"
        "{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},"
        "{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},"
        "{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},"
        "{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},"
        "{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"},{\"t\":1,\"p\":\"\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        CHECKF(exec_event_from_json(EXEC_EV_TOKEN, j, &got, st, &err) == UH_EFORMAT, "%zu", i);
        cJSON_Delete(j);
    }
    cJSON *j = cJSON_Parse("{\"x\":\"\",\"finish\":\"bored\",\"usage\":{\"prompt\":1,\"cached\":0,"
                           "\"completion\":1}}");
    CHECK(exec_event_from_json(EXEC_EV_DONE, j, &got, st, &err) == UH_EFORMAT);
    cJSON_Delete(j);
    free(st);
}

/* The HTTP edge: each failure gets the status, param and code OpenAI clients act on. */
static void failures_map_to_http(void)
{
    static const struct {
        int code;
        enum exec_field field;
        enum oai_kind kind;
        int status;
        const char *param, *ocode;
    } cases[] = {
        {UH_ENOTFOUND, EXEC_FIELD_MODEL, OAI_CHAT, 404, "model", "model_not_found"},
        {UH_ELIMIT, EXEC_FIELD_PROMPT, OAI_CHAT, 400, "messages", "context_length_exceeded"},
        {UH_ELIMIT, EXEC_FIELD_PROMPT, OAI_COMPLETION, 400, "prompt", "context_length_exceeded"},
        {UH_EINVAL, EXEC_FIELD_RING, OAI_CHAT, 400, "ring", NULL},
        {UH_EBUSY, EXEC_FIELD_NONE, OLLAMA_CHAT, 429, NULL, "rate_limit_exceeded"},
        {UH_ECONFLICT, EXEC_FIELD_NONE, OAI_CHAT, 409, NULL, NULL},
        {UH_EUNAVAIL, EXEC_FIELD_MODEL, OAI_CHAT, 503, "model", NULL},
        {UH_EUNAVAIL, EXEC_FIELD_NONE, OAI_CHAT, 503, NULL, NULL},
        {UH_ECANCELLED, EXEC_FIELD_NONE, OAI_CHAT, 503, NULL, NULL},
        {UH_ETIMEDOUT, EXEC_FIELD_NONE, OAI_CHAT, 503, NULL, NULL},
        {UH_EIO, EXEC_FIELD_NONE, OAI_CHAT, 503, NULL, NULL},
        {UH_EIO, EXEC_FIELD_MODEL, OAI_CHAT, 500, "model", NULL},
        {UH_EFORMAT, EXEC_FIELD_MODEL, OAI_CHAT, 500, "model", NULL},
        {UH_EDENIED, EXEC_FIELD_NONE, OAI_CHAT, 403, NULL, NULL},
        {UH_ENOMEM, EXEC_FIELD_NONE, OAI_CHAT, 500, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        exec_fail f = {.code = cases[i].code, .field = cases[i].field};
        const char *param = "x", *code = "x";
        const int st = api_fail_status(&f, cases[i].kind, &param, &code);
        CHECKF(st == cases[i].status, "case %zu: %d", i, st);
        CHECKF((param == NULL) == (cases[i].param == NULL) &&
                   (!param || strcmp(param, cases[i].param) == 0),
               "case %zu param", i);
        CHECKF((code == NULL) == (cases[i].ocode == NULL) &&
                   (!code || strcmp(code, cases[i].ocode) == 0),
               "case %zu code", i);
    }
}

static void names_round_trip(void)
{
    enum exec_ring r;
    CHECK(exec_ring_parse("local", &r) == 0 && r == EXEC_RING_LOCAL);
    CHECK(exec_ring_parse("swarm", &r) == 0 && r == EXEC_RING_SWARM);
    CHECK(exec_ring_parse("Local", &r) == UH_EINVAL && exec_ring_parse(NULL, &r) == UH_EINVAL);
    enum exec_finish f;
    for (int i = 0; i < 4; i++)
        CHECK(exec_finish_parse(exec_finish_name((enum exec_finish)i), &f) == 0 && (int)f == i);
    CHECK(exec_finish_parse("done", &f) == UH_EINVAL);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(request_survives_json_and_copy);
    T_RUN(decoder_refuses_bad_requests);
    T_RUN(check_rejects_what_a_caller_gets_wrong);
    T_RUN(events_carry_pieces_and_alternatives);
    T_RUN(failures_map_to_http);
    T_RUN(names_round_trip);
    return t_exit();
}
