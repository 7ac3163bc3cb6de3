#!/bin/sh
# bench_route.sh - what routing a request to a paired peer costs, against serving it locally.
#
#   sh bench/bench_route.sh [ROUNDS]        (default 5)
#   THREADS=N sh bench/bench_route.sh       evaluation threads per node (default: one fewer than
#                                           the CPUs, so the transport has a core, as it does
#                                           when the two nodes are separate machines)
#
# Starts two nodes on loopback, each with its own home: B holds a generated model (about 165 MB
# Q8_0, stories-sized vocabulary), A holds none; pairs them (codes checked on both sides), then
# alternates, ROUNDS times, the same load (bench/bench_serve, one stream, 8 requests of 128
# tokens) against B directly (local) and against A (which routes every request to B over the
# encrypted peer channel). Prints the median over rounds of each side's per-stream decode rate
# and time to first token, and:
#
#   tps_ratio   routed / local stream tokens per second   (target >= 0.97)
#   ttft_added  routed - local median time to first token (target <= 5 ms)
#
# Both nodes run on this machine and share its cores, so the figures are ratios measured in
# one run, medians over rounds. Only loopback addresses are used.
set -eu
ROUNDS=${1:-5}
NCPU=$(nproc 2>/dev/null || echo 2)
THREADS=${THREADS:-$((NCPU > 1 ? NCPU - 1 : 1))}
B_DIR=${B:-build}
UH=$B_DIR/unhosted
GEN=$B_DIR/unhosted-gen
BENCH=$B_DIR/bench/bench_serve
TESTDATA=${UNHOSTED_TESTDATA:-../shared/testdata}
for f in "$UH" "$GEN" "$BENCH"; do
    [ -x "$f" ] || { echo "bench_route: build first (make $f)" >&2; exit 2; }
done
T=$(mktemp -d)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1, end='')"; }

"$GEN" --preset stories --type Q8_0 --n-embd 1024 --n-layer 12 --n-head 16 --n-head-kv 16 \
    --n-ff 2816 --vocab-from "$TESTDATA/models/stories260K.gguf" -o "$T/bench.gguf" >/dev/null
HA=$(port) HB=$(port) PA=$(port) PB=$(port)
"$UH" serve --home "$T/a" --listen 127.0.0.1:$HA --peer-listen 127.0.0.1:$PA --no-mdns \
    --parallel 1 --threads "$THREADS" >"$T/a.log" 2>&1 &
PIDS="$PIDS $!"
"$UH" serve --home "$T/b" --listen 127.0.0.1:$HB --peer-listen 127.0.0.1:$PB --no-mdns \
    --parallel 1 --threads "$THREADS" --model "$T/bench.gguf" >"$T/b.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do
    curl -sf http://127.0.0.1:$HA/health >/dev/null 2>&1 && curl -sf http://127.0.0.1:$HB/health >/dev/null 2>&1 && break
    sleep 0.1
done
out=$("$UH" --home "$T/a" pair 127.0.0.1:$PB --no-confirm --json)
code=$(echo "$out" | field 'd["code"]')
pa=$(echo "$out" | field 'd["id"]')
sleep 0.3
pb=$("$UH" --home "$T/b" pairing --json | field '[p["id"] for p in d["pairings"] if p["incoming"]][0]')
"$UH" --home "$T/b" pairing accept "$pb" --code "$code" >/dev/null
"$UH" --home "$T/a" pairing accept "$pa" --code "$code" >/dev/null
for _ in $(seq 50); do
    "$UH" --home "$T/a" peers --json | grep -q '"online":[[:space:]]*true' && break
    sleep 0.1
done
run() { # url -> "stream_tps ttft_p50_ms"
    "$BENCH" --url "$1" --model bench -c 1 -n 8 --max-tokens 128 --prompt-min 16 \
        --prompt-max 16 --json |
        field '"%s %s" % (d["stream_tps_p50"], d["ttft_p50_ms"])'
}
run http://127.0.0.1:$HB >/dev/null # warm-up: load the model, fill the page cache
: >"$T/local"
: >"$T/routed"
i=0
while [ $i -lt "$ROUNDS" ]; do
    run http://127.0.0.1:$HB >>"$T/local"
    echo >>"$T/local"
    run http://127.0.0.1:$HA >>"$T/routed"
    echo >>"$T/routed"
    i=$((i + 1))
done
python3 - "$T/local" "$T/routed" <<'EOF'
import statistics, sys
def load(p):
    rows = [l.split() for l in open(p) if l.strip()]
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows]
lt, lf = load(sys.argv[1])
rt, rf = load(sys.argv[2])
ml, mr = statistics.median(lt), statistics.median(rt)
fl, fr = statistics.median(lf), statistics.median(rf)
print(f"local   stream {ml:8.1f} tok/s   ttft p50 {fl:7.2f} ms   (rounds: {len(lt)})")
print(f"routed  stream {mr:8.1f} tok/s   ttft p50 {fr:7.2f} ms")
print(f"tps_ratio {mr / ml:.3f}   ttft_added {fr - fl:+.2f} ms")
print("per round (local routed tok/s):", " ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(lt, rt)))
EOF
