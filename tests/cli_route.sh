#!/bin/sh
# Routing rules between two real nodes on loopback: A holds no model, B holds stories260K. A
# pairs with B as a trusted friend's device; B gives A a daily quota. Checks the model listing
# (peers' models in /v1/models), the request's ring (header and body field; `local` keeps it off
# friends' devices), X-Unhosted-Served-By, logprobs with alternatives answered by the peer (whole
# and streamed), and that B refuses A once A used its quota (A's client gets 429 saying so). Only ever connects to 127.0.0.1. Prints one "PASS name" / "FAIL name" per
# case.
set -u
. tests/lib.sh
MODEL=$TD/models/stories260K.gguf
set -- $(free_ports 4)
HA=$1 HB=$2 PA=$3 PB=$4

start_node a $HA $PA
start_node b $HB $PB --model "$MODEL"
IDB=$(curl -s http://127.0.0.1:$HB/admin/self | field 'd["id"]')

pair_nodes "$T/a" "$T/b" 127.0.0.1:$PB trusted --ring trusted --quota 12
if wait_online "$T/a" 1; then pass route_paired; else fail route_paired "$("$UH" --home "$T/a" peers 2>&1)"; fi

# ---- peers' models are listed, owned by the device that holds them ----
owner=$(curl -s http://127.0.0.1:$HA/v1/models | field '[m["owned_by"] for m in d["data"] if m["id"]=="stories260K"][0]' 2>/dev/null)
if [ "$owner" = "peer:$IDB" ]; then pass route_models_list_peers; else
    fail route_models_list_peers "owned_by: $owner"; fi

req() { # extra curl args...: status to stdout, body to $T/body, headers to $T/hdr
    curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' http://127.0.0.1:$HA/v1/completions \
        -H 'Content-Type: application/json' "$@"
}
body='{"model":"stories260K","prompt":"Once upon a time","max_tokens":6,"temperature":0}'

# ---- the ring: `local` keeps a request on my own devices; B is a friend's ----
st=$(req -H 'X-Unhosted-Ring: local' -d "$body")
if [ "$st" = 404 ] && grep -q model_not_found "$T/body"; then pass route_ring_local_header; else
    fail route_ring_local_header "status $st" "$(cat "$T/body")"; fi
st=$(req -d '{"model":"stories260K","prompt":"Once upon a time","max_tokens":6,"ring":"local"}')
if [ "$st" = 404 ]; then pass route_ring_local_field; else fail route_ring_local_field "status $st"; fi
st=$(req -H 'X-Unhosted-Ring: everywhere' -d "$body")
if [ "$st" = 400 ] && grep -q '"param":"ring"' "$T/body"; then pass route_ring_bad; else
    fail route_ring_bad "status $st" "$(cat "$T/body")"; fi
st=$(req -H 'X-Unhosted-Ring: trusted' -d "$body")
served=$(tr -d '\r' <"$T/hdr" | sed -n 's/^X-Unhosted-Served-By: //Ip')
if [ "$st" = 200 ] && [ "$served" = "peer:$IDB" ]; then pass route_ring_trusted_served_by_peer; else
    fail route_ring_trusted_served_by_peer "status $st served by $served" "$(cat "$T/body")"; fi

used=$(field 'd["usage"]["completion_tokens"]' <"$T/body" 2>/dev/null)
used=${used:-0}

# ---- logprobs and their alternatives travel: A's answer, served by B, has the same log-probs
# and top-3 alternatives as B's own answer to the same greedy request ----
lp='{"model":"stories260K","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":3,"temperature":0,"logprobs":true,"top_logprobs":3}'
st=$(curl -s -o "$T/lp_a" -D "$T/lp_hdr" -w '%{http_code}' http://127.0.0.1:$HA/v1/chat/completions \
    -H 'Content-Type: application/json' -d "$lp")
curl -s -o "$T/lp_b" http://127.0.0.1:$HB/v1/chat/completions -H 'Content-Type: application/json' \
    -d "$lp"
served=$(tr -d '\r' <"$T/lp_hdr" | sed -n 's/^X-Unhosted-Served-By: //Ip')
check=$(python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
ca = a["choices"][0]["logprobs"]["content"]; cb = b["choices"][0]["logprobs"]["content"]
n = a["usage"]["completion_tokens"]
ok = len(ca) == n and n > 0 and ca == cb and all(len(e["top_logprobs"]) == 3 for e in ca)
ok = ok and all(e["top_logprobs"][0]["logprob"] >= e["top_logprobs"][2]["logprob"] for e in ca)
print("ok" if ok else "differs", n)' "$T/lp_a" "$T/lp_b" 2>&1)
if [ "$st" = 200 ] && [ "$served" = "peer:$IDB" ] && [ "${check%% *}" = ok ]; then
    pass route_logprobs_from_peer
else
    fail route_logprobs_from_peer "status $st served by $served: $check" "$(cat "$T/lp_a")" \
        "$(cat "$T/lp_b")"
fi
used=$((used + ${check##* }))

# ---- the same in a stream: every token's chunk carries its alternatives ----
st=$(curl -s -N -o "$T/lp_s" -w '%{http_code}' http://127.0.0.1:$HA/v1/completions \
    -H 'Content-Type: application/json' \
    -d '{"model":"stories260K","prompt":"Once","max_tokens":2,"temperature":0,"logprobs":2,"stream":true}')
n_lp=$(sed -n 's/^data: //p' "$T/lp_s" | grep -v '^\[DONE\]' | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    c = json.loads(line)["choices"]
    if c and c[0].get("logprobs") and len(c[0]["logprobs"]["top_logprobs"][0]) >= 1:
        n += 1
print(n)' 2>&1)
if [ "$st" = 200 ] && [ "$n_lp" = 2 ]; then pass route_logprobs_stream_from_peer; else
    fail route_logprobs_stream_from_peer "status $st, $n_lp chunks with alternatives" \
        "$(cat "$T/lp_s")"; fi
used=$((used + 2))

# ---- B's quota for A: 12 tokens a day; once used up, B refuses and A's client hears why ----
st=200
i=0
while [ "$st" = 200 ] && [ $i -lt 10 ]; do
    st=$(req -d "$body")
    [ "$st" = 200 ] && used=$((used + $(field 'd["usage"]["completion_tokens"]' <"$T/body")))
    i=$((i + 1))
done
if [ "$st" = 429 ] && grep -qi quota "$T/body" && [ "$used" -ge 12 ]; then
    pass route_quota_refuses_after_use
else
    fail route_quota_refuses_after_use "status $st after $used tokens" "$(cat "$T/body")"
fi
exit 0
