#!/bin/sh
# CLI tests of `unhosted pull` against a real nginx on 127.0.0.1 (started here, own config):
# progress lines without a terminal, exit codes, registry names, refusals. Prints one
# "PASS name" / "FAIL name" line per case. Run from the repository root.
set -u
. tests/lib.sh
NGINX=${NGINX:-/usr/sbin/nginx}
export UNHOSTED_HOME="$T/home"

# ---- without a server ----
$UH pull phi3.5:3.8b >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "phi3.5:3.8b needs a feature of architecture phi3 that this version cannot run yet" "$T/err"; then
    pass unsupported_architecture_refused; else fail unsupported_architecture_refused "exit $rc: $(cat "$T/err")"; fi
$UH pull no-such-model >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "not a known model name" "$T/err"; then pass unknown_name_refused; else
    fail unknown_name_refused "exit $rc: $(cat "$T/err")"; fi
$UH pull --help >"$T/out" 2>&1
if grep -q "hf://ORG/REPO/F .*https://huggingface.co/ORG/REPO/resolve/main/F" "$T/out"; then
    pass help_shows_hf_mapping; else fail help_shows_hf_mapping "$(cat "$T/out")"; fi
$UH pull hf://just-a-repo >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "expected hf://ORG/REPO/FILE.gguf" "$T/err"; then pass bad_hf_url_is_usage_error; else
    fail bad_hf_url_is_usage_error "exit $rc: $(cat "$T/err")"; fi
$UH pull >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ]; then pass missing_argument_is_usage_error; else fail missing_argument_is_usage_error "exit $rc"; fi
$UH pull x -j 99 >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ]; then pass bad_connections_is_usage_error; else fail bad_connections_is_usage_error "exit $rc"; fi

# ---- against nginx ----
if [ ! -x "$NGINX" ]; then
    fail nginx_present "$NGINX not found (install nginx-light, see scripts/install-deps)"
    exit 0
fi
mkdir -p "$T/www" "$T/tmp"
chmod 755 "$T"
$GEN --preset tiny --n-layer 2 --type Q8_0 -o "$T/www/tiny.gguf" || fail gen_model_made
chmod 644 "$T/www/tiny.gguf"
SHA=$(sha256sum "$T/www/tiny.gguf" | cut -d' ' -f1)
PORT=$(free_ports 1)
cat >"$T/nginx.conf" <<CONF
daemon off;
master_process off;
pid $T/nginx.pid;
error_log $T/error.log;
events { worker_connections 64; }
http {
  access_log $T/access.log;
  client_body_temp_path $T/tmp; proxy_temp_path $T/tmp; fastcgi_temp_path $T/tmp;
  uwsgi_temp_path $T/tmp; scgi_temp_path $T/tmp;
  server { listen 127.0.0.1:$PORT; root $T/www; }
}
CONF
"$NGINX" -p "$T" -c "$T/nginx.conf" -e "$T/error.log" &
kill_at_exit $!
i=0
while [ ! -s "$T/nginx.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
URL=http://127.0.0.1:$PORT/tiny.gguf

$UH pull "$URL" --sha256 "$SHA" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "^pulled tiny:latest sha256:$SHA" "$T/out"; then pass pull_url_ok; else
    fail pull_url_ok "exit $rc: $(cat "$T/out" "$T/err")"; fi
# no terminal: plain lines, no carriage returns
if grep -q "^pulling tiny:latest from $URL" "$T/err" && grep -q "^verifying 100.0% " "$T/err" &&
    ! grep -q "$(printf '\r')" "$T/err"; then pass plain_progress_lines; else
    fail plain_progress_lines "$(cat "$T/err")"; fi
if $UH models 2>/dev/null | grep -q "^tiny"; then pass pulled_model_listed; else
    fail pulled_model_listed "$($UH models 2>&1)"; fi

n=$(wc -l <"$T/access.log")
$UH pull "$URL" --sha256 "$SHA" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <"$T/access.log")" -eq "$n" ]; then pass second_pull_needs_no_request; else
    fail second_pull_needs_no_request "exit $rc: $(cat "$T/err")"; fi

BAD=$(echo "$SHA" | tr 0-9a-f 1-9a-f0)
$UH pull "$URL" --sha256 "$BAD" --name other >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "sha256 mismatch" "$T/err" && ! $UH models 2>/dev/null | grep -q "^other"; then
    pass checksum_mismatch_exit_1; else fail checksum_mismatch_exit_1 "exit $rc: $(cat "$T/err")"; fi

$UH pull "http://127.0.0.1:$PORT/missing.gguf" --sha256 "$BAD" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "HTTP 404" "$T/err"; then pass not_found_exit_1; else
    fail not_found_exit_1 "exit $rc: $(cat "$T/err")"; fi

$UH pull "$URL" --name third >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q -- "--sha256 HEX, or --no-verify" "$T/err"; then pass unverifiable_refused; else
    fail unverifiable_refused "exit $rc: $(cat "$T/err")"; fi
