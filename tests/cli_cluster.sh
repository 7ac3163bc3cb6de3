#!/bin/sh
# The cluster across a real network stack: four hosts in network namespaces on one bridge
# (tests/netns.sh), a node in each: A, B, C, and M (an attacker). Shows discovery over mDNS,
# pairing with the same code on both screens, a man in the middle making the codes differ,
# refusal of unpaired devices at the transport, routing to the device that holds a model, load
# spreading, health (down within 3 s, back up), failover before the first token and in the
# middle of a stream (greedy text equal to an uninterrupted run), revocation, and that captured
# traffic never carries the prompt or the answer.
# Needs root (ip netns); prints SKIP otherwise. Prints one "PASS name" / "FAIL name" per case.
set -u
. tests/lib.sh
UH=$(cd "$(dirname "$UH")" && pwd)/$(basename "$UH")
SMALL=$(cd "$TD/models" && pwd)/stories260K.gguf
OTHER=$(cd "$TD/models" && pwd)/llama-s1-Q8_0.gguf
. "$(dirname "$0")/netns.sh"
netns_skip_unless_root cli_cluster
NETNS_EXTRA_CLEANUP=cleanup

netns_setup 4 || {
    fail cluster_setup "cannot build the namespaces"
    exit 1
}
A=1 B=2 C=3 M=4
# A model slow enough to stop in the middle of its answer (~100 tokens/s), same file on B and C.
SLOW="$T/slow.gguf"
"$GEN" --preset stories --type Q8_0 --n-embd 1024 --n-layer 12 --n-head 16 --n-head-kv 16 \
    --n-ff 2816 --vocab-from "$SMALL" -o "$SLOW" >/dev/null 2>&1 || fail cluster_model "unhosted-gen"

uh() { # host, args...: the CLI against that host's node
    h=$1
    shift
    netns_exec "$h" "$UH" --home "$T/h$h" "$@"
}
id_of() { "$UH" --home "$T/h$1" id --json | field 'd["id"]'; }
start_node() { # host, models...
    h=$1
    shift
    margs=""
    for m in "$@"; do margs="$margs --model $m"; done
    # shellcheck disable=SC2086
    UNHOSTED_LOG=info netns_bg "$h" "$UH" serve --home "$T/h$h" --listen 127.0.0.1:7777 \
        --peer-listen 0.0.0.0:7778 --mdns-interface "$(netns_if "$h")" --parallel 2 $margs \
        >"$T/node$h.log" 2>&1
    eval "PID$h=$NETNS_BG_PID"
}
wait_http() { # host: until its node answers /health (10 s)
    wait_until 100 netns_exec "$1" curl -sf http://127.0.0.1:7777/health >/dev/null 2>&1
}
# peer_field HOST ID EXPR: EXPR of that device's entry in HOST's peers ("" when absent).
peer_field() {
    uh "$1" peers --json 2>/dev/null |
        python3 -c "import json,sys
d=json.load(sys.stdin); p=[p for p in d['peers'] if p['id']=='$2']
print(($3) if p else '', end='')" 2>/dev/null
}
# pair_ok HOST1 HOST2 RING: pairs by device id from HOST1, both sides confirm with the code.
pair_codes() {
    out=$(uh "$1" pair "$2" --ring "$3" --no-confirm --json 2>&1)
    P1=$(echo "$out" | field 'd["id"]' 2>/dev/null)
    CODE1=$(echo "$out" | field 'd["code"]' 2>/dev/null)
    P2=""
    CODE2=""
    for _ in $(seq 50); do
        j=$(uh "$4" pairing --json 2>/dev/null)
        P2=$(echo "$j" | field '[p["id"] for p in d["pairings"] if p["incoming"] and p["state"]=="waiting"][0]' 2>/dev/null)
        CODE2=$(echo "$j" | field '[p["code"] for p in d["pairings"] if p["incoming"] and p["state"]=="waiting"][0]' 2>/dev/null)
        [ -n "$CODE2" ] && break
        sleep 0.1
    done
}
chat() { # host, model, extra curl args...: prints headers to $T/hdr, body to stdout
    h=$1 model=$2
    shift 2
    netns_exec "$h" curl -s -D "$T/hdr" http://127.0.0.1:7777/v1/chat/completions \
        -H 'Content-Type: application/json' "$@" \
        -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"$PROMPT\"}],\"max_tokens\":40,\"temperature\":0}"
}
served_by() { tr -d '\r' <"$T/hdr" | sed -n 's/^X-Unhosted-Served-By: //Ip'; }

for h in $A $B $C $M; do mkdir -p "$T/h$h" && "$UH" --home "$T/h$h" id >/dev/null; done
IDA=$(id_of $A) IDB=$(id_of $B) IDC=$(id_of $C) IDM=$(id_of $M)
ADDR_A="$(netns_addr $A):7778" ADDR_B="$(netns_addr $B):7778" ADDR_M="$(netns_addr $M):7778"
start_node $A "$OTHER"
start_node $B "$SMALL" "$OTHER" "$SLOW"
start_node $C "$SLOW"
start_node $M
for h in $A $B $C $M; do wait_http $h || fail "cluster_node_$h_up" "$(tail -5 "$T/node$h.log")"; done

# ---- discovery ----
t0=$(date +%s.%N)
found=""
for _ in $(seq 50); do
    if [ "$(peer_field $A "$IDB" "p[0]['discovered']")" = True ] &&
        [ "$(peer_field $A "$IDC" "p[0]['discovered']")" = True ]; then
        found=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
        break
    fi
    sleep 0.1
done
if [ -n "$found" ]; then pass "cluster_discovery_within_5s (${found}s)"; else
    fail cluster_discovery_within_5s "$(uh $A peers 2>&1)"; fi

# ---- a man in the middle: A thinks it pairs with B, but talks to M, which pairs with B ----
uh $M pair "$ADDR_B" --no-confirm --json >"$T/m_out" 2>&1
CODE_MB=$(field 'd["code"]' <"$T/m_out" 2>/dev/null)
pair_codes $A "$ADDR_M" own $M
CODE_AM=$CODE1
PID_AM=$P1
j=$(uh $B pairing --json 2>/dev/null)
PID_B=$(echo "$j" | field '[p["id"] for p in d["pairings"] if p["incoming"]][0]' 2>/dev/null)
CODE_B=$(echo "$j" | field '[p["code"] for p in d["pairings"] if p["incoming"]][0]' 2>/dev/null)
# Each user types the code the other screen shows: A sees CODE_AM, B sees CODE_B.
uh $A pairing accept "$PID_AM" --code "$CODE_B" >/dev/null 2>&1
uh $B pairing accept "$PID_B" --code "$CODE_AM" >/dev/null 2>&1
sleep 0.5
st_a=$(uh $A pairing --json | field "[p['state'] for p in d['pairings'] if p['id']=='$PID_AM'][0]")
st_b=$(uh $B pairing --json | field "[p['state'] for p in d['pairings'] if p['id']=='$PID_B'][0]")
if [ -n "$CODE_AM" ] && [ "$CODE_AM" != "$CODE_B" ] && [ "$CODE_B" = "$CODE_MB" ] &&
    [ "$st_a" = rejected ] && [ "$st_b" = rejected ] &&
    [ -z "$(peer_field $A "$IDM" "p[0]['paired']" | grep True)" ] &&
    [ -z "$(peer_field $B "$IDM" "p[0]['paired']" | grep True)" ]; then
    pass cluster_mitm_codes_differ_and_pairing_fails
else
    fail cluster_mitm_codes_differ_and_pairing_fails "A saw $CODE_AM, B saw $CODE_B (M-B $CODE_MB)" \
        "states: A $st_a, B $st_b"
fi

# ---- pairing A-B by device id (as found by discovery), same code on both screens ----
SHORT_B=$(echo "$IDB" | cut -c1-7)
pair_codes $A "$SHORT_B" own $B
if [ -n "$CODE1" ] && [ "$CODE1" = "$CODE2" ]; then pass cluster_pair_same_code_both_sides; else
    fail cluster_pair_same_code_both_sides "A: $CODE1  B: $CODE2"; fi
uh $B pairing accept "$P2" --code "$CODE1" --ring own >/dev/null 2>&1
uh $A pairing accept "$P1" --code "$CODE2" >/dev/null 2>&1
ok=""
for _ in $(seq 40); do
    if [ "$(peer_field $A "$IDB" "p[0]['online']")" = True ] &&
        [ "$(peer_field $B "$IDA" "p[0]['online']")" = True ]; then ok=1 && break; fi
    sleep 0.1
done
if [ -n "$ok" ] && [ "$(peer_field $A "$IDB" "p[0]['ring']")" = own ]; then pass cluster_paired_online; else
    fail cluster_paired_online "$(uh $A peers 2>&1)" "$(uh $B peers 2>&1)"; fi

# ---- tcpdump on the bridge during requests: no prompt, no answer in clear ----
PROMPT="Tell me about the purple elephant number 4417"
tcpdump -i "$NETNS_BR" -U -s 0 -w "$T/wire.pcap" tcp >/dev/null 2>&1 &
CAP=$!
sleep 0.5

# ---- a model only B holds, asked of A, is answered by B ----
body=$(chat $A stories260K)
text=$(echo "$body" | field 'd["choices"][0]["message"]["content"]' 2>/dev/null)
if [ "$(served_by)" = "peer:$IDB" ] && [ -n "$text" ]; then pass cluster_route_to_holder; else
    fail cluster_route_to_holder "served by: $(served_by)" "$body"; fi
# the same request served on B itself gives the same greedy answer
ref=$(chat $B stories260K | field 'd["choices"][0]["message"]["content"]' 2>/dev/null)
if [ "$text" = "$ref" ]; then pass cluster_routed_equals_local; else
    fail cluster_routed_equals_local "routed: $text" "local: $ref"; fi
sleep 0.5
kill $CAP 2>/dev/null
wait $CAP 2>/dev/null
if python3 - "$T/wire.pcap" "$PROMPT" "$text" <<'EOF'; then pass cluster_wire_has_no_plaintext; else fail cluster_wire_has_no_plaintext; fi
import sys
data = open(sys.argv[1], 'rb').read()
prompt, answer = sys.argv[2].encode(), sys.argv[3].encode()
assert len(data) > 2000, "nothing captured"
needles = [b"purple elephant", prompt[:16]] + [answer[i:i + 12] for i in range(0, max(1, len(answer) - 12), 6)]
bad = [n for n in needles if len(n) >= 8 and n in data]
if bad:
    print("  found in clear:", bad[:3])
    sys.exit(1)
EOF

# ---- load spreads over A and B for a model both hold ----
# All four at once: this model decodes thousands of tokens a second, so requests spaced out
# would each find A idle again.
cpids=""
for i in 1 2 3 4; do
    netns_exec $A curl -s -D "$T/hdr$i" http://127.0.0.1:7777/v1/completions \
        -H 'Content-Type: application/json' \
        -d '{"model":"llama-s1-Q8_0","prompt":"x","max_tokens":500,"temperature":0}' >/dev/null &
    cpids="$cpids $!"
done
for p in $cpids; do wait "$p"; done
sb=$(cat "$T"/hdr1 "$T"/hdr2 "$T"/hdr3 "$T"/hdr4 | tr -d '\r' | sed -n 's/^X-Unhosted-Served-By: //Ip' | sort | uniq -c)
if echo "$sb" | grep -q local && echo "$sb" | grep -q "peer:$IDB"; then pass cluster_load_spreads; else
    fail cluster_load_spreads "$sb"; fi

# ---- unpaired C is refused at the transport; after pairing it is served ----
# C believes it is paired with A (a one-sided entry in its trust store), A does not.
python3 - "$T/h$A/config/identity.key" "$T/h$C/config/peers.json" "$IDA" "$ADDR_A" <<'EOF'
import base64, json, sys, os, time
key = json.load(open(sys.argv[1]))
pk = base64.b64decode(key["sign_sk"])[32:]
entry = {"id": sys.argv[3], "sign_pk": base64.b64encode(pk).decode(), "name": "a", "ring": "own",
         "quota": 0, "addrs": [sys.argv[4]], "paired_at": int(time.time()), "last_seen": int(time.time())}
with open(sys.argv[2] + ".tmp", "w") as f:
    json.dump({"version": 1, "peers": [entry]}, f)
os.chmod(sys.argv[2] + ".tmp", 0o600)
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
EOF
refused=""
for _ in $(seq 40); do
    grep -q "event=peer_refused peer=$(echo "$IDC" | cut -c1-7).*not_paired" "$T/node$A.log" && refused=1 && break
    sleep 0.1
done
body=$(chat $C llama-s1-Q8_0)
if [ -n "$refused" ] && [ "$(peer_field $C "$IDA" "p[0]['online']")" = False ] &&
    ! echo "$body" | grep -q '"content"'; then
    pass cluster_unpaired_refused_at_transport
else
    fail cluster_unpaired_refused_at_transport "refused logged: ${refused:-no}" "$body"
fi
pair_codes $C "$ADDR_A" own $A
uh $A pairing accept "$P2" --code "$CODE1" --ring trusted >/dev/null 2>&1
uh $C pairing accept "$P1" --code "$CODE2" >/dev/null 2>&1
for _ in $(seq 40); do
    [ "$(peer_field $C "$IDA" "p[0]['online']")" = True ] && [ "$(peer_field $A "$IDC" "p[0]['online']")" = True ] && break
    sleep 0.1
done
body=$(chat $C llama-s1-Q8_0)
case "$(served_by)" in
peer:*) pass cluster_paired_peer_served ;;
*) fail cluster_paired_peer_served "served by: $(served_by)" "$body" ;;
esac

# ---- health: a silent peer is down within 3 s, and up again when it answers ----
kill -STOP "$PID2"
t0=$(date +%s.%N)
down=""
for _ in $(seq 60); do
    [ "$(peer_field $A "$IDB" "p[0]['online']")" = False ] && down=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))") && break
    sleep 0.1
done
kill -CONT "$PID2"
up=""
for _ in $(seq 60); do
    [ "$(peer_field $A "$IDB" "p[0]['online']")" = True ] && up=1 && break
    sleep 0.1
done
if [ -n "$down" ] && python3 -c "import sys; sys.exit(0 if $down <= 3.0 else 1)" && [ -n "$up" ]; then
    pass "cluster_health_down_within_3s (${down}s) and back up"
else
    fail cluster_health_down_within_3s "down after: ${down:-never}; up again: ${up:-no}"
fi

# ---- before the first token: B stops answering, the request is retried on C ----
SLOWNAME=slow
REQ="{\"model\":\"$SLOWNAME\",\"messages\":[{\"role\":\"user\",\"content\":\"$PROMPT\"}],\"max_tokens\":40,\"temperature\":0}"
# B first in line: C is made busier than B for the moment
netns_exec $C curl -s http://127.0.0.1:7777/v1/completions -H 'Content-Type: application/json' \
    -d "{\"model\":\"$SLOWNAME\",\"prompt\":\"busy\",\"max_tokens\":600,\"temperature\":0}" >/dev/null &
BUSY=$!
sleep 1.2
tried_before=$(grep -c "event=route_start peer=$IDB" "$T/node$A.log")
kill -STOP "$PID2"
body=$(netns_exec $A curl -s -D "$T/hdr" http://127.0.0.1:7777/v1/chat/completions \
    -H 'Content-Type: application/json' -d "$REQ")
kill -CONT "$PID2"
wait $BUSY
tried_after=$(grep -c "event=route_start peer=$IDB" "$T/node$A.log")
# B was tried first and failed (its handshake timed out), then C answered
if [ "$(served_by)" = "peer:$IDC" ] && echo "$body" | grep -q '"content"' &&
    [ "$tried_after" -gt "$tried_before" ]; then
    pass cluster_failover_before_first_token
else
    fail cluster_failover_before_first_token "served by: $(served_by)" "$body" "$(grep route "$T/node$A.log" | tail -3)"
fi

# ---- in the middle of a stream: the node serving it is killed, the stream goes on ----
REF=$(netns_exec $C curl -s http://127.0.0.1:7777/v1/chat/completions -H 'Content-Type: application/json' \
    -d "{\"model\":\"$SLOWNAME\",\"messages\":[{\"role\":\"user\",\"content\":\"$PROMPT\"}],\"max_tokens\":300,\"temperature\":0}" |
    field 'd["choices"][0]["message"]["content"]')
for _ in $(seq 40); do
    [ "$(peer_field $A "$IDB" "p[0]['online']")" = True ] && break
    sleep 0.1
done
netns_exec $A python3 - "$T" "$SLOWNAME" "$PROMPT" "$IDB" "$PID2" "$IDC" "$PID3" <<'EOF' >"$T/midstream" 2>&1
import http.client, json, os, signal, sys
tdir, model, prompt, idb, pidb, idc, pidc = sys.argv[1:]
c = http.client.HTTPConnection("127.0.0.1", 7777, timeout=60)
body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 300,
        "temperature": 0, "stream": True}
c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
r = c.getresponse()
served = r.getheader("X-Unhosted-Served-By")
victim = pidb if served == "peer:" + idb else pidc if served == "peer:" + idc else None
text, n, killed, done = "", 0, False, False
for raw in r:
    line = raw.decode().strip()
    if not line.startswith("data: "):
        continue
    if line == "data: [DONE]":
        done = True
        break
    ev = json.loads(line[6:])
    if "error" in ev:
        print("error event:", ev)
        break
    for ch in ev.get("choices", []):
        piece = ch.get("delta", {}).get("content")
        if piece:
            text += piece
            n += 1
    if n == 10 and victim and not killed:
        os.kill(int(victim), signal.SIGKILL)
        killed = True
open(os.path.join(tdir, "stream_text"), "w").write(text)
print("served", served, "killed", killed, "done", done, "chunks", n)
EOF
got=$(cat "$T/stream_text" 2>/dev/null)
if grep -q "killed True done True" "$T/midstream" && [ -n "$REF" ] && [ "$got" = "$REF" ]; then
    pass cluster_failover_mid_stream_same_text
else
    fail cluster_failover_mid_stream_same_text "$(cat "$T/midstream")" "got: $(echo "$got" | head -c 120)" \
        "ref: $(echo "$REF" | head -c 120)" "$(grep route "$T/node$A.log" | tail -3)"
fi

# ---- revocation: A revokes C; C's next connection is refused ----
uh $A revoke "$(echo "$IDC" | cut -c1-7)" >/dev/null 2>&1
n_before=$(grep -c "event=peer_refused peer=$(echo "$IDC" | cut -c1-7)" "$T/node$A.log")
refused=""
for _ in $(seq 40); do
    n_now=$(grep -c "event=peer_refused peer=$(echo "$IDC" | cut -c1-7)" "$T/node$A.log")
    [ "$n_now" -gt "$n_before" ] && refused=1 && break
    sleep 0.1
done
body=$(chat $C llama-s1-Q8_0)
if [ -n "$refused" ] && [ "$(peer_field $C "$IDA" "p[0]['online']")" = False ] &&
    ! echo "$body" | grep -q '"content"'; then
    pass cluster_revoked_refused
else
    fail cluster_revoked_refused "refused again: ${refused:-no}" "$body"
fi
exit 0
