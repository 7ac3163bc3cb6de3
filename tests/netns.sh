# netns.sh - a shell library (sourced, not run) for tests that need several hosts on one LAN:
# network namespaces joined by veth pairs to a bridge in the root namespace.
#
#   . tests/netns.sh
#   netns_skip_unless_root          # prints "SKIP ..." and exits 0 where namespaces are denied
#   netns_setup 2                   # hosts 1..2: namespaces $(netns_name 1), $(netns_name 2)
#   netns_exec 1 cmd args...        # runs a command in host 1
#   netns_bg 1 cmd args... >out     # the same in the background; its pid in NETNS_BG_PID
#   netns_addr 1                    # host 1's IPv4 address (10.77.X.(10+N))
#   netns_if 1                      # host 1's interface name inside its namespace
#   netns_capture FILE / netns_capture_stop   # tcpdump on the bridge into a pcap file
#   netns_cleanup                   # installed as an EXIT trap by netns_setup
#
# Names carry the shell's pid so parallel runs do not collide; interface names stay within
# 15 characters. The bridge has multicast snooping off, so mDNS reaches every port at once.
# Cleanup kills every process left in the namespaces, then removes namespaces, veths and the
# bridge, also after a failure.

NETNS_TAG="uh$$"
NETNS_BR="br$NETNS_TAG"
NETNS_N=0
NETNS_SUBNET=""
NETNS_CAPTURE_PID=""

netns_skip_unless_root() {
    probe="${NETNS_TAG}probe"
    if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1 || ! ip netns add "$probe" 2>/dev/null; then
        echo "SKIP ${1:-netns}: needs root and ip netns"
        exit 0
    fi
    ip netns del "$probe" 2>/dev/null
}

netns_name() { echo "${NETNS_TAG}h$1"; }
netns_if() { echo "eth$1"; }
netns_addr() { echo "$NETNS_SUBNET.$((10 + $1))"; }
netns_exec() {
    n=$1
    shift
    ip netns exec "$(netns_name "$n")" "$@"
}

# `ip netns exec` execs the command, so NETNS_BG_PID is the command's own pid (for kill/wait).
netns_bg() {
    n=$1
    shift
    ip netns exec "$(netns_name "$n")" "$@" &
    NETNS_BG_PID=$!
}

# Removes what runs of this library left behind when they were killed outright (SIGKILL):
# namespaces and bridges named after a pid that no longer exists.
netns_reap_stale() {
    for ns in $(ip netns list 2>/dev/null | sed -n 's/^\(uh[0-9]*h[0-9]*\).*/\1/p'); do
        pid=${ns#uh}
        pid=${pid%%h*}
        kill -0 "$pid" 2>/dev/null && continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    for br in $(ip -o link show type bridge 2>/dev/null | sed -n 's/^[0-9]*: \(bruh[0-9]*\)[:@].*/\1/p'); do
        pid=${br#bruh}
        kill -0 "$pid" 2>/dev/null || ip link del "$br" 2>/dev/null
    done
}

# Creates the bridge and hosts 1..N. Returns non-zero (after cleaning up) on failure.
netns_setup() {
    NETNS_N=$1
    NETNS_SUBNET="10.77.$(($$ % 200 + 20))"
    trap netns_cleanup EXIT
    trap 'exit 130' HUP INT TERM
    netns_reap_stale
    ip link add "$NETNS_BR" type bridge || return 1
    ip link set "$NETNS_BR" type bridge mcast_snooping 0
    ip link set "$NETNS_BR" up || return 1
    i=1
    while [ "$i" -le "$NETNS_N" ]; do
        ns=$(netns_name "$i")
        ip netns add "$ns" || return 1
        ip link add "v${NETNS_TAG}h$i" type veth peer name "$(netns_if "$i")" netns "$ns" || return 1
        ip link set "v${NETNS_TAG}h$i" master "$NETNS_BR" up || return 1
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$(netns_addr "$i")/24" dev "$(netns_if "$i")" || return 1
        ip -n "$ns" link set "$(netns_if "$i")" up multicast on || return 1
        ip -n "$ns" route add 224.0.0.0/4 dev "$(netns_if "$i")" 2>/dev/null
        i=$((i + 1))
    done
    # wait for the ports to leave the bridge's learning state (carrier and DAD are instant here)
    sleep 0.3
}

# tcpdump of the mDNS traffic on the bridge into FILE (pcap) until netns_capture_stop.
netns_capture() {
    command -v tcpdump >/dev/null 2>&1 || return 1
    tcpdump -i "$NETNS_BR" -U -s 0 -w "$1" udp port 5353 >/dev/null 2>&1 &
    NETNS_CAPTURE_PID=$!
    sleep 0.5
}

netns_capture_stop() {
    [ -n "$NETNS_CAPTURE_PID" ] || return 0
    kill "$NETNS_CAPTURE_PID" 2>/dev/null
    wait "$NETNS_CAPTURE_PID" 2>/dev/null
    NETNS_CAPTURE_PID=""
}

netns_cleanup() {
    netns_capture_stop
    i=1
    while [ "$i" -le "$NETNS_N" ]; do
        ns=$(netns_name "$i")
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
        i=$((i + 1))
    done
    [ "$NETNS_N" -gt 0 ] && sleep 0.2
    i=1
    while [ "$i" -le "$NETNS_N" ]; do
        ns=$(netns_name "$i")
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip link del "v${NETNS_TAG}h$i" 2>/dev/null
        ip netns del "$ns" 2>/dev/null
        i=$((i + 1))
    done
    ip link del "$NETNS_BR" 2>/dev/null
    [ -n "${NETNS_EXTRA_CLEANUP:-}" ] && eval "$NETNS_EXTRA_CLEANUP"
    return 0
}
