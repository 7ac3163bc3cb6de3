#!/bin/sh
# End-to-end tests of pairing through the CLI and the admin API: real `unhosted serve` nodes on
# loopback, each with its own --home (keys, trust store, node.json). Same-network pairing with
# the code checked on both sides (a wrong code rejects on both and stores nothing), peers lists
# with the rings given, revoke, invite/join, and the CLI's usage and runtime errors.
# Only ever connects to 127.0.0.1. Prints one "PASS name" / "FAIL name" per case.
set -u
. tests/lib.sh

# expect NAME STATUS PATTERN command...: the command exits with STATUS and its stderr matches.
expect() {
    name=$1 want=$2 pat=$3
    shift 3
    "$@" </dev/null >"$T/o" 2>"$T/e"
    rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pat" "$T/e"; then pass "$name"; else
        fail "$name" "exit $rc (want $want)" "$(cat "$T/o" "$T/e" | head -5)"; fi
}

# ---- without a node ----
H0="$T/h0"
dead=$(free_ports 1)
expect pair_usage_no_target 2 "usage: unhosted pair" $UH --home "$H0" pair
expect pair_usage_bad_addr 2 "expected a device id" $UH --home "$H0" pair 127.0.0.1:notaport
expect pair_usage_bad_ring 2 "ring must be own or trusted" $UH --home "$H0" pair 127.0.0.1:7 --ring friends
expect pair_usage_bad_code 2 "6 digits" $UH --home "$H0" pair 127.0.0.1:7 --code 12345
expect pair_needs_code_without_tty 2 "pass --code" $UH --home "$H0" pair 127.0.0.1:7
expect pairing_usage_no_id 2 "usage: unhosted pairing" $UH --home "$H0" pairing accept
expect pairing_usage_bad_id 2 "not a pairing id" $UH --home "$H0" pairing reject 'x/y'
expect invite_usage_ttl 2 "ttl must be 60" $UH --home "$H0" invite --ttl 10
expect join_usage_bad_code 2 "not an invite code" $UH --home "$H0" join nonsense
expect peer_add_usage_bad_addr 2 "expected HOST:PORT" $UH --home "$H0" peer add localhost
expect peers_usage_unknown 2 "unknown option\|unexpected argument" $UH --home "$H0" peers --bogus
expect peers_no_node 1 "no node running" $UH --home "$H0" peers --node 127.0.0.1:$dead
expect pairing_no_node 1 "no node running" $UH --home "$H0" pairing --node 127.0.0.1:$dead
if $UH pair --help | grep -q -- "--no-confirm" && $UH peers --help >/dev/null &&
    $UH invite --help >/dev/null && $UH join --help >/dev/null; then pass pair_help; else
    fail pair_help; fi

# ---- two (then three) nodes ----
# start N: a node with home $T/hN on free ports (lib.sh's start_node, log in $T/hN.log); sets HN
# (home) and QN (peer address) once it answers and has written its node.json, else QN="".
start() {
    set -- "$1" $(free_ports 2)
    q=127.0.0.1:$3
    start_node "h$1" "$2" "$3" && wait_until 100 has_node_json "$T/h$1" || q=""
    eval "H$1=\$T/h$1"
    eval "Q$1=\$q"
}
has_node_json() { field "d['http']" 2>/dev/null >/dev/null <"$1/config/node.json"; }
if ! $UH serve --help | grep -q -- "--peer-listen"; then
    fail pair_nodes_start "serve has no --peer-listen: the cluster node is not built in"
    exit 0
fi
start 1
start 2
if [ -n "$Q1" ] && [ -n "$Q2" ]; then pass pair_nodes_start; else
    fail pair_nodes_start "$(tail -5 "$T/h1.log")" "$(tail -5 "$T/h2.log")"
    exit 0
fi
U1="$UH --home $H1"
U2="$UH --home $H2"

# The incoming waiting pairing on node $1 (home) as "ID CODE PEER_ID", polled for up to 10 s.
incoming() {
    i=0
    while [ $i -lt 100 ]; do
        r=$($UH --home "$1" pairing --json 2>/dev/null | field \
            "' '.join([(p['id'],p['code'],p['peer_id']) for p in d['pairings'] if p['incoming'] and p['state']=='waiting' and p['code']][0])" 2>/dev/null)
        [ -n "$r" ] && { echo "$r"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# The state of pairing $2 on home $1 once it is final (or the last seen), within 15 s.
final_state() {
    i=0
    while [ $i -lt 150 ]; do
        s=$($UH --home "$1" pairing --json 2>/dev/null |
            field "[p['state'] for p in d['pairings'] if p['id']=='$2'][0]" 2>/dev/null)
        case "$s" in done | rejected | failed) break ;; esac
        sleep 0.1
        i=$((i + 1))
    done
    echo "$s"
}
# The paired entry for device $2 in home $1's peers: its ring, or "none".
paired_ring() {
    $UH --home "$1" peers --json | field \
        "([p['ring'] for p in d['peers'] if p['id']=='$2' and p['paired']] or ['none'])[0]"
}

# ---- a wrong code rejects on both sides ----
$U1 pair "$Q2" --no-confirm --json --timeout 20 >"$T/p1" 2>"$T/e"
pid1=$(field "d['id']" <"$T/p1" 2>/dev/null)
code1=$(field "d['code']" <"$T/p1" 2>/dev/null)
id2=$(field "d['peer_id']" <"$T/p1" 2>/dev/null)
in2=$(incoming "$H2")
set -- $in2
pid2=${1:-} code2=${2:-} id1=${3:-}
if [ -n "$pid1" ] && echo "$code1" | grep -qx '[0-9]\{6\}' && [ "$code1" = "$code2" ]; then
    pass pair_same_code_both_sides; else
    fail pair_same_code_both_sides "node1: $(cat "$T/p1" "$T/e")" "node2: $in2"; fi
wrong=$(python3 -c "print('%06d' % ((int('${code2:-0}') + 1) % 1000000))")
$U2 pairing accept "$pid2" --code "$wrong" >/dev/null 2>&1
s1=$(final_state "$H1" "$pid1")
s2=$(final_state "$H2" "$pid2")
if [ "$s1" = rejected ] && [ "$s2" = rejected ]; then pass pair_wrong_code_rejects_both; else
    fail pair_wrong_code_rejects_both "node1: $s1" "node2: $s2"; fi
r1=$(paired_ring "$H1" "$id2")
r2=$(paired_ring "$H2" "$id1")
if [ "$r1" = none ] && [ "$r2" = none ]; then pass pair_wrong_code_stores_nothing; else
    fail pair_wrong_code_stores_nothing "node1 has node2: $r1" "node2 has node1: $r2"; fi
expect pairing_accept_not_waiting 1 "not waiting" $U2 pairing accept "$pid2" --code "$code2"

# ---- the right code on both sides pairs them ----
$U1 pair "$Q2" --no-confirm --json --timeout 20 >"$T/p1" 2>"$T/e"
pid1=$(field "d['id']" <"$T/p1" 2>/dev/null)
code1=$(field "d['code']" <"$T/p1" 2>/dev/null)
in2=$(incoming "$H2")
set -- $in2
pid2=${1:-} code2=${2:-}
if [ -n "$pid1" ] && [ -n "$code1" ] && [ "$code1" = "$code2" ]; then pass pair_code_again; else
    fail pair_code_again "node1: $(cat "$T/p1" "$T/e")" "node2: $in2"; fi
$U1 pairing accept "$pid1" --code "$code2" >"$T/a1" 2>&1
a1=$?
$U2 pairing accept "$pid2" --code "$code1" --ring trusted --quota 5000 --wait --timeout 20 >"$T/a2" 2>&1
a2=$?
s1=$(final_state "$H1" "$pid1")
if [ $a1 -eq 0 ] && [ $a2 -eq 0 ] && [ "$s1" = done ] && grep -q "Paired with" "$T/a2"; then
    pass pair_both_accept_done; else
    fail pair_both_accept_done "node1: exit $a1 state $s1 $(cat "$T/a1")" "node2: exit $a2 $(cat "$T/a2")"; fi
r1=$(paired_ring "$H1" "$id2")
r2=$(paired_ring "$H2" "$id1")
if [ "$r1" = own ] && [ "$r2" = trusted ]; then pass pair_peers_list_rings; else
    fail pair_peers_list_rings "node1 gives node2: $r1 (want own)" "node2 gives node1: $r2 (want trusted)"; fi
q2=$($U2 peers --json | field "[p['quota'] for p in d['peers'] if p['id']=='$id1'][0]" 2>/dev/null)
if [ "$q2" = 5000 ]; then pass pair_quota_stored; else fail pair_quota_stored "quota: $q2"; fi
if $U1 peers | grep -q "^${id2%%-*} "; then pass peers_table_lists_peer; else
    fail peers_table_lists_peer "$($U1 peers 2>&1)"; fi

# ---- revoke ----
short2=${id2%%-*}
expect revoke_unknown 1 "no paired device" $U1 revoke ZZZZZZZ
if $U1 revoke "$short2" >"$T/o" 2>&1 && grep -q "$id2" "$T/o" && [ "$(paired_ring "$H1" "$id2")" = none ]; then
    pass revoke_removes_peer; else fail revoke_removes_peer "$(cat "$T/o")"; fi
expect revoke_again_fails 1 "no paired device" $U1 revoke "$short2"

# ---- runtime errors from the node ----
expect pairing_unknown_id 1 "no pairing" $U1 pairing accept ffffffff --code 123456
expect pair_unreachable 1 "" $U1 pair 127.0.0.1:$dead --code 123456 --timeout 5

# ---- invite / join ----
start 3
U3="$UH --home $H3"
if [ -z "$Q3" ]; then fail invite_node_start "$(tail -5 "$T/h3.log")"; exit 0; fi
$U3 invite --ring own --ttl 600 --json >"$T/inv" 2>&1
icode=$(field "d['code']" <"$T/inv" 2>/dev/null)
if [ -n "$icode" ] && $U3 invite --ttl 600 | grep -q "unhosted join "; then pass invite_prints_code; else
    fail invite_prints_code "$(cat "$T/inv")"; fi
$U1 join "$icode" >"$T/j" 2>&1
jrc=$?
id3=$(curl -s --noproxy '*' "http://$(field "d['http']" <"$H3/config/node.json")/admin/self" | field "d['id']")
if [ $jrc -eq 0 ] && [ "$(paired_ring "$H1" "$id3")" = trusted ] && [ "$(paired_ring "$H3" "$id1")" = own ]; then
    pass join_pairs_both; else
    fail join_pairs_both "exit $jrc: $(cat "$T/j")" "node1 has node3: $(paired_ring "$H1" "$id3")" \
        "node3 has node1: $(paired_ring "$H3" "$id1")"; fi
expect join_code_used_once 1 "" $U2 join "$icode"
