#!/usr/bin/env bash
# End-to-end test of shadow mode (docs/operations.md "Shadow mode"; root only, exit 77 otherwise)
# on a veth pair with a private namespace (198.19.0.0/16): `weir load --shadow` runs a candidate
# beside the enforcing policy; datagrams the candidate would drop still pass; `weir shadow
# status|report` count the transition and sample it; stop and promote are hot swaps; a candidate
# may bring a set the enforcing policy lacks. Then the daemon rolls changes out through shadow:
# one with a transition over shadow_max_packets is rejected (weir_shadow_packets_total while it
# runs), one without is promoted.
# Usage: shadow_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
DPID=
extra_cleanup() { [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; }
peer_in_netns shadow 198.19

mkdir -p "$TMP/cfg"
printf 'policy sh-a default pass {\n    web: pass if udp.dport == 7000\n}\n' >"$TMP/cfg/a.weir"
printf 'policy sh-b default pass {\n    block: drop if udp.dport == 7000\n}\n' >"$TMP/b.weir"
printf 'policy sh-c default pass {\n    other: drop if udp.dport == 7001\n}\n' >"$TMP/c.weir"

# --- the CLI ---
expect_rc "load" 0 "$WEIR" load "$TMP/cfg/a.weir" --dev "$DEV"
expect_rc "no shadow yet" 2 "$WEIR" shadow status --dev "$DEV" --color always
expect_out "says so" "no shadow policy runs on '$DEV'"
expect_rc "neither a file nor --shadow" 2 "$WEIR" load --dev "$DEV"
expect_rc "load --shadow" 0 "$WEIR" load --shadow "$TMP/b.weir" --dev "$DEV"
expect_out "shadow load summary" "candidate from '$TMP/b.weir' runs beside 'sh-a' on '$DEV', enforcing nothing"
expect_status "the enforcing policy stays" "$DEV" policy sh-a
expect_rc "status" 0 "$WEIR" status --dev "$DEV"
expect_out "status names the candidate" "  shadow: candidate 'sh-b' from $TMP/b.weir, enforcing nothing"
udp_probes 5 7000
wait_rule_packets "the enforcing policy passed them all" web 5
expect_rc "shadow status" 0 "$WEIR" shadow status --dev "$DEV"
expect_out "the transition" '5 packets passed by `web` would be dropped by `block`'
expect_rc "shadow status --json" 0 "$WEIR" shadow status --dev "$DEV" --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); t=j["transitions"][0]
assert (t["from_rule"], t["to_rule"], t["to_verdict"], t["packets"]) == ("web", "block", "drop", 5), t
assert j["candidate"] == "sh-b" and j["candidate_rules"]["block"] == 5, j' "$TMP/out" && ok || bad "json: $(cat "$TMP/out")"
expect_rc "shadow report" 0 "$WEIR" shadow report --dev "$DEV" --samples-ms 300
expect_out "a sample of the transition" ", candidate: drop by block"
expect_rc "shadow stop" 0 "$WEIR" shadow stop --dev "$DEV" -I "$TMP" --color never
expect_out "stopped" "shadow stopped: 'sh-a' runs alone on '$DEV'"
expect_rc "no shadow after stop" 2 "$WEIR" shadow status --dev "$DEV" --color auto
expect_rc "load --shadow again" 0 "$WEIR" load --shadow "$TMP/b.weir" --dev "$DEV"
expect_rc "shadow promote" 0 "$WEIR" shadow promote --dev "$DEV"
expect_out "promoted" "candidate 'sh-b' promoted: it enforces on '$DEV'"
expect_status "the candidate enforces" "$DEV" policy sh-b
expect_rc "unload" 0 "$WEIR" unload --dev "$DEV"

# A candidate with a set the enforcing policy lacks: its own table, filled from its file.
printf 'set geo : ip = { %s/32 }\npolicy sh-g default pass {\n    geo-block: drop if ip.src in @geo\n}\n' \
    "$PEER_IP" >"$TMP/g.weir"
expect_rc "load for a candidate with its own set" 0 "$WEIR" load "$TMP/cfg/a.weir" --dev "$DEV"
expect_rc "load --shadow with a set the running policy lacks" 0 "$WEIR" load --shadow "$TMP/g.weir" --dev "$DEV"
udp_probes 3 7001
expect_rc "shadow status --json, own set" 0 "$WEIR" shadow status --dev "$DEV" --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); t=j["transitions"][0]
assert (t["from_rule"], t["to_rule"], t["packets"]) == ("default", "geo-block", 3), t' "$TMP/out" && ok ||
    bad "own set json: $(cat "$TMP/out")"
expect_rc "promote the candidate with its own set" 0 "$WEIR" shadow promote --dev "$DEV"
expect_out "its table kept, not refilled" "0 set tables filled"
expect_rc "unload the promoted candidate" 0 "$WEIR" unload --dev "$DEV"

# Promote with a way back: unconfirmed, the shadowing program (sh-a with sh-b beside it) returns.
expect_rc "load again" 0 "$WEIR" load "$TMP/cfg/a.weir" --dev "$DEV"
expect_rc "--confirm-within is for promote only" 2 "$WEIR" shadow status --dev "$DEV" --confirm-within 5s
expect_rc "a shadow load takes no --confirm-within" 2 "$WEIR" load --shadow "$TMP/b.weir" --dev "$DEV" --confirm-within 5s
expect_rc "load --shadow for a confirmed promote" 0 "$WEIR" load --shadow "$TMP/b.weir" --dev "$DEV"
expect_rc "promote --confirm-within" 0 "$WEIR" shadow promote --dev "$DEV" --confirm-within 2s
expect_status "the candidate enforces, unconfirmed" "$DEV" policy sh-b
sleep 3.5
expect_status "unconfirmed: the enforcing policy is back" "$DEV" policy sh-a
expect_rc "with its shadow beside it" 0 "$WEIR" shadow status --dev "$DEV"
expect_rc "promote --confirm-within again" 0 "$WEIR" shadow promote --dev "$DEV" --confirm-within 30s
expect_rc "confirm" 0 "$WEIR" confirm --dev "$DEV"
sleep 0.5
expect_status "confirmed: the candidate stays" "$DEV" policy sh-b
expect_rc "unload again" 0 "$WEIR" unload --dev "$DEV"

# --- the daemon: changes rolled out through shadow ---
cat >"$TMP/cfg/daemon.json" <<JSON
{ "listen": "127.0.0.1:0", "debounce_ms": 100,
  "interfaces": [ { "interface": "$DEV", "file": "a.weir", "shadow_seconds": 4, "shadow_max_packets": 3 } ] }
JSON
"$WEIR" daemon --config "$TMP/cfg/daemon.json" >"$TMP/events" 2>"$TMP/stderr" &
DPID=$!
wait_event listening 1
PORT=$(grep '"event":"listening"' "$TMP/events" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])')
wait_event loaded 1
cp "$TMP/b.weir" "$TMP/cfg/a.weir.new" && mv "$TMP/cfg/a.weir.new" "$TMP/cfg/a.weir"
wait_event shadow_started 1
udp_probes 5 7000
wait_metric "the transition while the shadow runs" "weir_shadow_packets_total{interface=\"$DEV\",from_rule=\"web\",to_rule=\"block\"}" 5 3
wait_event shadow_rejected 1
expect_status "a rejected candidate leaves the policy" "$DEV" policy sh-a
cp "$TMP/c.weir" "$TMP/cfg/a.weir.new" && mv "$TMP/cfg/a.weir.new" "$TMP/cfg/a.weir"
wait_event shadow_started 2
# Another file of the folder changing leaves the candidate as it is: the rollout goes on (its
# reconcile, 0.1 s after, comes long before the promotion at 4 s).
echo notes >"$TMP/cfg/notes.txt"
udp_probes 5 7000
wait_event shadow_promoted 1
[[ $(events shadow_started) -eq 2 ]] && ok || bad "an unrelated file restarted the rollout: $(events shadow_started) shadow_started"
expect_status "a candidate within the threshold is promoted" "$DEV" policy sh-c

echo "shadow_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
