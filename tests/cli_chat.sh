#!/bin/sh
# CLI tests of chat templates in run, stop strings, and the interactive chat (driven through a
# pipe). Prints one "PASS name" / "FAIL name" line per case. Run from the repository root.
set -u
. tests/lib.sh
export UNHOSTED_HOME="$T/home"
STORIES=$TD/models/stories260K.gguf

# ---- run: stop strings ----
out=$($UH run "$STORIES" -p "Once upon a time" -n 64 --temp 0 --stop "Lily" 2>"$T/err")
if [ "$out" = ", there was a little girl named " ] && grep -q "stop: stop string" "$T/err"; then
    pass run_stop_string; else fail run_stop_string "got: $out" "$(cat "$T/err")"; fi

# ---- run: a chat template given on the command line ----
printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}' >"$T/plain.jinja"
a=$($UH run "$STORIES" -p "Once upon a time" -n 20 --temp 0 --chat-template "$T/plain.jinja" 2>/dev/null)
b=$($UH run "$STORIES" -p "Once upon a time" -n 20 --temp 0 --raw 2>/dev/null)
if [ -n "$a" ] && [ "$a" = "$b" ]; then pass run_chat_template_file; else
    fail run_chat_template_file "template: $a" "raw: $b"; fi
printf '{%% for m in messages %%}<{{ m.role }}>{{ m.content }}{%% endfor %%}' >"$T/roles.jinja"
$UH run "$STORIES" -p "Once upon a time" -n 2 --temp 0 --chat-template "$T/roles.jinja" \
    >/dev/null 2>"$T/err"
# BOS + "<user>" spelled out by the tokenizer + the 4 prompt tokens: more than the raw 5
n=$(sed -n 's/.*prompt \([0-9]*\) tokens.*/\1/p' "$T/err")
if [ -n "$n" ] && [ "$n" -gt 5 ]; then pass run_template_changes_prompt; else
    fail run_template_changes_prompt "$(cat "$T/err")"; fi
printf '{%% if %%}' >"$T/broken.jinja"
$UH run "$STORIES" -p "x" --chat-template "$T/broken.jinja" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "^unhosted run: " "$T/err"; then pass run_broken_template_error; else
    fail run_broken_template_error "exit $rc" "$(cat "$T/err")"; fi

# ---- chat through a pipe ----
printf '/system You tell stories.\nOnce upon a time\nand then\n/save %s\n/reset\n/load %s\n/nope\n/exit\nnot read\n' \
    "$T/conv.json" "$T/conv.json" |
    $UH chat "$STORIES" --temp 0 -n 12 --verbose >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "(system message set)" "$T/out" && grep -q "(saved to" "$T/out" &&
    grep -q "(conversation cleared)" "$T/out" && grep -q "(loaded 5 messages)" "$T/out" &&
    grep -q "unknown command /nope" "$T/err"; then pass chat_commands; else
    fail chat_commands "exit $rc" "$(cat "$T/out")" "$(cat "$T/err")"; fi
roles=$(grep -o '"role":[[:space:]]*"[a-z]*"' "$T/conv.json" | sed 's/.*"\([a-z]*\)"$/\1/' | tr '\n' ' ')
if [ "$roles" = "system user assistant user assistant " ]; then pass chat_save_format; else
    fail chat_save_format "roles: $roles"; fi
# the second turn re-used the cache of the first
second=$(grep "from cache" "$T/err" | sed -n 2p)
reused=$(echo "$second" | sed 's/.*(\([0-9]*\) from cache.*/\1/')
if [ -n "$reused" ] && [ "$reused" -gt 10 ]; then pass chat_reuses_prompt_cache; else
    fail chat_reuses_prompt_cache "$(cat "$T/err")"; fi

printf '"""\nline one\nline two\n"""\n' | $UH chat "$STORIES" --temp 0 -n 4 --verbose \
    >/dev/null 2>"$T/err"
if grep -q "answer 4 tokens" "$T/err" && [ "$(grep -c 'from cache' "$T/err")" -eq 1 ]; then
    pass chat_multiline_message; else fail chat_multiline_message "$(cat "$T/err")"; fi

echo '{"messages": 5}' >"$T/bad.json"
printf '/load %s\n' "$T/bad.json" | $UH chat "$STORIES" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "is not a saved conversation" "$T/err"; then pass chat_load_rejects_bad_file; else
    fail chat_load_rejects_bad_file "exit $rc" "$(cat "$T/err")"; fi

$UH chat >/dev/null 2>&1
if [ $? -eq 2 ]; then pass chat_usage_error; else fail chat_usage_error; fi

# ---- Ctrl-C stops the answer, not the program ----
if $GEN --n-layer 8 --n-embd 1024 --n-head 8 --n-head-kv 4 --n-ff 2048 --type Q8_0 --seed 2 \
    -o "$T/slow.gguf" 2>/dev/null; then
    mkfifo "$T/in"
    $UH chat "$T/slow.gguf" -n -1 --temp 0 -c 8192 <"$T/in" >"$T/out" 2>"$T/err" &
    pid=$!
    exec 3>"$T/in"
    echo "hello there" >&3
    sleep 1
    kill -INT $pid 2>/dev/null
    sleep 1
    echo "/save $T/after.json" >&3
    echo "/exit" >&3
    exec 3>&-
    wait $pid
    rc=$?
    if [ $rc -eq 0 ] && grep -q "\[interrupted\]" "$T/err" && [ -s "$T/after.json" ] &&
        grep -q '"assistant"' "$T/after.json"; then pass chat_ctrl_c_stops_answer; else
        fail chat_ctrl_c_stops_answer "exit $rc" "$(cat "$T/err")"; fi
else
    fail chat_ctrl_c_stops_answer "cannot generate the model"
fi
