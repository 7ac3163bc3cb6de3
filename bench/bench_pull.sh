#!/bin/sh
# Pull throughput against `curl -o`: serves a 1 GiB GGUF from nginx on 127.0.0.1 (own config in a
# temporary directory), downloads it 3 times with each, and prints the medians, the ratio
# (unhosted pull with SHA-256 verification / curl without) and the pull's peak RSS.
# Usage: sh bench/bench_pull.sh [SIZE_MIB] (default 1024). Run from the repository root after make.
set -eu
UH=${UH:-build/unhosted}
NGINX=${NGINX:-/usr/sbin/nginx}
MIB=${1:-1024}
T=$(mktemp -d)
NGINX_PID=
cleanup() {
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/www" "$T/tmp"
chmod 755 "$T"

# a valid GGUF: one I8 tensor holding MIB MiB of random bytes
python3 - "$T/www/big.gguf" "$MIB" <<'PY'
import os, struct, sys
path, n = sys.argv[1], int(sys.argv[2]) << 20
def s(x): return struct.pack("<Q", len(x)) + x
h = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
h += s(b"general.architecture") + struct.pack("<I", 8) + s(b"bench")
h += s(b"blob") + struct.pack("<IQIQ", 1, n, 24, 0)
h += b"\0" * (-len(h) % 32)
with open(path, "wb") as f:
    f.write(h)
    left = n
    while left:
        k = min(left, 16 << 20)
        f.write(os.urandom(k))
        left -= k
PY
chmod 644 "$T/www/big.gguf"
SHA=$(sha256sum "$T/www/big.gguf" | cut -d' ' -f1)
SIZE=$(wc -c <"$T/www/big.gguf")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/nginx.conf" <<CONF
daemon off;
master_process off;
pid $T/nginx.pid;
error_log $T/error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $T/tmp; proxy_temp_path $T/tmp; fastcgi_temp_path $T/tmp;
  uwsgi_temp_path $T/tmp; scgi_temp_path $T/tmp;
  server { listen 127.0.0.1:$PORT; root $T/www; }
}
CONF
"$NGINX" -p "$T" -c "$T/nginx.conf" -e "$T/error.log" &
NGINX_PID=$!
i=0
while [ ! -s "$T/nginx.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
URL=http://127.0.0.1:$PORT/big.gguf
cat "$T/www/big.gguf" >/dev/null # served from the page cache, for both

now() { python3 -c 'import time; print(time.monotonic())'; }
median() { sort -n | sed -n 2p; }

: >"$T/curl.times"
: >"$T/pull.times"
: >"$T/pull.rss"
for run in 1 2 3; do
    t0=$(now)
    curl -s -o "$T/curl.out" "$URL"
    t1=$(now)
    echo "$t1 - $t0" | bc -l >>"$T/curl.times"
    rm -f "$T/curl.out"

    rm -rf "$T/home"
    t0=$(now)
    UNHOSTED_HOME="$T/home" /usr/bin/time -f "%M" -o "$T/rss" \
        "$UH" pull "$URL" --sha256 "$SHA" --name bench >/dev/null 2>"$T/pull.err" ||
        { cat "$T/pull.err"; exit 1; }
    t1=$(now)
    echo "$t1 - $t0" | bc -l >>"$T/pull.times"
    cat "$T/rss" >>"$T/pull.rss"
done
rm -rf "$T/home"

c=$(median <"$T/curl.times")
p=$(median <"$T/pull.times")
rss=$(sort -n "$T/pull.rss" | tail -1)
mb=$(echo "$SIZE / 1048576" | bc)
printf 'file          %s MiB (sha256 %s...)\n' "$mb" "$(echo "$SHA" | cut -c1-16)"
printf 'curl -o       %.2f s  %.0f MiB/s (median of 3)\n' "$c" "$(echo "$mb / $c" | bc -l)"
printf 'unhosted pull %.2f s  %.0f MiB/s (median of 3, SHA-256 verified, GGUF validated)\n' "$p" \
    "$(echo "$mb / $p" | bc -l)"
printf 'ratio         %.2f (pull throughput / curl throughput; target >= 0.9)\n' "$(echo "$c / $p" | bc -l)"
printf 'pull peak RSS %s MiB\n' "$((rss / 1024))"
