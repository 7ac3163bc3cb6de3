#!/bin/sh
# mDNS interoperability with Avahi across two network namespaces on one bridge (tests/netns.sh).
# Host 1 runs a private D-Bus system bus and avahi-daemon; host 2 runs unhosted. Checks:
#   avahi_publish_seen      a service published with avahi-publish is found by `unhosted discover`
#                           (instance, address of host 1, port, TXT id and proto)
#   native_seen             a second unhosted process announcing on host 2 is found too
#   avahi_browse_sees_us    avahi-browse -r resolves our announcement (address, port, TXT)
#   avahi_sees_goodbye      once our announcer stops, Avahi drops the service (TTL 0 goodbye)
# Needs root (ip netns), avahi-daemon, avahi-utils and dbus (scripts/install-deps); prints SKIP
# without them. UNHOSTED_MDNS_PCAP=FILE keeps a capture of the bridge.
set -u
. tests/lib.sh
UH=$(cd "$(dirname "$UH")" && pwd)/$(basename "$UH")
. "$(dirname "$0")/netns.sh"

netns_skip_unless_root cli_avahi
for tool in avahi-daemon avahi-publish avahi-browse dbus-daemon unshare; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "SKIP cli_avahi: $tool not installed (scripts/install-deps)"
        exit 0
    fi
done
NETNS_EXTRA_CLEANUP=cleanup

# Waits up to $2 tenths of a second for file $1 to contain pattern $3.
wait_for() {
    i=0
    while [ $i -lt "$2" ]; do
        grep -q "$3" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

if ! netns_setup 2; then
    fail netns_setup "could not build the namespaces"
    exit 1
fi
[ -n "${UNHOSTED_MDNS_PCAP:-}" ] && netns_capture "$UNHOSTED_MDNS_PCAP"
A_IP=$(netns_addr 1)
B_IP=$(netns_addr 2)

# ---- host 1: a private system bus and avahi-daemon ----
# The bus listens on a socket path of its own (reachable from every namespace); avahi-daemon
# and its clients find it through DBUS_SYSTEM_BUS_ADDRESS. avahi-daemon gets a private /run
# (its pid file and socket), so it never meets a daemon of the machine's own.
cat >"$T/dbus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$T/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
cat >"$T/avahi.conf" <<EOF
[server]
host-name=avahi-$$
use-ipv4=yes
use-ipv6=no
allow-interfaces=$(netns_if 1)
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
EOF
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus"
netns_bg 1 dbus-daemon --config-file="$T/dbus.conf" --nofork --nopidfile >"$T/dbus.log" 2>&1
i=0
while [ ! -S "$T/bus" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
netns_bg 1 unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir -p /run/avahi-daemon &&
    exec avahi-daemon -f '$T/avahi.conf' --no-drop-root --no-chroot --no-rlimits" \
    >"$T/avahi.log" 2>&1
if ! wait_for "$T/avahi.log" 100 'Server startup complete'; then
    fail avahi_starts "$(tail -5 "$T/avahi.log")" "$(tail -3 "$T/dbus.log")"
    exit 1
fi
# a real device id (check characters valid), as a node on host 1 would announce
mkdir -p "$T/ida"
ID_A=$("$UH" --home "$T/ida" id --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
netns_bg 1 avahi-publish -s "friend box" _unhosted._tcp 7778 txtvers=1 "id=$ID_A" proto=1 \
    >"$T/publish.log" 2>&1
if ! wait_for "$T/publish.log" 50 'Established'; then
    fail avahi_publish "$(cat "$T/publish.log")"
    exit 1
fi

# ---- host 2: an announcer (diagnostic option) and a browser ----
ID_B=ZYXWVUT-SRQPONM-LKJIHGF-EDCBA76-5432ZYX-WVUTSRQ-PONMLKJ-IHGFEDC
netns_bg 2 "$UH" discover --timeout 30 --announce-port 7790 --announce-name "our node.test" \
    --announce-id "$ID_B" >"$T/announcer.out" 2>"$T/announcer.err"
announcer=$NETNS_BG_PID
netns_exec 2 "$UH" discover --timeout 5 --json >"$T/discover.json" 2>"$T/discover.err"
rc=$?
out=$(cat "$T/discover.json")
if [ $rc -eq 0 ] && echo "$out" | grep -q "{\"instance\":\"friend box\",\"id\":\"$ID_A\",\"proto\":1,\"host\":\"avahi-$$.local\",\"addr\":\"$A_IP:7778\"}"; then
    pass avahi_publish_seen
else
    fail avahi_publish_seen "exit $rc" "$out" "$(tail -3 "$T/discover.err")"
fi
if echo "$out" | grep -q "{\"instance\":\"our node.test\",\"id\":\"$ID_B\",\"proto\":1,\"host\":\"unhosted-zyxwvut.local\",\"addr\":\"$B_IP:7790\"}"; then
    pass native_seen
else
    fail native_seen "$out"
fi

# ---- Avahi resolves us: "=;IF;IPv4;NAME;TYPE;DOMAIN;HOST;ADDR;PORT;TXT" ----
want="=;$(netns_if 1);IPv4;our\\\\032node\\\\.test;_unhosted._tcp;local;unhosted-zyxwvut.local;$B_IP;7790;"
i=0
found=""
while [ $i -lt 5 ] && [ -z "$found" ]; do
    netns_exec 1 avahi-browse -rpt _unhosted._tcp >"$T/browse.out" 2>"$T/browse.err"
    found=$(grep "^$want" "$T/browse.out")
    i=$((i + 1))
done
if [ -n "$found" ] && echo "$found" | grep -q "\"id=$ID_B\"" && echo "$found" | grep -q '"proto=1"' &&
    echo "$found" | grep -q '"txtvers=1"'; then
    pass avahi_browse_sees_us
else
    fail avahi_browse_sees_us "wanted $want" "$(cat "$T/browse.out" "$T/browse.err")"
fi

# ---- the node itself: `unhosted serve` announces, and lists what Avahi publishes ----
mkdir -p "$T/node"
NODE_ID=$("$UH" --home "$T/node" id --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
netns_bg 2 "$UH" serve --home "$T/node" --listen 127.0.0.1:7777 --peer-listen 0.0.0.0:7778 \
    --mdns-interface "$(netns_if 2)" >"$T/serve.log" 2>&1
node_pid=$NETNS_BG_PID
found=""
i=0
while [ $i -lt 10 ] && [ -z "$found" ]; do
    netns_exec 1 avahi-browse -rpt _unhosted._tcp >"$T/browse3.out" 2>&1
    found=$(grep "^=;.*;$B_IP;7778;.*\"id=$NODE_ID\"" "$T/browse3.out")
    i=$((i + 1))
done
if [ -n "$found" ]; then pass avahi_sees_serve_node; else
    fail avahi_sees_serve_node "$(cat "$T/browse3.out")" "$(tail -3 "$T/serve.log")"; fi
seen=""
for _ in $(seq 50); do
    netns_exec 2 "$UH" --home "$T/node" peers --json >"$T/peers.json" 2>&1
    grep -q "$ID_A" "$T/peers.json" && grep -q "$A_IP:7778" "$T/peers.json" && seen=1 && break
    sleep 0.1
done
if [ -n "$seen" ]; then pass serve_node_sees_avahi_service; else
    fail serve_node_sees_avahi_service "$(cat "$T/peers.json")"; fi
kill -TERM "$node_pid" 2>/dev/null
wait "$node_pid"

# ---- goodbye: SIGTERM ends the announcer, which says goodbye; Avahi forgets us ----
kill -TERM "$announcer" 2>/dev/null
wait "$announcer"
rc=$?
sleep 1.5
netns_exec 1 avahi-browse -pt _unhosted._tcp >"$T/browse2.out" 2>&1
if [ $rc -eq 0 ] && ! grep -q 'our\\032node' "$T/browse2.out" && grep -q 'friend\\032box' "$T/browse2.out"; then
    pass avahi_sees_goodbye
else
    fail avahi_sees_goodbye "announcer exit $rc" "$(cat "$T/browse2.out")"
fi
netns_capture_stop
exit 0
