# lib.sh - the prelude of the CLI tests (tests/cli_*.sh), sourced from the repository root:
#
#   . tests/lib.sh
#
# On sourcing it sets UH (the CLI) and GEN (unhosted-gen) unless the environment gives them, TD
# (the shared fixtures: $UNHOSTED_TESTDATA or ../shared/testdata), makes a temporary directory
# $T, and installs an EXIT trap (`cleanup`, also reached on HUP, INT and TERM) that stops every
# process recorded with kill_at_exit and removes $T. A test that needs more at
# exit installs its own trap and calls kill_started itself; one built on tests/netns.sh sets
# NETNS_EXTRA_CLEANUP=cleanup, since netns_setup takes the EXIT trap over.
#
# Helpers:
#   pass NAME / fail NAME [LINE...] / skip NAME WHY   one "PASS"/"FAIL"/"SKIP" line per case
#   kill_at_exit PID, stop_pid PID, kill_started      background processes
#   wait_until TENTHS CMD...                          retries a command every 0.1 s
#   free_ports N                                      N loopback ports nothing listens on
#   field EXPR                                        a Python expression of JSON on stdin
#   listen_port FILE PID                              the port `unhosted serve` printed
#   serve_bg OUT ERR ARGS...                          `unhosted serve` on a port it picks
#   start_node NAME HTTP_PORT PEER_PORT ARGS...       a cluster node on fixed loopback ports
#   pair_nodes HOME_A HOME_B ADDR_B RING_A ARGS...    pairs two running nodes through the CLI
#   wait_online HOME COUNT                            until a node sees COUNT peers online
#
# Functions keep their own variables under names that start with "_", so a test's variables
# (i, p, line ...) survive a call; the helpers are not reentrant (no wait_until inside a command
# that wait_until runs). Every wait has a bound.

UH=${UH:-build/unhosted}
GEN=${GEN:-$(dirname "$UH")/unhosted-gen}
TD=${UNHOSTED_TESTDATA:-../shared/testdata}
T=$(mktemp -d)
STARTED_PIDS=""

# ---- reporting ----

pass() { echo "PASS $1"; }

# fail NAME [LINE...]: the case failed; each LINE (what was seen) follows, indented.
fail() {
    echo "FAIL $1"
    shift
    for _line in "$@"; do printf '  %s\n' "$_line"; done
}

# skip NAME WHY: the case cannot run here (a tool is missing); run.sh counts it as neither.
skip() { echo "SKIP $1 ($2)"; }

# ---- processes and the temporary directory ----

# kill_at_exit PID: records a background process for kill_started (and so for cleanup).
kill_at_exit() { STARTED_PIDS="$STARTED_PIDS $1"; }

# stop_pid PID: sends SIGTERM, waits for the process and forgets it; returns its exit status.
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    wait "$1"
    _rc=$?
    _keep=""
    for _p in $STARTED_PIDS; do [ "$_p" = "$1" ] || _keep="$_keep $_p"; done
    STARTED_PIDS=$_keep
    return $_rc
}

# kill_started: SIGTERM to every recorded process, then waits for those that are children.
kill_started() {
    for _p in $STARTED_PIDS; do kill "$_p" 2>/dev/null; done
    for _p in $STARTED_PIDS; do wait "$_p" 2>/dev/null; done
    STARTED_PIDS=""
}

# The EXIT trap: processes first (they may write into $T), then the directory.
cleanup() {
    kill_started
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' HUP INT TERM

# ---- waiting ----

# wait_until TENTHS CMD...: runs CMD until it succeeds, at most TENTHS times, 0.1 s apart.
# Returns 0 once it succeeded, 1 if it never did. CMD's output is not redirected.
wait_until() {
    _tries=$1
    shift
    while [ "$_tries" -gt 0 ]; do
        "$@" && return 0
        _tries=$((_tries - 1))
        [ "$_tries" -gt 0 ] && sleep 0.1
    done
    return 1
}

# ---- ports and JSON ----

# free_ports N: N distinct TCP ports on 127.0.0.1 that nothing listens on right now (bound
# together, then released), on one line.
free_ports() {
    python3 -c "import socket
ss = [socket.socket() for _ in range($1)]
for s in ss: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in ss))"
}

# field EXPR: reads JSON on stdin and prints the Python expression EXPR of it (d = the document),
# without a newline. Fails (exit status of python3) when the input or the expression is bad.
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1, end='')"; }

# ---- nodes ----

# listen_port FILE PID: waits up to 10 s for the "listening on http://HOST:PORT" line that
# `unhosted serve` prints to stdout (FILE), while process PID lives; prints PORT, or 0 if none.
listen_port() {
    _tries=100
    while [ $_tries -gt 0 ]; do
        _port=$(sed -n 's|^listening on http://[^ ]*:\([0-9]*\)$|\1|p' "$1" 2>/dev/null)
        [ -n "$_port" ] && echo "$_port" && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
        _tries=$((_tries - 1))
    done
    echo 0
    return 1
}

# serve_bg OUT ERR ARGS...: runs `$UH serve ARGS...` in the background (give it --listen
# HOST:0), stdout into OUT and stderr into ERR; sets NODE_PID (killed at exit unless stop_pid
# stops it first) and PORT, the port it listens on (0 when it printed none within 10 s).
serve_bg() {
    _out=$1 _err=$2
    shift 2
    : >"$_out" # truncated here, so listen_port never reads a previous node's line
    $UH serve "$@" >"$_out" 2>"$_err" &
    NODE_PID=$!
    kill_at_exit $NODE_PID
    PORT=$(listen_port "$_out" $NODE_PID)
}

# start_node NAME HTTP_PORT PEER_PORT [ARGS...]: a cluster node on loopback, `$UH serve` with
# its home in $T/NAME, the API on 127.0.0.1:HTTP_PORT, peers on 127.0.0.1:PEER_PORT, mDNS off,
# logging at info into $T/NAME.log. Sets NODE_PID (killed at exit); returns 0 once /health
# answers, 1 if it did not within 10 s.
start_node() {
    _name=$1 _http=$2 _peer=$3
    shift 3
    UNHOSTED_LOG=info $UH serve --home "$T/$_name" --listen 127.0.0.1:$_http \
        --peer-listen 127.0.0.1:$_peer --no-mdns "$@" >"$T/$_name.log" 2>&1 &
    NODE_PID=$!
    kill_at_exit $NODE_PID
    wait_until 100 curl -sf --noproxy '*' http://127.0.0.1:$_http/health >/dev/null 2>&1
}

# pair_nodes HOME_A HOME_B ADDR_B RING_A [ACCEPT_ARGS...]: pairs the running node of HOME_A with
# the one of HOME_B (peer address ADDR_B) the way two users would, through the CLI: A starts with
# `pair` (--ring RING_A unless it is empty), B accepts A's code (with ACCEPT_ARGS, e.g. --ring
# trusted --quota 12) once the pairing shows on B (up to 3 s), then A accepts it. Returns at
# once; wait_online tells when the channel is up.
pair_nodes() {
    _home_a=$1 _home_b=$2 _addr_b=$3 _ring=$4
    shift 4
    _out=$($UH --home "$_home_a" pair "$_addr_b" ${_ring:+--ring "$_ring"} --no-confirm --json \
        2>&1)
    _code=$(echo "$_out" | field 'd["code"]' 2>/dev/null)
    _pa=$(echo "$_out" | field 'd["id"]' 2>/dev/null)
    _pb=""
    _waiting='[p["id"] for p in d["pairings"] if p["incoming"] and p["state"]=="waiting"][0]'
    for _ in $(seq 30); do
        _pb=$($UH --home "$_home_b" pairing --json | field "$_waiting" 2>/dev/null)
        [ -n "$_pb" ] && break
        sleep 0.1
    done
    $UH --home "$_home_b" pairing accept "$_pb" --code "$_code" "$@" >/dev/null 2>&1
    $UH --home "$_home_a" pairing accept "$_pa" --code "$_code" >/dev/null 2>&1
}

# wait_online HOME COUNT: waits up to 6 s until the node of HOME lists COUNT peers online.
wait_online() {
    for _ in $(seq 60); do
        _n=$($UH --home "$1" peers --json | field 'sum(1 for p in d["peers"] if p["online"])')
        [ "${_n:-0}" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
