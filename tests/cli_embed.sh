#!/bin/sh
# Integration tests of the embeddings endpoints of `unhosted serve` with curl: shape (n_embd
# floats of unit length), repeatability, a batch equal to single requests, token ids equal to
# the text they tokenize to, base64 equal to the floats, Ollama /api/embed equal to OpenAI, and
# the errors (empty input, too many inputs, dimensions, unknown model, too long). Only ever
# connects to 127.0.0.1. Prints one "PASS name" / "FAIL name" per case.
set -u
. tests/lib.sh
MODEL=$TD/models/stories260K.gguf
export UNHOSTED_HOME="$T/home"

if [ ! -f "$MODEL" ]; then
    fail embed_model_fixture "missing $MODEL"
    exit 0
fi

serve_bg "$T/out" "$T/err" --listen 127.0.0.1:0 --model "$MODEL" --ctx 64
if [ "$PORT" -eq 0 ]; then fail embed_serve_starts "$(cat "$T/err")"; exit 0; fi
URL=http://127.0.0.1:$PORT
C() { curl -s --noproxy '*' --max-time 60 "$@"; }
# post PATH JSON FILE: the body into FILE, prints the HTTP status
post() { C -o "$3" -w '%{http_code}' "$URL$1" -d "$2"; }
py() { python3 -c "import json,sys,base64,struct,math; $1"; }

M='"model":"stories260K"'
post /v1/embeddings "{$M,\"input\":\"Once upon a time\"}" "$T/a" >/dev/null
post /v1/embeddings "{$M,\"input\":\"Once upon a time\"}" "$T/b" >/dev/null
n_embd=$($UH inspect "$MODEL" 2>/dev/null | sed -n 's/.*token_embd.weight.*\[\([0-9][0-9]*\),.*/\1/p' | head -1)
if py "d=json.load(open('$T/a')); v=d['data'][0]['embedding']
assert d['object']=='list' and d['data'][0]['object']=='embedding' and d['data'][0]['index']==0
assert d['model']=='stories260K' and d['usage']['prompt_tokens']>0
assert d['usage']['total_tokens']==d['usage']['prompt_tokens']
assert len(v)==$n_embd, len(v)
assert abs(math.sqrt(sum(x*x for x in v))-1)<1e-5" 2>"$T/py"; then pass embed_shape_unit_norm; else
    fail embed_shape_unit_norm "$(cat "$T/py")" "$(head -c 300 "$T/a")"; fi
if cmp -s "$T/a" "$T/b"; then pass embed_repeatable; else fail embed_repeatable; fi

post /v1/embeddings "{$M,\"input\":[\"Tell me a story\",\"Once upon a time\",\"x\"]}" "$T/batch" >/dev/null
post /v1/embeddings "{$M,\"input\":\"Tell me a story\"}" "$T/s0" >/dev/null
post /v1/embeddings "{$M,\"input\":\"x\"}" "$T/s2" >/dev/null
if py "b=json.load(open('$T/batch'))['data']; e=lambda f: json.load(open(f))['data'][0]['embedding']
assert [x['index'] for x in b]==[0,1,2]
assert b[0]['embedding']==e('$T/s0') and b[1]['embedding']==e('$T/a') and b[2]['embedding']==e('$T/s2')
assert b[0]['embedding']!=b[2]['embedding']" 2>"$T/py"; then pass embed_batch_equals_single; else
    fail embed_batch_equals_single "$(cat "$T/py")"; fi

ids=$($UH tokenize "$MODEL" --bos "Once upon a time" 2>/dev/null | py "print(json.dumps([int(t) for t in sys.stdin.read().split() if t.lstrip('-').isdigit()]))")
post /v1/embeddings "{$M,\"input\":$ids}" "$T/ids" >/dev/null
post /v1/embeddings "{$M,\"input\":[$ids,$ids]}" "$T/ids2" >/dev/null
if py "a=json.load(open('$T/a'))['data'][0]['embedding']; i=json.load(open('$T/ids'))['data'][0]['embedding']
j=json.load(open('$T/ids2'))['data']
assert a==i and len(j)==2 and j[1]['embedding']==a" 2>"$T/py"; then pass embed_token_ids_equal_text; else
    fail embed_token_ids_equal_text "ids: $ids" "$(cat "$T/py")" "$(head -c 300 "$T/ids")"; fi

post /v1/embeddings "{$M,\"input\":\"Once upon a time\",\"encoding_format\":\"base64\",\"dimensions\":$n_embd}" "$T/b64" >/dev/null
if py "a=json.load(open('$T/a'))['data'][0]['embedding']; s=json.load(open('$T/b64'))['data'][0]['embedding']
raw=base64.b64decode(s); v=struct.unpack('<%df'%(len(raw)//4), raw)
assert len(v)==len(a) and all(struct.pack('<f',x)==struct.pack('<f',y) for x,y in zip(v,a))" 2>"$T/py"; then
    pass embed_base64_equals_float; else fail embed_base64_equals_float "$(cat "$T/py")"; fi

post /api/embed "{$M,\"input\":[\"Once upon a time\",\"x\"]}" "$T/oll" >/dev/null
if py "a=json.load(open('$T/a'))['data'][0]['embedding']; o=json.load(open('$T/oll'))
assert o['model']=='stories260K' and len(o['embeddings'])==2 and o['embeddings'][0]==a
assert o['prompt_eval_count']>0" 2>"$T/py"; then pass embed_ollama_equals_openai; else
    fail embed_ollama_equals_openai "$(cat "$T/py")" "$(head -c 300 "$T/oll")"; fi

# ---- errors ----
check_err() { # name status param code path body
    st=$(post "$5" "$6" "$T/e")
    if [ "$st" = "$2" ] && grep -q "\"param\":$3" "$T/e" && grep -q "\"code\":$4" "$T/e"; then pass "$1"; else
        fail "$1" "status $st" "$(head -c 300 "$T/e")"; fi
}
check_err embed_error_empty_input 400 '"input"' null /v1/embeddings "{$M,\"input\":[]}"
check_err embed_error_empty_string 400 '"input"' null /v1/embeddings "{$M,\"input\":\"\"}"
many=$(py "print(json.dumps(['a']*257))")
check_err embed_error_too_many_inputs 400 '"input"' null /v1/embeddings "{$M,\"input\":$many}"
check_err embed_error_dimensions 400 '"dimensions"' null /v1/embeddings "{$M,\"input\":\"x\",\"dimensions\":3}"
check_err embed_error_unknown_model 404 '"model"' '"model_not_found"' /v1/embeddings '{"model":"no-such-model","input":"x"}'
long=$(py "print(' '.join(['Once upon a time']*64))")
check_err embed_error_too_long 400 '"input"' '"context_length_exceeded"' /v1/embeddings "{$M,\"input\":\"$long\"}"
check_err embed_error_token_id 400 '"input"' null /v1/embeddings "{$M,\"input\":[1,2,99999999]}"
check_err embed_error_format 400 '"encoding_format"' null /v1/embeddings "{$M,\"input\":\"x\",\"encoding_format\":\"hex\"}"
st=$(post /api/embed "{$M,\"input\":\"$long\"}" "$T/e")
if [ "$st" = 200 ]; then pass embed_ollama_truncates; else fail embed_ollama_truncates "status $st"; fi
st=$(post /api/embed "{$M,\"input\":\"$long\",\"truncate\":false}" "$T/e")
if [ "$st" = 400 ]; then pass embed_ollama_no_truncate; else fail embed_ollama_no_truncate "status $st"; fi

# generation still works beside embeddings
st=$(post /v1/completions "{$M,\"prompt\":\"Once\",\"max_tokens\":4}" "$T/c")
if [ "$st" = 200 ]; then pass embed_generation_unaffected; else fail embed_generation_unaffected "status $st"; fi

stop_pid "$NODE_PID" || true # its exit status is not a case here
