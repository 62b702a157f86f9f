#!/usr/bin/env bash
# End-to-end test of swaps that roll back unless confirmed (weir load --confirm-within, weir
# confirm; docs/operations.md "Confirmed swaps") on a veth whose peer lives in a private namespace
# (root only; exit 77, ctest's skip, otherwise). Pings (ICMP echo, python raw socket) go from the
# namespace to the device under test; policy conf-a lets them through, conf-b drops them; both
# count them in rule `pings`. Checks: an unconfirmed load of conf-b is rolled back by its watcher
# within the window + 1 s and pings are answered again; a confirmed one stays; a load run in a
# `setsid bash` whose process group is then killed still rolls back; with its watcher killed, the
# next `weir status` rolls back; the rollback target of a load made while one awaits confirmation
# stays the confirmed policy; an armed first load detaches; with the watcher killed, `weir daemon`
# rolls back; counters are kept across rollbacks (also when the swap grew weir_rules); an armed
# swap on an interface deleted before its deadline leaves status and unload working.
# Usage: confirm_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
JOB= DPID=
extra_cleanup() {
    [[ -n $JOB ]] && kill -KILL -- "-$JOB" 2>/dev/null
    [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
}
peer_in_netns confirm 198.18

# ping1: one ICMP echo from the namespace to HOST_IP; 0 if answered within 0.5 s. SENT counts
# them: every policy here counts each one in rule `pings`, dropped or not.
SENT=0
ping1() {
    SENT=$((SENT + 1))
    ip netns exec "$NS" python3 -c '
import os, socket, struct, sys
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
ident = os.getpid() & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.5)
head = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"weir"
s.sendto(struct.pack("!BBHHH", 8, 0, csum(head), ident, 1) + b"weir", (sys.argv[1], 0))
try:
    while True:
        d = s.recv(1500)
        t, _, _, i, _ = struct.unpack("!BBHHH", d[20:28])
        if t == 0 and i == ident:
            sys.exit(0)
except socket.timeout:
    sys.exit(1)' "$HOST_IP"
}
expect_ping() { if ping1; then ok; else bad "$1: no answer to a ping"; fi; }
expect_no_ping() { if ping1; then bad "$1: a ping was answered"; else ok; fi; }
now() { date +%s.%N; }
# gone PID: the process has exited (a zombie counts: init may reap it late).
gone() { [[ ! -e /proc/$1 ]] || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
expect_gone() { if wait_until 5 gone "$2"; then ok; else bad "$1: process $2 still runs"; fi; }
json_confirm() {
    "$WEIR" status --dev "$DEV" --json | python3 -c 'import json,sys; c=json.load(sys.stdin)[0]["confirm"]; print("none" if c is None else c[sys.argv[1]])' "$1"
}
# The confirmation window of every armed load here: long enough for the checks made while a
# swap is armed (each a weir and a python start) on a machine busy with other builds.
WIN=8
# pings_back CHECK START: the previous policy is back within the window + 1 s of START (the end
# of the load that armed it), by the time weir recorded for the rollback (whole seconds: its
# loaded_at), and pings are answered again, without any weir command meanwhile (the watcher
# alone rolls back). The rollback's own record is the clock, not the pings: on a busy machine a
# python start takes seconds.
pings_back() {
    if wait_until $((WIN + 10)) ping1; then ok; else bad "$1: pings not answered again"; fi
    local back
    back=$(date -d "$(status_field "$DEV" loaded_at)" +%s)
    python3 -c 'import sys; sys.exit(0 if int(sys.argv[1]) <= float(sys.argv[2]) + int(sys.argv[3]) + 1 else 1)' \
        "$back" "$2" "$WIN" && ok || bad "$1: rolled back at $back, more than the window + 1 s after $2"
}

cat >"$TMP/a.weir" <<'P'
policy conf-a default pass {
    pings:  count if icmp.type == echo-request
    a-only: count if udp.dport == 7777
}
P
cat >"$TMP/b.weir" <<'P'
policy conf-b default pass {
    pings:   count if icmp.type == echo-request
    no-ping: drop if icmp.type == echo-request
}
P
# conf-b2 has a rule neither conf-a nor conf-b has: its counter slot must not be one conf-a uses.
sed -e 's/conf-b/conf-b2/' -e 's/^}/    b2-new: count if udp.dport == 7778\n}/' "$TMP/b.weir" >"$TMP/b2.weir"
{   # conf-b with 300 more rules: the swap grows weir_rules, a rollback copies counters back
    echo "policy conf-big default pass {"
    echo "    pings:   count if icmp.type == echo-request"
    echo "    no-ping: drop if icmp.type == echo-request"
    for i in $(seq 1 300); do echo "    r$i: drop if udp.dport == $((20000 + i))"; done
    echo "}"
} >"$TMP/big.weir"

expect_rc "a bad window" 2 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --confirm-within 5x
expect_out "a bad window says so" "is not a duration"
expect_rc "confirm without a policy" 2 "$WEIR" confirm --dev "$DEV"
expect_rc "load conf-a" 0 "$WEIR" load "$TMP/a.weir" --dev "$DEV"
expect_ping "under conf-a"
wait_rule_packets "conf-a counts the ping" pings "$SENT"
expect_rc "confirm with nothing armed" 1 "$WEIR" confirm --dev "$DEV"
expect_out "nothing to confirm" "nothing awaits confirmation on '$DEV'"

# 1. Not confirmed: the watcher swaps conf-a back.
expect_rc "load conf-b, confirm within ${WIN}s" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --confirm-within ${WIN}s
t0=$(now)
expect_no_ping "under unconfirmed conf-b"  # first: the window runs while the checks below do
expect_out "the arm step" "  arm "
expect_out "the load says how to keep it" "unless \`weir confirm --dev $DEV\` runs within"
expect_status "conf-b runs" "$DEV" policy conf-b
[[ $(json_confirm rollback_policy) == conf-a ]] && ok || bad "status names the rollback target"
WPID=$(json_confirm watcher_pid)
expect_rc "status text" 0 "$WEIR" status --dev "$DEV"
expect_out "status says it awaits confirmation" "awaits confirmation: unless \`weir confirm --dev $DEV\` runs by"
expect_rc "a load without a window while one is armed" 2 "$WEIR" load "$TMP/a.weir" --dev "$DEV"
expect_out "refused" "awaits confirmation"
pings_back "unconfirmed conf-b" "$t0"
expect_status "conf-a is back" "$DEV" policy conf-a
[[ $(json_confirm deadline) == none ]] && ok || bad "nothing awaits confirmation after the rollback"
wait_rule_packets "counters kept across the rollback" pings "$SENT"
expect_gone "the watcher exits after the rollback" "$WPID"
expect_rc "too late to confirm" 1 "$WEIR" confirm --dev "$DEV"

# 2. Confirmed: conf-b stays past the window; its watcher is gone.
expect_rc "load conf-b again" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --confirm-within ${WIN}s
WPID=$(json_confirm watcher_pid)
expect_rc "confirm" 0 "$WEIR" confirm --dev "$DEV"
expect_out "confirm says so" "weir confirm: policy 'conf-b' on '$DEV' confirmed"
expect_gone "confirm stops the watcher" "$WPID"
sleep $((WIN + 1))
expect_no_ping "confirmed conf-b stays"
expect_status "conf-b still runs" "$DEV" policy conf-b
expect_rc "confirm twice" 1 "$WEIR" confirm --dev "$DEV"
expect_rc "a stale watcher does nothing" 1 "$WEIR" confirm-watch --dev "$DEV" --token 0000000000000000
expect_rc "back to conf-a" 0 "$WEIR" load "$TMP/a.weir" --dev "$DEV"

# 2b. A load killed between its arm step and the swap: conf-a keeps running, and the next
# command drops the rollback record (nothing to roll back) and stops the watcher.
WEIR_INJECT_KILL=after-arm sh -c '"$0" load "$1" --dev "$2" --confirm-within "$3"; echo "rc=$?"' \
    "$WEIR" "$TMP/b.weir" "$DEV" "${WIN}s" >"$TMP/out" 2>&1
expect_out "killed after arm" "rc=137"
WPID=$(pgrep -f "confirm-watch --dev $DEV ")
expect_rc "status after the kill" 0 "$WEIR" status --dev "$DEV"
expect_out "the record is dropped" "dropped the rollback of an interrupted swap (policy 'conf-a' kept running)"
expect_status "conf-a runs" "$DEV" policy conf-a
[[ -n $WPID ]] && expect_gone "its watcher is stopped" "$WPID" || bad "no watcher found after the kill"
expect_ping "under conf-a after the kill"

# 3. The session that loaded dies: a process group killed right after the load.
setsid bash -c '"$0" load "$1" --dev "$2" --confirm-within "$4" >"$3" 2>&1; sleep 600' \
    "$WEIR" "$TMP/b.weir" "$DEV" "$TMP/session" "${WIN}s" &
JOB=$!
wait_until 60 grep -qs "replaced" "$TMP/session" && ok || bad "the session's load: $(cat "$TMP/session")"
t0=$(now)
kill -KILL -- "-$JOB" && ok || bad "kill the session's process group"
wait "$JOB" 2>/dev/null
JOB=
expect_no_ping "under conf-b, session gone"
pings_back "session killed" "$t0"

# 4. The watcher killed: nothing rolls back until a weir command runs, then it does.
expect_rc "load conf-big, confirm within ${WIN}s" 0 "$WEIR" load "$TMP/big.weir" --dev "$DEV" --confirm-within $WIN
WPID=$(json_confirm watcher_pid)
kill -KILL "$WPID" && ok || bad "kill the watcher $WPID"
expect_no_ping "under conf-big"
sleep $((WIN + 1))
expect_no_ping "past the window, no watcher"
expect_rc "status rolls back" 0 "$WEIR" status --dev "$DEV"
expect_out "status says so" "policy 'conf-big' was not confirmed within $WIN s; rolled back to policy 'conf-a'"
expect_ping "after status"
wait_rule_packets "counters copied back from the grown table" pings "$SENT"

# 5. A load while one awaits confirmation, with its own window: the target stays conf-a, and
# keeps its counters (a-only: conf-a alone has it).
udp_probes 3 7777
wait_rule_packets "conf-a counts a-only" a-only 3
expect_rc "load conf-b, 30s" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --confirm-within 1m
OLD_WPID=$(json_confirm watcher_pid)
expect_rc "load conf-b2 over it, ${WIN}s" 0 "$WEIR" load "$TMP/b2.weir" --dev "$DEV" --confirm-within ${WIN}s
t0=$(now)
[[ $(json_confirm rollback_policy) == conf-a ]] && ok || bad "the rollback target stays conf-a"
expect_gone "the re-arming stops the first watcher" "$OLD_WPID"
pings_back "conf-b2 over conf-b" "$t0"
expect_status "conf-a after both" "$DEV" policy conf-a
wait_rule_packets "a-only kept through two unconfirmed loads" a-only 3

# 6. Unload stops the watcher; an armed first load, not confirmed, is detached.
expect_rc "load conf-b, 1m" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --confirm-within 1m
WPID=$(json_confirm watcher_pid)
expect_rc "unload" 0 "$WEIR" unload --dev "$DEV"
expect_gone "unload stops the watcher" "$WPID"
expect_rc "first load of conf-b, ${WIN}s" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --confirm-within ${WIN}s
expect_no_ping "under the armed first load"
if wait_until $((WIN + 3)) ping1; then ok; else bad "the armed first load was not detached"; fi
expect_rc "nothing left" 2 "$WEIR" status --dev "$DEV"

# 7. The daemon's tick: with the watcher killed and no weir command run, the daemon rolls back.
echo "{ \"listen\": \"off\", \"interfaces\": [ { \"interface\": \"$DEV\", \"file\": \"a.weir\" } ] }" >"$TMP/daemon.json"
"$WEIR" daemon --config "$TMP/daemon.json" >"$TMP/events" 2>"$TMP/stderr" &
DPID=$!
wait_event loaded 1
expect_rc "load conf-b beside the daemon, ${WIN}s" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --confirm-within ${WIN}s
kill -KILL "$(json_confirm watcher_pid)" && ok || bad "kill the watcher"
# `rolled_back` comes from the daemon's tick, or from its own load when that load's recovery is
# the one that rolls back (a slow daemon, e.g. a sanitizer build, may still be retrying then).
_daemon_rolled_back() { grep -q '"event":"rolled_back"' "$TMP/events"; }
if wait_until $((WIN + 8)) _daemon_rolled_back; then ok; else bad "the daemon did not roll back in $((WIN + 8)) s; events:"; sed 's/^/    /' "$TMP/events"; fi
expect_ping "after the daemon's rollback"
kill -TERM "$DPID" && wait "$DPID"
DPID=

# 8. The interface deleted while a swap is armed: once the deadline passed, status and unload
# still work (the rollback finds the link severed) and leave no state.
expect_rc "load conf-b before the interface goes" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --confirm-within ${WIN}s
kill -KILL "$(pgrep -f "confirm-watch --dev $DEV ")" && ok || bad "kill the watcher of the last load"
ip link del "$DEV" && ok || bad "delete $DEV"
sleep $((WIN + 1))  # past the deadline: what is checked is what happens after it
expect_rc "status after the interface went" 0 "$WEIR" status
expect_rc "unload after the interface went" 0 "$WEIR" unload --dev "$DEV"
[[ ! -e $WEIR_PIN_ROOT/$DEV ]] && ok || bad "pins of $DEV left: $(ls "$WEIR_PIN_ROOT/$DEV")"

echo "confirm_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
