# Shared by the CLI end-to-end scripts: checks that count into $passed / $failed and keep the
# last command's output in $TMP/out (the caller creates $TMP and sets passed=0 failed=0).

# expect_rc NAME WANT_RC CMD...: runs CMD and compares its exit code.
expect_rc() {
    local name=$1 want=$2
    shift 2
    "$@" >"$TMP/out" 2>&1
    local rc=$?
    if [[ $rc -eq $want ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name: exit $rc, wanted $want: $*"
        sed 's/^/    /' "$TMP/out" | head -20
    fi
}

# expect_out NAME PATTERN: the last command's output contains PATTERN (fixed string).
expect_out() {
    if grep -qF -- "$2" "$TMP/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1: output lacks '$2'"
        sed 's/^/    /' "$TMP/out" | head -20
    fi
}

# veth_under_test DEV PEER: a veth pair, both ends up; on exit, weir's policy on DEV is unloaded,
# the pair deleted and $TMP removed.
veth_under_test() {
    DEV=$1 PEER=$2
    trap '"$WEIR" unload --dev "$DEV" >/dev/null 2>&1; ip link del "$DEV" 2>/dev/null; rm -rf "$TMP"' EXIT
    ip link add "$DEV" type veth peer name "$PEER" || exit 1
    ip link set "$DEV" up && ip link set "$PEER" up
}

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# peer_in_netns TAG NET [later]: the device under test DEV (root namespace) and its veth peer PEER
# in a private namespace NS (names from TAG and the pid), HOST_IP / PEER_IP = NET.S.1 / NET.S.2
# (S from the pid; NET is 198.18 or 198.19), IPv6 off, static neighbours both ways; private
# WEIR_PIN_ROOT and WEIR_RUN_DIR (the caller creates $TMP). With `later`, only the names and the
# namespace: the caller creates the pair with peer_veth when it wants it to appear. On exit: the
# caller's `extra_cleanup` if it defines one (e.g. killing a daemon), weir's policy on DEV
# unloaded, the pair, the namespace, the pins and $TMP removed.
peer_in_netns() {
    local tag=$1 net=$2
    export WEIR_PIN_ROOT=/sys/fs/bpf/weir-$tag-$$ WEIR_RUN_DIR=$TMP/run
    NS=w${tag:0:1}n$$ DEV=w${tag:0:1}$$a PEER=w${tag:0:1}$$b
    local s=$(($$ % 200 + 20))
    HOST_IP=$net.$s.1 PEER_IP=$net.$s.2
    trap '_peer_cleanup' EXIT
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
    ip netns add "$NS" || exit 1
    [[ ${3:-} == later ]] || peer_veth
}

# peer_veth: the veth pair of peer_in_netns, addressed and up.
peer_veth() {
    ip link add "$DEV" type veth peer name "$PEER" netns "$NS" || exit 1
    sysctl -qw "net.ipv6.conf.$DEV.disable_ipv6=1"
    ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$PEER.disable_ipv6=1"
    ip addr add "$HOST_IP/24" dev "$DEV" && ip link set "$DEV" up
    ip -n "$NS" addr add "$PEER_IP/24" dev "$PEER" && ip -n "$NS" link set "$PEER" up
    ip neigh replace "$PEER_IP" lladdr "$(ip -n "$NS" -br link show "$PEER" | awk '{print $3}')" dev "$DEV" nud permanent
    ip -n "$NS" neigh replace "$HOST_IP" lladdr "$(ip -br link show "$DEV" | awk '{print $3}')" dev "$PEER" nud permanent
}

# udp_probes N PORT: N UDP datagrams (18 bytes of payload: 60-byte frames) from the namespace to
# HOST_IP:PORT with bash's /dev/udp (no ping or netcat needed), sent from CPU 0 (veth runs the
# receiving XDP program there too, so per-CPU sample counters see them all).
udp_probes() {
    ip netns exec "$NS" taskset -c 0 bash -c 'for ((i = 0; i < $1; i++)); do printf 0123456789abcdefgh >"/dev/udp/$2/$3"; done' \
        _ "$1" "$HOST_IP" "$2"
}

_peer_cleanup() {
    declare -F extra_cleanup >/dev/null && extra_cleanup
    "$WEIR" unload --dev "$DEV" >/dev/null 2>&1
    ip link del "$DEV" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WEIR_PIN_ROOT" "$TMP"
}

# begin_cli_test WEIR_BINARY REPO_ROOT: the start of an end-to-end script that needs no root:
# WEIR and ROOT set, the working directory the repository, exit 77 (ctest's skip) without
# python3; $TMP created and removed on exit; the check counters at zero.
begin_cli_test() {
    WEIR=$1
    ROOT=$2
    cd "$ROOT" || exit 1
    command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    passed=0 failed=0
}

# begin_live_test WEIR_BINARY REPO_ROOT: the start of an end-to-end script that needs root:
# WEIR and ROOT set, the working directory the repository, exit 77 (ctest's skip) without root,
# iproute2 or python3; $TMP created; the check counters at zero.
begin_live_test() {
    WEIR=$1
    ROOT=$2
    cd "$ROOT" || exit 1
    if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null || ! command -v python3 >/dev/null; then
        echo "SKIP: needs root, iproute2 and python3"
        exit 77
    fi
    TMP=$(mktemp -d)
    passed=0 failed=0
}

# status_field DEV KEY: a field of `weir status --json` for DEV (empty when nothing is attached).
status_field() {
    "$WEIR" status --dev "$1" --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[0][sys.argv[1]])' "$2" 2>/dev/null
}

# expect_status NAME DEV KEY WANT: status field KEY of DEV is WANT.
expect_status() {
    local v
    v=$(status_field "$2" "$3")
    if [[ $v == "$4" ]]; then ok; else bad "$1: status $3 of $2 is '$v', wanted $4"; fi
}

# ---- waiting: conditions the system reaches by itself (counters draining, a daemon reacting) ----
# A deadline only bounds how long a failure takes to show; no check depends on how fast anything
# happens. Negative checks ("X did not happen") wait for a later, ordered positive event instead
# of sleeping.

# wait_until SECONDS CMD...: runs CMD until it succeeds, every 0.1 s; 1 if it still fails after
# SECONDS.
wait_until() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS >= end)) && return 1
        sleep 0.1
    done
}

# rule_packets RULE: packets counted by RULE of the policy on $DEV (`weir stats --json`).
rule_packets() {
    "$WEIR" stats --dev "$DEV" --json 2>/dev/null |
        python3 -c 'import json,sys; print([r for r in json.load(sys.stdin)[0]["rules"] if r["rule"] == sys.argv[1]][0]["packets"])' "$1" 2>/dev/null
}
_rule_packets_are() { [[ $(rule_packets "$1") == "$2" ]]; }

# wait_rule_packets CHECK RULE N [SECONDS]: until RULE on $DEV counted N packets (default 30 s):
# the frames sent before are all through the XDP program.
wait_rule_packets() {
    local t=${4:-30}
    if wait_until "$t" _rule_packets_are "$2" "$3"; then ok; else bad "$1: rule $2 counted '$(rule_packets "$2")' packets in $t s, wanted $3"; fi
}

# ---- `weir daemon` scripts: its JSON events go to $TMP/events, its HTTP port is $PORT ----

# events NAME: how many events NAME the running daemon printed so far.
events() { grep -c "\"event\":\"$1\"" "$TMP/events"; }
_events_at_least() { [[ $(events "$1") -ge $2 ]]; }

# wait_event NAME COUNT [SECONDS]: until the daemon printed COUNT events NAME (default 30 s).
wait_event() {
    local t=${3:-30}
    wait_until "$t" _events_at_least "$1" "$2" && { ok; return 0; }
    bad "no $2 '$1' events in $t s; events so far:"
    sed 's/^/    /' "$TMP/events"
    return 1
}

# get PATH: an HTTP GET on the daemon's port into $TMP/out (bash /dev/tcp; no curl needed).
get() {
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || { echo "connect failed" >"$TMP/out"; return 1; }
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
    tr -d '\r' <&3 >"$TMP/out"
    exec 3>&-
}

# metric 'NAME{LABELS}': its value in the last `get /metrics`.
metric() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/out"; }

# expect_metric CHECK 'NAME{LABELS}' VALUE
expect_metric() {
    local v
    v=$(metric "$2")
    if [[ $v == "$3" ]]; then ok; else bad "$1: $2 is '$v', wanted $3"; fi
}

_metric_is() { get /metrics && [[ $(metric "$1") == "$2" ]]; }

# wait_metric CHECK 'NAME{LABELS}' VALUE [SECONDS]: scrapes /metrics until NAME has VALUE
# (default 30 s), e.g. until a counter counted every datagram sent; $TMP/out keeps the last scrape.
wait_metric() {
    local t=${4:-30}
    if wait_until "$t" _metric_is "$2" "$3"; then ok; else bad "$1: $2 is '$(metric "$2")' after $t s, wanted $3"; fi
}

# start_weir_daemon CONFIG [ARGS...]: `weir daemon --config CONFIG` in the background, its events
# in $TMP/events and stderr in $TMP/stderr; DPID its pid, PORT its HTTP port once it listens.
start_weir_daemon() {
    : >"$TMP/events"
    "$WEIR" daemon --config "$@" >"$TMP/events" 2>"$TMP/stderr" &
    DPID=$!
    wait_event listening 1 || return 1
    PORT=$(grep '"event":"listening"' "$TMP/events" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])')
}

# metrics_body: the last `get` without its HTTP status line and headers.
metrics_body() { sed '1,/^$/d' "$TMP/out"; }
