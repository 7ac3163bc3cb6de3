#!/bin/sh
# The dashboard served by `unhosted serve`: its headers and access rules with curl (CSP, frame
# and sniffing protection, ETag revalidation, DNS rebinding, foreign origins, DELETE /api/delete),
# then the page itself in Debian's Chromium, headless, driven by playwright-core
# (tests/web/dashboard.mjs: load, every module of web/ loaded as JavaScript without errors,
# chat streaming with served-by and tokens/s, stop, model output shown as text, pull progress
# from a local nginx, delete, keyboard, phone width, cluster view;
# tests/web/md_test.mjs: the markdown parser alone;
# tests/web/login.mjs: the login form of a node that requires its token; tests/web/pair.mjs:
# two nodes pair from their dashboards, with the ring and quota each chose, and chat on one with
# a model only the other has; tests/web/invite.mjs: an invite code made on one dashboard and
# used on another, then refused when reused or wrong).
# playwright-core comes from the npm registry (pinned by tests/web/package-lock.json) into
# build/web-node/, reused while the lock file is unchanged. Screenshots of each step go to
# $UNHOSTED_ARTIFACTS (default: a new directory under /tmp, printed first). Only ever connects
# to 127.0.0.1. Prints one "PASS name" / "FAIL name" / "SKIP name (why)" per case.
set -u
. tests/lib.sh
NGINX=${NGINX:-/usr/sbin/nginx}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
MODEL=$TD/models/stories260K.gguf
NODE_DIR=${NODE_DIR:-build/web-node}
ART=${UNHOSTED_ARTIFACTS:-$(mktemp -d /tmp/unhosted-web-XXXXXX)}
mkdir -p "$ART"
echo "artifacts: $ART"
# At exit the nodes' logs go to the artifacts once the nodes stopped (exit status last).
web_cleanup() {
    kill_started
    sleep 0.2
    for f in "$T"/*.err; do [ -f "$f" ] && cp "$f" "$ART/node-$(basename "$f" .err).log"; done
    rm -rf "$T"
}
trap web_cleanup EXIT

C() { curl -s --noproxy '*' --max-time 30 "$@"; }

if [ ! -f "$MODEL" ]; then
    fail web_model_fixture "missing $MODEL"
    exit 0
fi

# serve_node NAME HOME ARGS...: runs `unhosted serve` with its own home; sets PORT (0 if it did
# not start) and records its pid.
serve_node() {
    name=$1
    home=$2
    shift 2
    mkdir -p "$home"
    rm -f "$T/$name.pid"
    ( # the exit status goes to the node's log (kept in the artifacts)
        UNHOSTED_HOME="$home" $UH serve --listen 127.0.0.1:0 "$@" >"$T/$name.out" 2>"$T/$name.err" &
        echo $! >"$T/$name.pid"
        wait $!
        echo "exit status $?" >>"$T/$name.err"
    ) &
    while [ ! -s "$T/$name.pid" ]; do sleep 0.05; done
    npid=$(cat "$T/$name.pid")
    kill_at_exit "$npid"
    PORT=$(listen_port "$T/$name.out" "$npid")
}

serve_node a "$T/a" --model "$MODEL"
if [ "$PORT" -eq 0 ]; then
    fail web_serve_starts "$(cat "$T/a.err")"
    exit 0
fi
URL=http://127.0.0.1:$PORT
code=$(C -o "$T/index" -w '%{http_code}' "$URL/")
if [ "$code" = 404 ]; then
    skip web "serve does not register the dashboard yet (web_register)"
    exit 0
fi

# ---- headers and access rules ----
C -D "$T/h" -o "$T/index" "$URL/"
hdr() { tr -d '\r' <"$T/h" | sed -n "s/^$1: //Ip" | head -1; }
if grep -q '<script type="module" src="app.js"></script>' "$T/index" &&
    hdr Content-Type | grep -q '^text/html; charset=utf-8$' &&
    hdr Content-Security-Policy | grep -q "default-src 'self'" &&
    hdr Content-Security-Policy | grep -q "frame-ancestors 'none'" &&
    ! hdr Content-Security-Policy | grep -q "unsafe-inline" &&
    [ "$(hdr X-Frame-Options)" = DENY ] && [ "$(hdr X-Content-Type-Options)" = nosniff ] &&
    [ "$(hdr Referrer-Policy)" = no-referrer ] && [ "$(hdr Cache-Control)" = no-cache ]; then
    pass web_index_headers
else
    fail web_index_headers "$(cat "$T/h")"
fi
bad='<script>\|<style\|[[:space:]]on[a-z]*=\|[[:space:]]style=\|https\?://\|//[a-z]'
if grep -qi "$bad" "$T/index"; then
    fail web_index_no_inline_or_remote "$(grep -i "$bad" "$T/index")"
else
    pass web_index_no_inline_or_remote
fi
ok=1
# every module of the page: a browser runs a module script only if its type is JavaScript
WEB_MODULES=$(cd web && echo *.js)
export WEB_MODULES
for a in $(for m in $WEB_MODULES; do echo "$m:text/javascript"; done) style.css:text/css \
    icon.svg:image/svg+xml; do
    f=${a%%:*}
    ty=${a#*:}
    C -D "$T/h" -o /dev/null "$URL/$f"
    hdr Content-Type | grep -q "^$ty" || { ok=0; fail web_asset_types "$f: $(hdr Content-Type)"; }
done
[ $ok = 1 ] && pass web_asset_types
C -D "$T/h" -o /dev/null "$URL/app.js"
etag=$(hdr ETag)
code=$(C -o "$T/body" -w '%{http_code}' -H "If-None-Match: $etag" "$URL/app.js")
if [ -n "$etag" ] && [ "$code" = 304 ] && [ ! -s "$T/body" ]; then pass web_etag_304; else
    fail web_etag_304 "etag '$etag' code $code"; fi
code=$(C -o /dev/null -w '%{http_code}' -H 'Host: attacker.example' "$URL/")
if [ "$code" = 403 ]; then pass web_dns_rebinding_refused; else fail web_dns_rebinding_refused "$code"; fi
code=$(C -o /dev/null -w '%{http_code}' -H 'Origin: http://attacker.example' \
    -H 'Content-Type: application/json' -d '{"model":"x"}' "$URL/api/pull")
if [ "$code" = 401 ]; then pass web_foreign_origin_refused; else fail web_foreign_origin_refused "$code"; fi
code=$(C -o /dev/null -w '%{http_code}' -X OPTIONS -H 'Origin: http://attacker.example' \
    -H 'Access-Control-Request-Method: DELETE' "$URL/api/delete")
if [ "$code" = 403 ]; then pass web_foreign_preflight_refused; else
    fail web_foreign_preflight_refused "$code"; fi
code=$(C -o "$T/body" -w '%{http_code}' -X DELETE "$URL/api/delete?model=no-such-model")
if [ "$code" = 404 ] && grep -q '^{"error":"model .no-such-model:latest. not found"}' "$T/body"; then pass web_delete_unknown_404; else
    fail web_delete_unknown_404 "$code $(cat "$T/body")"; fi
code=$(C -o "$T/body" -w '%{http_code}' -X DELETE "$URL/api/delete?model=../etc")
if [ "$code" = 400 ]; then pass web_delete_bad_name_400; else fail web_delete_bad_name_400 "$code"; fi

# ---- the markdown parser, without a browser ----
if command -v node >/dev/null; then
    node tests/web/md_test.mjs "$(pwd)/web/md.js"
fi

# ---- the browser ----
if [ ! -x "$CHROMIUM" ]; then
    skip web_browser "no Chromium at $CHROMIUM (scripts/install-deps installs chromium)"
    exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    skip web_browser "node and npm are needed"
    exit 0
fi
mkdir -p "$NODE_DIR"
if ! cmp -s tests/web/package-lock.json "$NODE_DIR/package-lock.json" || [ ! -d "$NODE_DIR/node_modules" ]; then
    cp tests/web/package.json tests/web/package-lock.json "$NODE_DIR/"
    if ! (cd "$NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts >"$T/npm" 2>&1); then
        skip web_browser "npm ci of playwright-core failed: $(tail -1 "$T/npm")"
        rm -f "$NODE_DIR/package-lock.json"
        exit 0
    fi
fi
cp tests/web/*.mjs "$NODE_DIR/"
export CHROMIUM
export NO_PROXY='*'

# nginx serves a model slowly enough for the progress bar to show
mkdir -p "$T/www" "$T/tmp"
chmod 755 "$T" "$T/www"
$GEN --n-layer 1 --n-vocab 4000 --n-embd 256 --type F32 -o "$T/www/tiny.gguf" >/dev/null &&
    chmod 644 "$T/www/tiny.gguf"
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
  server { listen 127.0.0.1:$p; root $T/www; limit_rate 3m; }
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
    fail web_nginx "nginx did not start: $(cat "$T/error.log" 2>/dev/null)"
    exit 0
fi

node "$NODE_DIR/dashboard.mjs" "$URL" "$ART" "http://127.0.0.1:$nport/tiny.gguf" stories260K

# ---- login: a node that requires its token ----
serve_node tok "$T/tok" --require-token
if [ "$PORT" -eq 0 ]; then
    fail web_login_node_starts "$(cat "$T/tok.err")"
else
    code=$(C -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")
    if [ "$code" = 401 ]; then
        skip web_login "the node answers GET / with 401 without the token, so no login form can show (http.c)"
    else
        node "$NODE_DIR/login.mjs" "http://127.0.0.1:$PORT" "$ART" "$(UNHOSTED_HOME="$T/tok" $UH token)"
    fi
fi

# ---- two nodes pair from their dashboards ----
# three peer ports nothing listens on now (bound together, so they differ)
set -- $(free_ports 3)
QA=$1 QB=$2 QC=$3
serve_node pa "$T/pa" --peer-listen 127.0.0.1:$QA --no-mdns
PA=$PORT
serve_node pb "$T/pb" --peer-listen 127.0.0.1:$QB --no-mdns --model "$MODEL"
PB=$PORT
serve_node pc "$T/pc" --peer-listen 127.0.0.1:$QC --no-mdns
PC=$PORT
if [ "$PA" -eq 0 ] || [ "$PB" -eq 0 ] || [ "$PC" -eq 0 ]; then
    skip web_pairing "serve cannot run a peer listener here: $(cat "$T/pa.err" "$T/pb.err" "$T/pc.err" | head -3)"
    exit 0
fi
code=$(C -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/admin/self")
if [ "$code" = 404 ]; then
    skip web_pairing "the node has no admin API yet (/admin/self answers 404)"
    exit 0
fi
node "$NODE_DIR/pair.mjs" "http://127.0.0.1:$PA" "http://127.0.0.1:$PB" "127.0.0.1:$QB" "$ART" \
    stories260K "http://127.0.0.1:$PC" "127.0.0.1:$QC"

# ---- pairing at a distance: A invites, C joins with the code ----
node "$NODE_DIR/invite.mjs" "http://127.0.0.1:$PA" "http://127.0.0.1:$PC" "$ART"
