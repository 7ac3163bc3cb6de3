#!/bin/sh
# Integration tests of the inference API of `unhosted serve` with curl: greedy output through
# /v1/completions and /api/generate equals `unhosted run` (stories260K has no chat template, so
# run uses the raw prompt), SSE framing, NDJSON, 8 concurrent streams equal to their solo output,
# error shapes and codes, a disconnect frees its slot, 429 with Retry-After when the queue is
# full, promtool on /metrics after traffic. Only ever connects to 127.0.0.1.
# Prints one "PASS name" / "FAIL name" per case.
set -u
. tests/lib.sh
MODEL=$TD/models/stories260K.gguf
export UNHOSTED_HOME="$T/home"

if [ ! -f "$MODEL" ]; then
    fail api_model_fixture "missing $MODEL"
    exit 0
fi

start() {
    serve_bg "$T/out" "$T/err" "$@"
    URL=http://127.0.0.1:$PORT
}
stop() { stop_pid "$NODE_PID"; }
C() { curl -s --noproxy '*' --max-time 60 "$@"; }

start --listen 127.0.0.1:0 --model "$MODEL" --parallel 4
if [ "$PORT" -gt 0 ]; then pass api_serve_starts; else fail api_serve_starts "$(cat "$T/err")"; exit 0; fi

# ---- greedy equals `unhosted run` ----
P="Once upon a time"
want=$($UH run "$MODEL" -p "$P" --temp 0 -n 24 2>/dev/null)
got=$(C "$URL/v1/completions" -d "{\"model\":\"stories260K\",\"prompt\":\"$P\",\"max_tokens\":24,\"temperature\":0}" |
    field "d['choices'][0]['text']")
if [ -n "$want" ] && [ "$got" = "$want" ]; then pass api_completion_equals_run; else
    fail api_completion_equals_run "run: $want" "api: $got"; fi
got=$(C "$URL/api/generate" -d "{\"model\":\"stories260K\",\"prompt\":\"$P\",\"stream\":false,\"options\":{\"num_predict\":24,\"temperature\":0,\"top_k\":1}}" |
    field "d['response']")
if [ "$got" = "$want" ]; then pass api_ollama_generate_equals_run; else
    fail api_ollama_generate_equals_run "run: $want" "api: $got"; fi

# ---- SSE framing ----
C -N "$URL/v1/chat/completions" -d '{"model":"stories260K","messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":8,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}' >"$T/sse"
n_data=$(grep -c '^data: ' "$T/sse")
other=$(grep -v '^data: ' "$T/sse" | grep -vc '^$')
if [ "$(tail -2 "$T/sse" | head -1)" = "data: [DONE]" ] && [ "$other" -eq 0 ] && [ "$n_data" -ge 4 ] &&
    head -1 "$T/sse" | grep -q '"delta":{"role":"assistant"' &&
    grep -q '"object":"chat.completion.chunk"' "$T/sse" &&
    grep -q '"finish_reason":"length"' "$T/sse" &&
    grep '^data: {' "$T/sse" | tail -1 | grep -q '"usage":{"prompt_tokens":'; then
    pass api_sse_framing; else fail api_sse_framing "$(head -c 1500 "$T/sse")"; fi
if awk 'NR%2==0 && $0!="" {bad=1} END {exit bad}' "$T/sse"; then pass api_sse_blank_lines; else
    fail api_sse_blank_lines "$(head -c 600 "$T/sse")"; fi
stream_text=$(C -N "$URL/v1/completions" -d "{\"model\":\"stories260K\",\"prompt\":\"$P\",\"max_tokens\":24,\"temperature\":0,\"stream\":true}" |
    sed -n 's/^data: //p' | grep -v '^\[DONE\]$' |
    python3 -c "import json,sys; print(''.join(json.loads(l)['choices'][0]['text'] for l in sys.stdin if l.strip()), end='')")
if [ "$stream_text" = "$want" ]; then pass api_stream_equals_run; else
    fail api_stream_equals_run "run: $want" "stream: $stream_text"; fi

# ---- NDJSON ----
C -N "$URL/api/generate" -d "{\"model\":\"stories260K\",\"prompt\":\"$P\",\"options\":{\"num_predict\":6,\"temperature\":0}}" >"$T/nd"
if python3 - "$T/nd" <<'EOF'; then pass api_ndjson; else fail api_ndjson "$(cat "$T/nd")"; fi
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "ends with a newline"
objs = [json.loads(l) for l in lines[:-1]]
assert all(not o["done"] for o in objs[:-1]) and objs[-1]["done"]
last = objs[-1]
assert last["done_reason"] == "length" and last["eval_count"] == 6 and last["prompt_eval_count"] > 0
assert isinstance(last["total_duration"], int)
EOF

# ---- 8 concurrent greedy streams equal their solo output ----
i=0
while [ $i -lt 8 ]; do
    echo "{\"model\":\"stories260K\",\"prompt\":\"Tom had a $i\",\"max_tokens\":32,\"temperature\":0,\"stream\":true}" >"$T/req$i"
    C -N "$URL/v1/completions" -d @"$T/req$i" | sed -n 's/^data: //p' | grep -v '^\[DONE\]$' |
        python3 -c "import json,sys; print(''.join(json.loads(l)['choices'][0]['text'] for l in sys.stdin if l.strip()), end='')" >"$T/solo$i"
    i=$((i + 1))
done
i=0
cpids=""
while [ $i -lt 8 ]; do
    (C -N "$URL/v1/completions" -d @"$T/req$i" | sed -n 's/^data: //p' | grep -v '^\[DONE\]$' |
        python3 -c "import json,sys; print(''.join(json.loads(l)['choices'][0]['text'] for l in sys.stdin if l.strip()), end='')" >"$T/conc$i") &
    cpids="$cpids $!"
    i=$((i + 1))
done
wait $cpids
bad=""
i=0
while [ $i -lt 8 ]; do
    { [ -s "$T/solo$i" ] && cmp -s "$T/solo$i" "$T/conc$i"; } || bad="$bad $i"
    i=$((i + 1))
done
if [ -z "$bad" ]; then pass api_concurrent_streams_equal_solo; else
    fail api_concurrent_streams_equal_solo "differ:$bad" "$(cat "$T/solo${bad# }" 2>/dev/null)"; fi

# ---- errors ----
check_err() { # name, status, body-regex, curl args...
    name=$1 want_code=$2 re=$3
    shift 3
    code=$(C -o "$T/body" -w '%{http_code}' "$@")
    if [ "$code" = "$want_code" ] && grep -q "$re" "$T/body"; then pass "$name"; else
        fail "$name" "status $code" "$(head -c 400 "$T/body")"; fi
}
check_err api_err_invalid_json 400 '"type":"invalid_request_error"' "$URL/v1/chat/completions" -d '{"model":'
check_err api_err_wrong_type 400 '"param":"messages"' "$URL/v1/chat/completions" -d '{"model":"stories260K","messages":"hi"}'
check_err api_err_unknown_model 404 '"code":"model_not_found"' "$URL/v1/chat/completions" -d '{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}'
check_err api_err_empty_messages 400 '"param":"messages"' "$URL/v1/chat/completions" -d '{"model":"stories260K","messages":[]}'
check_err api_err_n2 400 '"param":"n"' "$URL/v1/chat/completions" -d '{"model":"stories260K","messages":[{"role":"user","content":"hi"}],"n":2}'
check_err api_err_path_model 404 'model_not_found' "$URL/v1/completions" -d "{\"model\":\"${MODEL%.gguf}-F16.gguf\",\"prompt\":\"x\"}"
check_err api_err_ollama_shape 404 '^{"error":"' "$URL/api/generate" -d '{"model":"no-such-model","prompt":"x"}'
head -c 5000000 /dev/zero | tr '\0' 'a' >"$T/huge"
check_err api_err_huge_body 413 'error' "$URL/v1/completions" -H 'Content-Type: application/json' --data-binary @"$T/huge"
python3 -c "print('{\"model\":\"stories260K\",\"prompt\":\"' + 'once upon a time ' * 2000 + '\"}')" >"$T/long"
check_err api_err_context_length 400 '"code":"context_length_exceeded"' "$URL/v1/completions" -d @"$T/long"

# ---- a client that disconnects mid-stream frees its slot ----
# The client hangs up after the first event (head exits, curl's next write fails): a hang-up
# after a fixed time raced the whole context being generated first on a fast machine.
C -N "$URL/v1/completions" -d '{"model":"stories260K","prompt":"Once","max_tokens":100000,"temperature":0,"stream":true}' | head -c 100 >/dev/null
ok=""
i=0
while [ $i -lt 50 ]; do
    if C "$URL/metrics" | grep -q '^unhosted_kv_slots_in_use{model="stories260K"} 0$'; then ok=1; break; fi
    sleep 0.1
    i=$((i + 1))
done
if [ -n "$ok" ] && C "$URL/metrics" | grep -q 'unhosted_requests_total{model="stories260K",finish="cancelled"} 1'; then
    pass api_disconnect_frees_slot; else fail api_disconnect_frees_slot "$(C "$URL/metrics" | grep -E 'slots|requests_total')"; fi

C "$URL/metrics" >"$T/metrics"
if promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1; then pass api_metrics_promtool; else
    fail api_metrics_promtool "$(cat "$T/promtool")"; fi
if grep -q '^unhosted_time_to_first_token_seconds_count{model="stories260K"} [1-9]' "$T/metrics" &&
    grep -q '^unhosted_token_latency_seconds_bucket' "$T/metrics" &&
    grep -q '^unhosted_completion_tokens_total{model="stories260K"} [1-9]' "$T/metrics" &&
    grep -q '^unhosted_queue_depth{model="stories260K"} 0' "$T/metrics"; then
    pass api_metrics_scheduler; else fail api_metrics_scheduler "$(grep '^unhosted_' "$T/metrics" | head -30)"; fi
code=$(C -o /dev/null -D "$T/hdr" -w '%{http_code}' "$URL/v1/models")
if [ "$code" = 200 ] && grep -qi '^X-Unhosted-Served-By: local' "$T/hdr"; then pass api_served_by_header; else
    fail api_served_by_header "status $code" "$(cat "$T/hdr")"; fi
if stop; then pass api_sigterm_exit0; else fail api_sigterm_exit0 "$(tail -5 "$T/err")"; fi

# ---- a full queue answers 429 with Retry-After ----
start --listen 127.0.0.1:0 --model "$MODEL" --parallel 1 --queue 1
long='{"model":"stories260K","prompt":"Once","max_tokens":100000,"temperature":0,"stream":true}'
C -N --max-time 20 "$URL/v1/completions" -d "$long" >/dev/null &
c1=$!
sleep 0.3
C -N --max-time 20 "$URL/v1/completions" -d "$long" >/dev/null &
c2=$!
sleep 0.3
code=$(C -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$URL/v1/completions" -d '{"model":"stories260K","prompt":"x","max_tokens":2}')
if [ "$code" = 429 ] && grep -qi '^Retry-After: 1' "$T/hdr" && grep -q '"code":"rate_limit_exceeded"' "$T/body"; then
    pass api_queue_full_429; else fail api_queue_full_429 "status $code" "$(cat "$T/hdr" "$T/body")"; fi
kill "$c1" "$c2" 2>/dev/null
wait "$c1" "$c2" 2>/dev/null
if stop; then pass api_sigterm_with_streams_exit0; else fail api_sigterm_with_streams_exit0 "$(tail -5 "$T/err")"; fi

# ---- the memory budget: a model that does not fit is refused at start ----
$UH serve --listen 127.0.0.1:0 --model "$MODEL" --mem-budget 1000 >/dev/null 2>"$T/err" &
p2=$!
i=0
while kill -0 $p2 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if ! kill -0 $p2 2>/dev/null && grep -q 'memory budget' "$T/err"; then pass api_mem_budget_refuses; else
    kill $p2 2>/dev/null; fail api_mem_budget_refuses "$(cat "$T/err")"; fi
