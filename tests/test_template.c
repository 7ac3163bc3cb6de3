/* test_template.c - chat templates: every case of the shared fixture (real model templates
 * rendered by Jinja2) byte for byte, Jinja semantics case by case, the caps against hostile
 * templates, and the built-in templates against their published layouts. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "check.h"
#include "text/template.h"

/* ---- helpers ---- */

/* Renders src with vars given as JSON text (NULL = none); returns the output (caller frees) or
 * NULL with *rc and err set. */
static char *render(const char *src, const char *vars_json, int *rc, uh_err *err)
{
    cJSON *vars = vars_json ? cJSON_Parse(vars_json) : NULL;
    char *out = NULL;
    size_t n = 0;
    uh_err e;
    memset(&e, 0, sizeof e);
    int r = tmpl_render(src, strlen(src), vars, &out, &n, &e);
    cJSON_Delete(vars);
    if (rc) *rc = r;
    if (err) *err = e;
    if (r == 0 && strlen(out) != n) printf("  output length %zu but strlen %zu\n", n, strlen(out));
    return out;
}

/* Checks that src renders to want; prints the first difference otherwise. */
#define EXPECT(src, vars, want) expect_render(__LINE__, src, vars, want)
static void expect_render(int line, const char *src, const char *vars, const char *want)
{
    int rc;
    uh_err e;
    char *got = render(src, vars, &rc, &e);
    if (rc != 0) {
        printf("  line %d: render failed (%d): %s\n    template: %s\n", line, rc, e.msg, src);
        t_case_failed = 1;
        return;
    }
    if (strcmp(got, want) != 0) {
        printf("  line %d: template: %s\n    want: \"%s\"\n    got:  \"%s\"\n", line, src, want,
               got);
        t_case_failed = 1;
    }
    free(got);
}

#define EXPECT_ERR(src, vars, code, gist) expect_error(__LINE__, src, vars, code, gist)
static void expect_error(int line, const char *src, const char *vars, int code, const char *gist)
{
    int rc;
    uh_err e;
    char *got = render(src, vars, &rc, &e);
    if (rc == 0) {
        printf("  line %d: expected error \"%s\", rendered \"%s\"\n", line, gist, got);
        t_case_failed = 1;
        free(got);
        return;
    }
    if (rc != code || !strstr(e.msg, gist)) {
        printf("  line %d: expected error %d \"%s\", got %d \"%s\"\n", line, code, gist, rc, e.msg);
        t_case_failed = 1;
    }
}

static void print_diff(const char *want, size_t want_n, const char *got, size_t got_n)
{
    size_t i = 0;
    while (i < want_n && i < got_n && want[i] == got[i]) i++;
    size_t from = i > 60 ? i - 60 : 0;
    printf("    first difference at byte %zu\n", i);
    printf("    - ");
    for (size_t k = from; k < want_n && k < i + 60; k++) putchar(want[k] == '\n' ? '|' : want[k]);
    printf("\n    + ");
    for (size_t k = from; k < got_n && k < i + 60; k++) putchar(got[k] == '\n' ? '|' : got[k]);
    printf("\n");
}

/* ---- the shared fixture ---- */

static void template_fixture_cases_match_jinja2(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/chat-templates/expected.json", t_testdata());
    char *text = t_read_file(path, NULL);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *cases = cJSON_GetObjectItem(root, "cases");
    int n = 0, passed = 0;
    cJSON *tc;
    cJSON_ArrayForEach(tc, cases)
    {
        n++;
        const char *tname = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "template"));
        const char *conv = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "conversation"));
        snprintf(path, sizeof path, "%s/chat-templates/%s", t_testdata(), tname);
        size_t src_len = 0;
        char *src = t_read_file(path, &src_len);
        if (!src) {
            printf("  %s: cannot read\n", tname);
            continue;
        }
        cJSON *vars = cJSON_CreateObject();
        static const char *const keys[] = {"messages", "add_generation_prompt", "bos_token",
                                           "eos_token"};
        for (int k = 0; k < 4; k++) {
            cJSON *v = cJSON_GetObjectItem(tc, keys[k]);
            if (v) cJSON_AddItemToObject(vars, keys[k], cJSON_Duplicate(v, 1));
        }
        char *out = NULL;
        size_t out_n = 0;
        uh_err e;
        memset(&e, 0, sizeof e);
        int rc = tmpl_render(src, src_len, vars, &out, &out_n, &e);
        const char *want_err = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "error"));
        cJSON *want_j = cJSON_GetObjectItem(tc, "expected");
        if (want_err) {
            if (rc == UH_EINVAL && strstr(e.msg, want_err))
                passed++;
            else
                printf("  %s / %s: want error \"%s\", got rc %d \"%s\"\n", tname, conv, want_err,
                       rc, rc ? e.msg : out);
        } else if (rc != 0) {
            printf("  %s / %s: render failed: %s\n", tname, conv, e.msg);
        } else {
            const char *want = cJSON_GetStringValue(want_j);
            size_t want_n = strlen(want);
            if (want_n == out_n && memcmp(want, out, out_n) == 0) {
                passed++;
            } else {
                printf("  %s / %s: output differs\n", tname, conv);
                print_diff(want, want_n, out, out_n);
            }
        }
        free(out);
        free(src);
        cJSON_Delete(vars);
    }
    printf("  fixture: %d/%d cases pass\n", passed, n);
    CHECK(n == 68);
    CHECK(passed == n);
    cJSON_Delete(root);
}

/* ---- whitespace control ---- */

static void template_whitespace_control(void)
{
    /* trim_blocks: the newline after a block tag goes; lstrip_blocks: indentation before it */
    EXPECT("{% if true %}\nyes\n{% endif %}\nafter", NULL, "yes\nafter");
    EXPECT("  {% if true %}\n  x\n  {% endif %}\n", NULL, "  x\n");
    /* a print tag is not lstripped */
    EXPECT("a\n  {{ 'b' }}\n", NULL, "a\n  b");
    EXPECT("a  {{- 'b' -}}  c", NULL, "abc");
    EXPECT("a\n\n  {%- if true -%}\n\n  b  {%- endif %}", NULL, "ab");
    EXPECT("x {# comment #} y", NULL, "x  y");
    EXPECT("x\n  {# comment #}\ny", NULL, "x\ny");
    EXPECT("a {#- c -#} b", NULL, "ab");
    /* {%+ keeps the indentation, +%} keeps the newline */
    EXPECT("  {%+ if true %}x{% endif %}", NULL, "  x");
    EXPECT("{% if true +%}\nx{% endif %}", NULL, "\nx");
    /* one trailing newline of the template is dropped, CRLF becomes LF */
    EXPECT("a\r\nb\n", NULL, "a\nb");
    EXPECT("{% raw %}{{ not evaluated }}{% endraw %}", NULL, "{{ not evaluated }}");
}

/* ---- statements ---- */

static void template_loops(void)
{
    EXPECT("{% for x in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
           "{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
           NULL, "103TrueFalse3;212FalseFalse3;321FalseTrue3;");
    EXPECT("{% for x in 'abc' %}{{ loop.previtem ~ x ~ loop.nextitem }},{% endfor %}", NULL,
           "ab,abc,bc,");
    EXPECT("{% for x in [] %}a{% else %}empty{% endfor %}", NULL, "empty");
    EXPECT("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }} {% endfor %}", NULL,
           "a=1 b=2 ");
    EXPECT("{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}", "{\"d\":{\"z\":1,\"a\":2}}",
           "z1a2");
    EXPECT("{% for x in range(10) if x is odd %}{{ x }}{{ '.' if loop.last }}{% endfor %}", NULL,
           "13579.");
    EXPECT("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
           "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
           NULL, "013");
    EXPECT("{% for x in [1,2] %}{% for y in 'ab' %}{{ loop.depth }}{{ y }}{% endfor %}"
           "{{ loop.depth }}{% endfor %}",
           NULL, "2a2b12a2b1");
    EXPECT("{% for d in ds %}{{ d }}{% endfor %}", "{\"ds\":{\"x\":1,\"y\":2}}", "xy");
    /* a set inside a loop does not leak out; a namespace does */
    EXPECT("{% set a = 1 %}{% for x in [1,2] %}{% set a = a + x %}{{ a }}{% endfor %}{{ a }}", NULL,
           "231");
    EXPECT("{% set ns = namespace(n=0, items=[]) %}{% for x in [1,2,3] %}"
           "{% set ns.n = ns.n + x %}{% set ns.items = ns.items + [x] %}{% endfor %}"
           "{{ ns.n }} {{ ns.items }}",
           NULL, "6 [1, 2, 3]");
    EXPECT("{{ range(3)|list }} {{ range(1, 10, 4)|list }} {{ range(3, 0, -1)|list }}", NULL,
           "[0, 1, 2] [1, 5, 9] [3, 2, 1]");
    EXPECT("{% for x in [1,2,3] %}{{ loop.cycle('a', 'b') }}{% endfor %}", NULL, "aba");
}

static void template_set_and_macros(void)
{
    EXPECT("{% set a, b = 1, 2 %}{{ a }}{{ b }}", NULL, "12");
    EXPECT("{% set s %}  block {{ 1 + 1 }} {% endset %}[{{ s }}]", NULL, "[  block 2 ]");
    EXPECT("{% set s | trim | upper %}  hi  {% endset %}[{{ s }}]", NULL, "[HI]");
    EXPECT("{% filter upper %}abc{{ 'd' }}{% endfilter %}", NULL, "ABCD");
    EXPECT("{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}"
           "{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }} {{ greet(greeting='Yo', "
           "name='Cy') }}",
           NULL, "Hello, Ann! Hi, Bob! Yo, Cy!");
    /* missing arguments are undefined; macros see template-level variables */
    EXPECT("{% set g = 'G' %}{% macro m(a) %}{{ a is defined }}{{ g }}{% endmacro %}{{ m() }}",
           NULL, "FalseG");
    EXPECT("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",
           NULL, "321");
    EXPECT_ERR("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, UH_EINVAL, "takes not more");
}

/* ---- expressions ---- */

static void template_expressions(void)
{
    EXPECT("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}"
           " {{ 2 ** 10 }} {{ 7 / 2 }} {{ 6 / 2 }}",
           NULL, "7 9 3 -4 1 2 1024 3.5 3.0");
    EXPECT("{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2] }}", NULL,
           "a1NoneTrue ababab [1, 2]");
    EXPECT("{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'b' > 'a' }} {{ 2 in [1, 2] }} {{ 'x' not in 'abc' }}"
           " {{ 'k' in {'k': 1} }}",
           NULL, "True True True True True True");
    EXPECT("{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not 0 }} {{ [] or none }}", NULL, "x y True None");
    EXPECT("{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }}[{{ 'a' if false }}]", NULL,
           "yes no[]");
    EXPECT("{{ 'it''s' }} {{ \"say \\\"hi\\\"\\n\" }} {{ '\\u00e9\\x41\\t.' }}", NULL,
           "its say \"hi\"\n éA\t.");
    EXPECT("{{ [1, 'a', none, true, 1.5, {'k': [2]}] }} {{ (1,) }} {{ ('a', 'b') }}", NULL,
           "[1, 'a', None, True, 1.5, {'k': [2]}] (1,) ('a', 'b')");
    EXPECT("{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 100.0 }} {{ 1e22 }} {{ -0.0 }}", NULL,
           "0.30000000000000004 1e+16 1.5e-05 100.0 1e+22 -0.0");
    EXPECT("{{ \"it's\" | string }} {{ [\"it's\", 'q\"'] }}", NULL, "it's [\"it's\", 'q\"']");
    EXPECT("{{ 'abcdef'[1:3] }} {{ 'abcdef'[::-1] }} {{ [1,2,3,4][1:] }} {{ [1,2,3][-1] }}"
           " {{ 'héllo'[1] }} {{ 'héllo'[::-2] }} {{ [1,2,3,4,5][4:0:-2] }}",
           NULL, "bc fedcba [2, 3, 4] 3 é olh [5, 3]");
    EXPECT("{{ m.role }} {{ m['content'] }} {{ m.get('x', 'dflt') }} {{ m.x is defined }}"
           " {{ l.0 }}",
           "{\"m\":{\"role\":\"user\",\"content\":\"hi\"},\"l\":[7]}", "user hi dflt False 7");
    EXPECT("{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }}",
           "{\"d\":{\"a\":1,\"b\":[true,null]}}",
           "['a', 'b'] [1, [True, None]] [('a', 1), ('b', [True, None])]");
    EXPECT("{{ '%s is %d' % ('x', 3) }} {{ '%s!' % 'hi' }} {{ '%s'|format(1) }}", NULL,
           "x is 3 hi! 1");
}

static void template_string_methods(void)
{
    EXPECT("{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a'.lstrip() }}|"
           "{{ 'a\\n'.rstrip() }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}",
           NULL, "a b|a|a|a|TrueTrue");
    EXPECT("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}", NULL,
           "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c']");
    EXPECT("{{ 'Hello World'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }}"
           " {{ 'hELLO'.capitalize() }} {{ 'aXbX'.replace('X', '-') }} {{ 'abc'.find('c') }}",
           NULL, "HELLO WORLD hello Hello World Hello a-b- 2");
    EXPECT("{{ '</think>'.join(['a', 'b']) }} {{ 'x</think>y'.split('</think>')[-1] }}", NULL,
           "a</think>b y");
}

/* ---- filters and tests ---- */

static void template_filters(void)
{
    EXPECT("{{ '  x  '|trim }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}|{{ 'ab cd'|title }}|"
           "{{ 'aB'|capitalize }}|{{ 'aaa'|replace('a', 'b', 2) }}",
           NULL, "x|AB|ab|Ab Cd|Ab|bba");
    EXPECT("{{ [1,2,3]|length }} {{ 'héllo'|length }} {{ {'a':1}|count }} {{ [3,1,2]|first }}"
           " {{ [3,1,2]|last }} {{ [1,2]|join(', ') }} {{ [3,1,2]|sort }} {{ [1,2]|reverse|list }}"
           " {{ 'abc'|reverse }}",
           NULL, "3 5 1 3 2 1, 2 [1, 2, 3] [2, 1] cba");
    EXPECT("{{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ x|d(1) }}",
           NULL, "d  d 1");
    EXPECT("{{ ['a','B','b','A']|unique|list }} {{ [-1.5]|map('abs')|list }} {{ 3.7|int }}"
           " {{ '42'|int }} {{ 'x'|int(7) }} {{ 2|float }} {{ 2.567|round(2) }} {{ -3|abs }}",
           NULL, "['a', 'B'] [1.5] 3 42 7 2.0 2.57 3");
    const char *tools = "{\"ts\":[{\"type\":\"function\",\"name\":\"a\"},"
                        "{\"type\":\"code_interpreter\",\"name\":\"b\"},{\"name\":\"c\"}]}";
    EXPECT("{{ ts|selectattr('type', 'equalto', 'function')|map(attribute='name')|list }}"
           " {{ ts|rejectattr('type', 'equalto', 'function')|map(attribute='name')|join }}"
           " {{ ts|selectattr('type', 'defined')|list|length }}"
           " {{ ts|selectattr('type')|list|length }} {{ [0, 1, 2]|select|list }}"
           " {{ ['a', 'x']|reject('equalto', 'x')|list }}",
           tools, "['a'] bc 2 2 [1, 2] ['a']");
    EXPECT("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n'|indent }}", NULL,
           "a\n  b\n\n  c|  a\n  b|a\n");
    EXPECT("{{ {'b': 1, 'a': 2}|dictsort }} {{ [[1,2],[3]]|batch(2)|list }} {{ [1,2,3]|sum }}"
           " {{ [3,1]|min }} {{ [3,1]|max }} {{ 'a'|safe }}",
           NULL, "[('a', 2), ('b', 1)] [[[1, 2], [3]]] 6 1 3 a");
}

static void template_tojson(void)
{
    const char *vars = "{\"v\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                       "\"properties\":{\"x\":{\"type\":\"number\"}},\"required\":[\"x\"]},"
                       "\"n\":null,\"t\":true,\"f\":1.5,\"e\":[],\"o\":{},"
                       "\"s\":\"\\\"é\\n\\u0001</\"}}";
    EXPECT("{{ v|tojson }}", vars,
           "{\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"x\": "
           "{\"type\": \"number\"}}, \"required\": [\"x\"]}, \"n\": null, \"t\": true, \"f\": 1.5, "
           "\"e\": [], \"o\": {}, \"s\": \"\\\"é\\n\\u0001</\"}");
    EXPECT("{{ [1, {'a': [2, {}]}]|tojson(indent=2) }}", NULL,
           "[\n  1,\n  {\n    \"a\": [\n      2,\n      {}\n    ]\n  }\n]");
    EXPECT("{{ ('a', 1)|tojson }} {{ 'x'|tojson }} {{ {1: 2}|tojson }}", NULL,
           "[\"a\", 1] \"x\" {\"1\": 2}");
    EXPECT_ERR("{{ x|tojson }}", NULL, UH_EINVAL, "not JSON serializable");
}

static void template_tests(void)
{
    EXPECT("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}"
           "{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}"
           "{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is sequence }}{{ 1 is iterable }}"
           "{{ true is true }}{{ 0 is false }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}"
           "{{ 'a' is equalto 'a' }}{{ 2 is eq 2 }}{{ 1 is not none }}",
           NULL,
           "FalseTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrueFalseTrueTrueTrueTrueTrueTrue");
}

/* ---- undefined values ---- */

static void template_undefined_follows_jinja(void)
{
    /* printing, testing, iterating and defaulting an undefined value are fine */
    EXPECT("[{{ x }}]{% if x %}t{% else %}f{% endif %}{% for a in x %}a{% endfor %}"
           "{{ x|length }}{{ x ~ 'c' }}{{ x|default('d') }}{{ d.missing }}[{{ d.missing|trim }}]",
           "{\"d\":{}}", "[]f0cd[]");
    EXPECT("{{ (none).x is defined }} {{ 'str'.content is defined }}", NULL, "False False");
    /* but using it in arithmetic, attribute access or a call is an error naming it */
    EXPECT_ERR("{{ 'a' + functions }}", NULL, UH_EINVAL, "'functions' is undefined");
    EXPECT_ERR("{{ x.y }}", NULL, UH_EINVAL, "'x' is undefined");
    EXPECT_ERR("{{ d.a.b }}", "{\"d\":{}}", UH_EINVAL, "'dict object' has no attribute 'a'");
    EXPECT_ERR("{{ strftime_now('%d') }}", NULL, UH_EINVAL, "'strftime_now' is undefined");
    EXPECT_ERR("{{ raise_exception('Bad role: ' ~ r) }}", "{\"r\":\"x\"}", UH_EINVAL,
               "Bad role: x");
    EXPECT_ERR("{% for x in none %}{% endfor %}", NULL, UH_EINVAL, "not iterable");
    EXPECT_ERR("{{ 1 + 'a' }}", NULL, UH_EINVAL, "unsupported operand");
    EXPECT_ERR("{{ [].append(1) }}", NULL, UH_EINVAL, "has no attribute 'append'");
}

static void template_syntax_errors_have_positions(void)
{
    EXPECT_ERR("line one\n{% if x %}", NULL, UH_EFORMAT, "not closed");
    EXPECT_ERR("{{ 1 + }}", NULL, UH_EFORMAT, "1:8");
    EXPECT_ERR("ab\n  {% frobnicate %}", NULL, UH_EFORMAT, "2:6");
    EXPECT_ERR("{{ 'unterminated }}", NULL, UH_EFORMAT, "unterminated string");
    EXPECT_ERR("{% for x in y %}{% endif %}", NULL, UH_EFORMAT, "unknown or unexpected");
    EXPECT_ERR("{{ x", NULL, UH_EFORMAT, "missing }}");
    EXPECT_ERR("{# never closed", NULL, UH_EFORMAT, "unterminated comment");
    EXPECT_ERR("{% break %}", NULL, UH_EINVAL, "outside of a loop");
}

/* ---- caps ---- */

static void template_caps_stop_hostile_templates(void)
{
    double t0 = clock_mono_s();
    EXPECT_ERR("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", NULL, UH_ELIMIT,
               "macro calls nested deeper");
    EXPECT_ERR("{% for i in range(100000000) %}{% endfor %}", NULL, UH_ELIMIT, "range()");
    EXPECT_ERR("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}",
               NULL, UH_ELIMIT, "steps");
    EXPECT_ERR("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}"
               "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
               NULL, UH_ELIMIT, "exceeds");
    EXPECT_ERR("{% for i in range(1000000) %}{{ 'x' * 100 }}{% endfor %}", NULL, UH_ELIMIT,
               "output exceeds");
    EXPECT_ERR("{% for i in range(100000) %}{% set x = [i] * 1000000 %}{% endfor %}", NULL,
               UH_ELIMIT, "exceeds");
    EXPECT_ERR("{{ 'x' * 100000000000 }}", NULL, UH_ELIMIT, "");
    /* values nested without bound (a namespace holding itself, lists in lists) stop cleanly */
    EXPECT_ERR("{% set ns = namespace(n=0) %}{% set ns.n = ns, 1 %}{{ ns }}", NULL, UH_ELIMIT,
               "nested too deeply");
    EXPECT_ERR("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}"
               "{% endfor %}{{ ns.l == ns.l }}",
               NULL, UH_ELIMIT, "nested deeper");
    /* deep nesting in the source is a syntax error, not a stack overflow */
    char deep[4096];
    memset(deep, 0, sizeof deep);
    strcpy(deep, "{{ ");
    for (int i = 0; i < 1500; i++) strcat(deep, "(");
    strcat(deep, "1");
    for (int i = 0; i < 1500; i++) strcat(deep, ")");
    strcat(deep, " }}");
    EXPECT_ERR(deep, NULL, UH_EFORMAT, "nested too deeply");
    char *big = malloc((2 << 20) + 1);
    memset(big, 'a', 2 << 20);
    big[2 << 20] = 0;
    int rc;
    uh_err e;
    char *out = NULL;
    rc = tmpl_render(big, 2 << 20, NULL, &out, NULL, &e);
    CHECK(rc == UH_ELIMIT && out == NULL);
    free(big);
    double dt = clock_mono_s() - t0;
    CHECKF(dt < 20.0, "caps took %.1f s", dt);
    /* tighter limits through tmpl_render_ex */
    tmpl_limits lim = tmpl_default_limits;
    lim.max_steps = 1000;
    rc = tmpl_render_ex("{% for i in range(2000) %}{% endfor %}", 38, NULL, &lim, &out, NULL, &e);
    CHECK(rc == UH_ELIMIT);
}

/* ---- built-in templates ---- */

static const char *conv_json =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"SYS\"},{\"role\":\"user\",\"content\":"
    "\"U1\"},{\"role\":\"assistant\",\"content\":\"A1\"},{\"role\":\"user\",\"content\":\"U2\"}],"
    "\"add_generation_prompt\":true,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\"}";

static void builtin_expect(const char *name, const char *vars, const char *want)
{
    const char *src = tmpl_builtin(name);
    CHECKF(src != NULL, "no builtin %s", name);
    if (src) EXPECT(src, vars, want);
}

static void template_builtins_render_published_layouts(void)
{
    builtin_expect("chatml", conv_json,
                   "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n"
                   "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n"
                   "<|im_start|>assistant\n");
    builtin_expect("llama2", conv_json,
                   "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]");
    const char *l3 =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"SYS\"},{\"role\":\"user\",\"content\":"
        "\"U1\"},{\"role\":\"assistant\",\"content\":\"A1\"},{\"role\":\"user\",\"content\":\"U2\"}"
        "],\"add_generation_prompt\":true,\"bos_token\":\"<|begin_of_text|>\"}";
    builtin_expect("llama3", l3,
                   "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
    builtin_expect("mistral", conv_json, "<s>[INST] SYS\n\nU1 [/INST] A1</s>[INST] U2 [/INST]");
    const char *gm =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"SYS\"},{\"role\":\"user\",\"content\":"
        "\"U1\"},{\"role\":\"assistant\",\"content\":\"A1\"},{\"role\":\"user\",\"content\":\"U2\"}"
        "],\"add_generation_prompt\":true,\"bos_token\":\"<bos>\"}";
    builtin_expect("gemma", gm,
                   "<bos><start_of_turn>user\nSYS\n\nU1<end_of_turn>\n<start_of_turn>model\n"
                   "A1<end_of_turn>\n<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n");
    builtin_expect("phi3", conv_json,
                   "<|system|>\nSYS<|end|>\n<|user|>\nU1<|end|>\n<|assistant|>\nA1<|end|>\n"
                   "<|user|>\nU2<|end|>\n<|assistant|>\n");
    CHECK(tmpl_builtin("nope") == NULL);
    CHECK(tmpl_builtin(NULL) == NULL);
}

static int has_token(const char *text, void *ud)
{
    for (const char *const *t = ud; *t; t++)
        if (!strcmp(*t, text)) return 1;
    return 0;
}

static void template_guess_builtin_from_vocab(void)
{
    const char *qwen[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", NULL};
    const char *l3[] = {"<|begin_of_text|>", "<|start_header_id|>", NULL};
    const char *gemma[] = {"<bos>", "<start_of_turn>", NULL};
    const char *phi[] = {"<|user|>", "<|end|>", "<|assistant|>", NULL};
    const char *mis[] = {"<s>", "[INST]", "[/INST]", NULL};
    const char *none[] = {"<s>", "</s>", NULL};
    CHECK(!strcmp(tmpl_guess_builtin(has_token, qwen), "chatml"));
    CHECK(!strcmp(tmpl_guess_builtin(has_token, l3), "llama3"));
    CHECK(!strcmp(tmpl_guess_builtin(has_token, gemma), "gemma"));
    CHECK(!strcmp(tmpl_guess_builtin(has_token, phi), "phi3"));
    CHECK(!strcmp(tmpl_guess_builtin(has_token, mis), "mistral"));
    CHECK(!strcmp(tmpl_guess_builtin(has_token, none), "chatml"));
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(template_fixture_cases_match_jinja2);
    T_RUN(template_whitespace_control);
    T_RUN(template_loops);
    T_RUN(template_set_and_macros);
    T_RUN(template_expressions);
    T_RUN(template_string_methods);
    T_RUN(template_filters);
    T_RUN(template_tojson);
    T_RUN(template_tests);
    T_RUN(template_undefined_follows_jinja);
    T_RUN(template_syntax_errors_have_positions);
    T_RUN(template_caps_stop_hostile_templates);
    T_RUN(template_builtins_render_published_layouts);
    T_RUN(template_guess_builtin_from_vocab);
    return t_exit();
}
