#!/usr/bin/env bash
# End-to-end test of alerts in `weir daemon` (docs/deploy.md "Alerts"): a policy with an alert on
# a rule's packet rate (> 20/s for 2s) on a veth pair whose peer is in a private namespace (root
# only; exit 77, ctest's skip, otherwise). A burst of UDP datagrams from the namespace
# (198.18.0.0/15 only, bash /dev/udp) above the threshold, sent until the test stops it ->
# an alert_firing event and weir_alert_state 2 over loopback HTTP; a hot swap that keeps the
# alert keeps it firing (no event); the traffic stops -> alert_resolved and the state back to 0.
# A second burst, then a reload that removes the alert -> alert_resolved with reason "removed"
# and no more samples. That `for` holds the alert pending first is checked on a fake clock
# (tests/unit/test_daemon_alerts.cpp): here, a wait of the test is no evidence of it.
# Usage: alert_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
DPID= BPID=
extra_cleanup() {
    [[ -n $BPID ]] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
    [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
}
peer_in_netns alert 198.18
# burst: up to 200 UDP datagrams a second (10x the threshold) to port 9999 in the background,
# until stop_burst.
burst() {
    ip netns exec "$NS" bash -c 'while :; do
            for ((i = 0; i < 20; i++)); do printf burst >"/dev/udp/$1/9999"; done
            sleep 0.1
        done' _ "$HOST_IP" &
    BPID=$!
}
stop_burst() {
    kill "$BPID"
    wait "$BPID" 2>/dev/null
    BPID=
}
# has_value: the alert has a rate in /metrics: the daemon read the counters twice.
has_value() { get /metrics && [[ -n $(metric "$VALUE") ]]; }
STATE="weir_alert_state{alert=\"udp-burst\",policy=\"alerts\",interface=\"$DEV\",severity=\"warning\"}"
VALUE="weir_alert_value{alert=\"udp-burst\",policy=\"alerts\",interface=\"$DEV\"}"
FIRINGS="weir_alert_firings_total{alert=\"udp-burst\",policy=\"alerts\",interface=\"$DEV\"}"
expect_state() {
    get /metrics
    local v
    v=$(metric "$STATE")
    if [[ $v == "$2" ]]; then ok; else bad "$1: weir_alert_state is '$v', wanted $2"; grep alert "$TMP/out" | sed 's/^/    /'; fi
}
# last_event NAME: the last event NAME as JSON.
last_event() { grep "\"event\":\"$1\"" "$TMP/events" | tail -1; }

policy() {  # policy EXTRA_RULE ALERT_LINE
    printf 'policy alerts default pass {\n    burst: count if udp.dport == 9999\n    %s\n}\n\n%s\n' "$1" "$2"
}
ALERT='alert udp-burst when rate(burst) > 20/s for 2s severity warning "UDP burst to port 9999"'
policy "" "$ALERT" >"$TMP/edge.weir"
cat >"$TMP/daemon.json" <<EOF2
{ "listen": "127.0.0.1:0", "debounce_ms": 100,
  "interfaces": [ { "interface": "$DEV", "file": "edge.weir" } ] }
EOF2

"$WEIR" daemon --config "$TMP/daemon.json" >"$TMP/events" 2>"$TMP/stderr" &
DPID=$!
wait_event listening 1 || exit 1
PORT=$(grep '"event":"listening"' "$TMP/events" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])')
wait_event loaded 1
wait_until 30 has_value || bad "no weir_alert_value after 30 s"
expect_state "before traffic" 0
[[ $(metric "$FIRINGS") == 0 ]] && ok || bad "firings before traffic: $(metric "$FIRINGS")"

# --- a burst fires the alert ---
burst
wait_event alert_firing 1
last_event alert_firing | python3 -c '
import json, sys
e = json.loads(sys.stdin.read())
assert e["alert"] == "udp-burst" and e["policy"] == "alerts" and e["severity"] == "warning", e
assert e["interface"] == sys.argv[1] and e["threshold"] == 20 and e["unit"] == "packets/s", e
assert e["value"] > 20 and e["op"] == ">" and e["for_s"] == 2, e
assert e["message"] == "UDP burst to port 9999", e
' "$DEV" && ok || bad "alert_firing fields: $(last_event alert_firing)"
expect_state "during the burst" 2
v=$(metric "$VALUE")
python3 -c 'import sys; assert float(sys.argv[1]) > 20' "$v" 2>/dev/null && ok || bad "weir_alert_value during the burst: '$v'"
[[ $(metric "$FIRINGS") == 1 ]] && ok || bad "firings after one burst: $(metric "$FIRINGS")"

# --- a hot swap that keeps the alert keeps it firing, without events ---
policy "other: count if udp.dport == 9998" "$ALERT" >"$TMP/edge.weir.new" && mv "$TMP/edge.weir.new" "$TMP/edge.weir"
wait_event reloaded 1
# SIGHUP (nothing changed) as a control: its `unchanged` event comes after whatever the swap
# caused; the burst still runs.
kill -HUP "$DPID"
wait_event unchanged 1
[[ $(events alert_resolved) -eq 0 && $(events alert_firing) -eq 1 ]] && ok ||
    bad "a swap keeping the alert gave alert events: $(grep alert_ "$TMP/events")"
expect_state "after a swap that keeps it" 2

# --- the traffic stops: resolved after 2 s of quiet ---
stop_burst
wait_event alert_resolved 1
last_event alert_resolved | python3 -c '
import json, sys
e = json.loads(sys.stdin.read())
assert e["alert"] == "udp-burst" and e["reason"] == "condition" and e["value"] <= 20, e
assert e["firing_s"] >= 2, e
' && ok || bad "alert_resolved fields: $(last_event alert_resolved)"
expect_state "after the burst" 0
[[ $(events alert_firing) -eq 1 ]] && ok || bad "$(events alert_firing) alert_firing events for one burst"

# --- a reload that removes a firing alert resolves it ---
burst
wait_event alert_firing 2
expect_state "second burst" 2
[[ $(metric "$FIRINGS") == 2 ]] && ok || bad "firings after two bursts: $(metric "$FIRINGS")"
policy "" "" >"$TMP/edge.weir.new" && mv "$TMP/edge.weir.new" "$TMP/edge.weir"
wait_event alert_resolved 2
last_event alert_resolved | grep -q '"reason":"removed"' && ok || bad "removal: $(last_event alert_resolved)"
get /metrics
grep -q 'alert="udp-burst"' "$TMP/out" && bad "a removed alert still has samples" || ok
stop_burst

kill -TERM "$DPID"
wait "$DPID" && ok || bad "daemon exit after SIGTERM"
DPID=
echo "alert_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
