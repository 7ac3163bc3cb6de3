#!/bin/sh
# CLI tests of `unhosted template`: a .jinja file rendered byte for byte (no newline added),
# built-ins, a model without a chat template (built-in guessed, BOS/EOS from its vocabulary),
# template errors (exit 1, message on stderr) and usage mistakes (exit 2).
# Prints one "PASS name" / "FAIL name" line per case. Run from the repository root.
set -u
. tests/lib.sh

cat >"$T/req.json" <<'EOF'
{"messages": [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": "Hi ünï 🙂"}],
 "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "extra": [1, 2]}
EOF

cat >"$T/t.jinja" <<'EOF'
{{- bos_token }}
{%- for m in messages %}
<{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>
{%- endfor %}
{%- if add_generation_prompt %}
<assistant>{{ extra | tojson }}
{%- endif %}
EOF

# exact bytes: compare with printf output through cmp (command substitution would drop newlines)
"$UH" template "$T/t.jinja" --input "$T/req.json" >"$T/out" 2>"$T/err"
rc=$?
printf '<s><system>Be brief.</system><user>Hi ünï 🙂</user><assistant>[1, 2]' >"$T/want"
if [ $rc -eq 0 ] && cmp -s "$T/out" "$T/want"; then pass template_file_exact_bytes; else
    fail template_file_exact_bytes "exit $rc" "got: $(od -c "$T/out" | tail -n 3)" "$(cat "$T/err")"; fi

"$UH" template --builtin chatml --input "$T/req.json" >"$T/out" 2>"$T/err"
rc=$?
printf '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi ünï 🙂<|im_end|>\n<|im_start|>assistant\n' >"$T/want"
if [ $rc -eq 0 ] && cmp -s "$T/out" "$T/want"; then pass template_builtin_chatml; else
    fail template_builtin_chatml "exit $rc" "$(cat "$T/out")" "$(cat "$T/err")"; fi

# a model without tokenizer.chat_template: guessed built-in, BOS/EOS texts from the vocab
printf '{"messages": [{"role": "user", "content": "x"}]}' >"$T/req2.json"
"$UH" template "$TD/models/stories260K.gguf" --builtin llama2 --input "$T/req2.json" \
    >"$T/out" 2>"$T/err"
rc=$?
printf '<s>[INST] x [/INST]' >"$T/want"
if [ $rc -eq 0 ] && cmp -s "$T/out" "$T/want"; then pass template_model_supplies_bos; else
    fail template_model_supplies_bos "exit $rc" "$(cat "$T/out")" "$(cat "$T/err")"; fi
"$UH" template "$TD/models/stories260K.gguf" --input "$T/req2.json" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "using the built-in 'chatml'" "$T/err" &&
    [ "$(cat "$T/out")" = "$(printf '<|im_start|>user\nx<|im_end|>\n')" ]; then
    pass template_model_without_template_uses_builtin; else
    fail template_model_without_template_uses_builtin "exit $rc" "$(cat "$T/out")" "$(cat "$T/err")"; fi

# the fixture's gemma template refuses a system message: exit 1, Jinja's message on stderr
if [ -f "$TD/chat-templates/google-gemma-2-2b-it.jinja" ]; then
    "$UH" template "$TD/chat-templates/google-gemma-2-2b-it.jinja" --input "$T/req.json" \
        >"$T/out" 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && [ ! -s "$T/out" ] &&
        grep -qx "unhosted template: System role not supported" "$T/err"; then
        pass template_raise_exception_exits_1; else
        fail template_raise_exception_exits_1 "exit $rc" "$(cat "$T/err")"; fi
fi

printf '{%% for x in range(10) %%}{{ x.y.z }}{%% endfor %%}' >"$T/bad.jinja"
"$UH" template "$T/bad.jinja" --input "$T/req.json" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "^unhosted template: 'int object' has no attribute 'y'" "$T/err"; then
    pass template_runtime_error_exits_1; else fail template_runtime_error_exits_1 "exit $rc" "$(cat "$T/err")"; fi

printf '{%% if %%}' >"$T/syntax.jinja"
"$UH" template "$T/syntax.jinja" --input "$T/req.json" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "syntax error at 1:" "$T/err"; then pass template_syntax_error_exits_1; else
    fail template_syntax_error_exits_1 "exit $rc" "$(cat "$T/err")"; fi

printf '{%% macro f() %%}{{ f() }}{%% endmacro %%}{{ f() }}' >"$T/loop.jinja"
"$UH" template "$T/loop.jinja" --input "$T/req.json" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "nested deeper" "$T/err"; then pass template_runaway_recursion_stops; else
    fail template_runaway_recursion_stops "exit $rc" "$(cat "$T/err")"; fi

printf 'not json' >"$T/bad.json"
"$UH" template "$T/t.jinja" --input "$T/bad.json" >/dev/null 2>"$T/err"
rc1=$?
"$UH" template "$T/t.jinja" >/dev/null 2>&1
rc2=$?
"$UH" template "$T/t.jinja" --input "$T/req.json" --builtin nope >/dev/null 2>&1
rc3=$?
"$UH" template "$T/t.jinja" --input "$T/req.json" --bogus >/dev/null 2>&1
rc4=$?
if [ $rc1 -eq 1 ] && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ] && [ $rc4 -eq 2 ]; then
    pass template_usage_errors; else fail template_usage_errors "exits $rc1 $rc2 $rc3 $rc4"; fi
