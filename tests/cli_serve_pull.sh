#!/bin/sh
# The node's POST /api/pull: a model served by a real nginx on 127.0.0.1 is pulled through the
# API, progress streams as NDJSON, the model lands in the store; errors come back in Ollama's
# shape. Only ever connects to 127.0.0.1. Prints one "PASS name" / "FAIL name" per case.
set -u
. tests/lib.sh
NGINX=${NGINX:-/usr/sbin/nginx}
export UNHOSTED_HOME="$T/home"

if [ ! -x "$NGINX" ]; then
    fail serve_pull_nginx "nginx not found at $NGINX (scripts/install-deps installs nginx-light)"
    exit 0
fi
mkdir -p "$T/www" "$T/tmp"
chmod 755 "$T" "$T/www"
$GEN --n-layer 1 --n-vocab 300 --type Q8_0 -o "$T/www/tiny.gguf" && chmod 644 "$T/www/tiny.gguf"

# nginx on a free port: try a few until one binds
nport=0
for try in 1 2 3 4 5 6 7 8; do
    p=$((20000 + ($$ * 7 + try * 997) % 40000))
    cat >"$T/nginx.conf" <<CONF
daemon off;
master_process off;
pid $T/nginx.pid;
error_log $T/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/tmp; proxy_temp_path $T/tmp; fastcgi_temp_path $T/tmp;
  uwsgi_temp_path $T/tmp; scgi_temp_path $T/tmp;
  server { listen 127.0.0.1:$p; root $T/www; }
}
CONF
    rm -f "$T/nginx.pid"
    "$NGINX" -p "$T" -c "$T/nginx.conf" -e "$T/error.log" 2>/dev/null &
    ngx=$!
    kill_at_exit $ngx
    i=0
    while [ ! -s "$T/nginx.pid" ] && kill -0 $ngx 2>/dev/null && [ $i -lt 30 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -s "$T/nginx.pid" ] && kill -0 $ngx 2>/dev/null; then
        nport=$p
        break
    fi
    ngx=""
done
if [ "$nport" -eq 0 ]; then
    fail serve_pull_nginx "nginx did not start: $(cat "$T/error.log" 2>/dev/null)"
    exit 0
fi

serve_bg "$T/out" "$T/err" --listen 127.0.0.1:0
URL=http://127.0.0.1:$PORT
FILE=http://127.0.0.1:$nport/tiny.gguf

# nginx publishes no digest: refused unless insecure
out=$(curl -s --noproxy '*' -X POST "$URL/api/pull" -d "{\"model\":\"$FILE\"}")
if echo "$out" | grep -q '"error"'; then pass serve_pull_unverifiable_refused; else
    fail serve_pull_unverifiable_refused "$out"; fi

curl -sN --noproxy '*' -X POST "$URL/api/pull" -d "{\"model\":\"$FILE\",\"insecure\":true}" >"$T/events"
if head -1 "$T/events" | grep -q '"status":"pulling manifest"' &&
    tail -1 "$T/events" | grep -q '^{"status":"success"}$'; then pass serve_pull_streams_ndjson; else
    fail serve_pull_streams_ndjson "$(cat "$T/events")"; fi
if $UH models | grep -q '^tiny:latest '; then pass serve_pull_lands_in_store; else
    fail serve_pull_lands_in_store "$($UH models)"; fi

out=$(curl -s --noproxy '*' -X POST "$URL/api/pull" \
    -d "{\"model\":\"$FILE\",\"insecure\":true,\"stream\":false}")
if [ "$out" = '{"status":"success"}' ]; then pass serve_pull_again_not_streamed; else
    fail serve_pull_again_not_streamed "$out"; fi

code=$(curl -s --noproxy '*' -o "$T/body" -w '%{http_code}' -X POST "$URL/api/pull" \
    -d '{"model":"no-such-model:1b"}')
if [ "$code" = 404 ] && grep -q '^{"error":' "$T/body"; then pass serve_pull_unknown_name; else
    fail serve_pull_unknown_name "$code $(cat "$T/body")"; fi
code=$(curl -s --noproxy '*' -o "$T/body" -w '%{http_code}' -X POST "$URL/api/pull" -d '{"model":5}')
if [ "$code" = 400 ]; then pass serve_pull_bad_request; else fail serve_pull_bad_request "$code"; fi
code=$(curl -s --noproxy '*' -o "$T/body" -w '%{http_code}' -X POST "$URL/api/pull" \
    -d '{"model":"phi3.5:3.8b"}')
if [ "$code" = 400 ] && grep -q "cannot run yet" "$T/body"; then pass serve_pull_unsupported_arch; else
    fail serve_pull_unsupported_arch "$code $(cat "$T/body")"; fi

stop_pid "$NODE_PID"
rc=$?
if [ $rc -eq 0 ]; then pass serve_pull_clean_exit; else fail serve_pull_clean_exit "exit $rc"; fi
