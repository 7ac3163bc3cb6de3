#!/bin/sh
# CLI tests of `unhosted serve` and `unhosted token`: start, built-in endpoints, Prometheus text
# (promtool when installed), Host check, SIGTERM -> exit 0, the token file, a public listen
# address. Only ever connects to 127.0.0.1. Prints one "PASS name" / "FAIL name" per case.
set -u
. tests/lib.sh
export UNHOSTED_HOME="$T/home"

# Starts serve with the given options in the background; sets PORT (0 on failure).
start() { serve_bg "$T/out" "$T/err" "$@"; }

# Sends SIGTERM and checks the exit status and time (case name).
stop_ok() {
    t0=$(date +%s%N)
    stop_pid "$NODE_PID"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ $rc -eq 0 ] && [ $ms -lt 2000 ]; then pass "$1"; else fail "$1" "exit $rc after ${ms} ms" "$(cat "$T/err")"; fi
}

# ---- loopback ----
start --listen 127.0.0.1:0
if [ "$PORT" -gt 0 ]; then pass serve_starts; else fail serve_starts "$(cat "$T/out" "$T/err")"; fi
URL=http://127.0.0.1:$PORT
out=$(curl -s --noproxy '*' "$URL/health")
if [ "$out" = '{"status":"ok"}' ]; then pass serve_health; else fail serve_health "$out"; fi
out=$(curl -s --noproxy '*' "$URL/api/version")
if echo "$out" | grep -q '"version":"'; then pass serve_version; else fail serve_version "$out"; fi
curl -s --noproxy '*' "$URL/metrics" >"$T/metrics"
if grep -q '^unhosted_http_requests_total{route="/health",code="200"} 1$' "$T/metrics"; then
    pass serve_metrics; else fail serve_metrics "$(head -20 "$T/metrics")"; fi
if command -v promtool >/dev/null; then
    if promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1; then
        pass serve_metrics_promtool; else fail serve_metrics_promtool "$(cat "$T/promtool")"; fi
fi
code=$(curl -s --noproxy '*' -o "$T/body" -w '%{http_code}' -H 'Host: rebind.example' "$URL/health")
if [ "$code" = 403 ]; then pass serve_host_check; else fail serve_host_check "status $code"; fi
code=$(curl -s --noproxy '*' -o "$T/body" -w '%{http_code}' "$URL/v1/nothing")
if [ "$code" = 404 ] && grep -q '"type":"invalid_request_error"' "$T/body"; then
    pass serve_404_json; else fail serve_404_json "status $code" "$(cat "$T/body")"; fi
stop_ok serve_sigterm_exit0

# ---- token ----
tok=$($UH token 2>"$T/err")
tok2=$($UH token 2>/dev/null)
path=$($UH token --path 2>/dev/null)
mode=$(stat -c %a "$path" 2>/dev/null)
if echo "$tok" | grep -qx '[0-9a-f]\{64\}' && [ "$tok" = "$tok2" ] && [ "$mode" = 600 ] &&
    [ "$path" = "$UNHOSTED_HOME/config/api-token" ]; then
    pass token_file; else fail token_file "token '$tok' mode '$mode' path '$path'" "$(cat "$T/err")"; fi
chmod 644 "$path"
if ! $UH token >/dev/null 2>"$T/err" && grep -q 'chmod 600' "$T/err"; then
    pass token_refuses_readable_file; else fail token_refuses_readable_file "$(cat "$T/err")"; fi
chmod 600 "$path"

# ---- a public address: the token is required, and the output says where it is ----
start --listen 0.0.0.0:0
if [ "$PORT" -gt 0 ] && grep -q "need the API token" "$T/out" && grep -q "$path" "$T/out"; then
    pass serve_public_mentions_token; else fail serve_public_mentions_token "$(cat "$T/out" "$T/err")"; fi
code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")
if [ "$code" = 200 ]; then pass serve_public_loopback_client; else fail serve_public_loopback_client "status $code"; fi
stop_ok serve_public_sigterm_exit0

# --require-token: every client, with the token from `unhosted token`
start --listen 127.0.0.1:0 --require-token
code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")
code2=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
    "http://127.0.0.1:$PORT/health")
if [ "$code" = 401 ] && [ "$code2" = 200 ]; then pass serve_require_token; else fail serve_require_token "without $code, with $code2"; fi
stop_ok serve_require_token_exit0

# ---- usage errors ----
$UH serve --listen example.com:80 >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "IP address" "$T/err"; then pass serve_bad_listen; else fail serve_bad_listen "exit $rc" "$(cat "$T/err")"; fi
