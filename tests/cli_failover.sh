#!/bin/sh
# Failover only to the same model file: three nodes on loopback. A holds no model; B and C each
# hold a model named "slow" but they are different files (other weights). A streams a request
# that B or C serves; that node is killed after ten chunks. The other one must refuse to resume
# (its tokens would mean something else), so the client's stream ends with an error event
# instead of a continuation from another model. Then the same with the same file on both: the
# stream completes. Only ever connects to 127.0.0.1. Prints one "PASS name" / "FAIL name" per case.
set -u
. tests/lib.sh
VOCAB=$TD/models/stories260K.gguf

gen() { # seed dir
    mkdir -p "$2"
    "$GEN" --preset stories --type Q8_0 --n-embd 1024 --n-layer 6 --n-head 16 --n-head-kv 16 \
        --n-ff 2816 --vocab-from "$VOCAB" --seed "$1" -o "$2/slow.gguf" >/dev/null 2>&1
}
gen 1 "$T/m1" && gen 2 "$T/m2" || fail failover_models "unhosted-gen"

start() { # name http peer [model]: a node, its pid in PID_name; the test goes on if it fails
    name=$1 http=$2 peer=$3
    shift 3
    start_node "$name" "$http" "$peer" --threads 1 ${1:+--model "$1"} ||
        fail "failover_start_$name" "$(tail -3 "$T/$name.log")"
    eval "PID_$name=$NODE_PID"
}
pair() { pair_nodes "$T/$1" "$T/$2" 127.0.0.1:$3 ""; } # home-a home-b peer-port-of-b
# stream HTTP-PORT: streams a greedy request, SIGKILLs whichever node serves it after ten chunks,
# prints "served killed done error chunks" and writes the text to $T/text.
stream() {
    python3 - "$1" "$T" "$2" "$3" "$4" "$5" <<'EOF'
import http.client, json, os, signal, sys
port, tdir, idb, pidb, idc, pidc = sys.argv[1:]
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
body = {"model": "slow", "messages": [{"role": "user", "content": "Tell me a story"}],
        "max_tokens": 300, "temperature": 0, "stream": True}
c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
r = c.getresponse()
served = r.getheader("X-Unhosted-Served-By") or ""
victim = pidb if served == "peer:" + idb else pidc if served == "peer:" + idc else None
text, n, killed, done, error = "", 0, False, False, ""
for raw in r:
    line = raw.decode().strip()
    if not line.startswith("data: "):
        continue
    if line == "data: [DONE]":
        done = True
        break
    ev = json.loads(line[6:])
    if "error" in ev:
        error = json.dumps(ev["error"])
        continue
    for ch in ev.get("choices", []):
        piece = ch.get("delta", {}).get("content")
        if piece:
            text += piece
            n += 1
    if n == 10 and victim and not killed:
        os.kill(int(victim), signal.SIGKILL)
        killed = True
open(os.path.join(tdir, "text"), "w").write(text)
print("served=%s killed=%s done=%s chunks=%d error=%s" % (served[:12], killed, done, n, error))
EOF
}

set -- $(free_ports 6)
HA=$1 HB=$2 HC=$3 PA=$4 PB=$5 PC=$6
start a $HA $PA
start b $HB $PB "$T/m1/slow.gguf"
start c $HC $PC "$T/m2/slow.gguf"
IDB=$(curl -s http://127.0.0.1:$HB/admin/self | field 'd["id"]')
IDC=$(curl -s http://127.0.0.1:$HC/admin/self | field 'd["id"]')
pair a b $PB
pair a c $PC
wait_online "$T/a" 2 || fail failover_paired "$("$UH" --home "$T/a" peers 2>&1)"

res=$(stream $HA "$IDB" "$PID_b" "$IDC" "$PID_c")
chunks=$(echo "$res" | sed -n 's/.*chunks=\([0-9]*\).*/\1/p')
if echo "$res" | grep -q "killed=True" && echo "$res" | grep -q "another file" &&
    [ "${chunks:-99}" -le 12 ]; then
    pass failover_refuses_other_model_file
else
    fail failover_refuses_other_model_file "$res" "$(grep -h "route_\|409" "$T"/a.log | tail -3)"
fi

# ---- the same file on two devices: the stream goes on ----
survivor=b
echo "$res" | grep -q "served=peer:$(echo "$IDB" | cut -c1-7)" && survivor=c
set -- $(free_ports 2)
HD=$1 PD=$2
start d $HD $PD "$([ $survivor = b ] && echo "$T/m1/slow.gguf" || echo "$T/m2/slow.gguf")"
IDD=$(curl -s http://127.0.0.1:$HD/admin/self | field 'd["id"]')
pair a d $PD
wait_online "$T/a" 2 || fail failover_paired_again "$("$UH" --home "$T/a" peers 2>&1)"
if [ $survivor = b ]; then SID=$IDB SPID=$PID_b; else SID=$IDC SPID=$PID_c; fi
ref=$(curl -s http://127.0.0.1:$HD/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"slow","messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":300,"temperature":0}' |
    field 'd["choices"][0]["message"]["content"]')
res=$(stream $HA "$SID" "$SPID" "$IDD" "$(eval echo \$PID_d)")
if echo "$res" | grep -q "killed=True done=True" && [ "$(cat "$T/text")" = "$ref" ]; then
    pass failover_same_file_goes_on
else
    fail failover_same_file_goes_on "$res"
fi
exit 0
