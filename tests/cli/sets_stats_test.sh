#!/usr/bin/env bash
# End-to-end tests of weir set / weir stats on a veth pair (root only; exit 77, ctest's skip,
# otherwise): output, exit codes, diagnostics with a caret under the bad element, refusals
# (unknown interface, no policy, not privileged), stats --json and --watch --count.
# Usage: sets_stats_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
veth_under_test wz$$a wz$$b

expect_no_out() {
    if grep -qF -- "$2" "$TMP/out"; then
        failed=$((failed + 1))
        echo "FAIL: $1: output has '$2'"
        sed 's/^/    /' "$TMP/out" | head -20
    else
        passed=$((passed + 1))
    fi
}

cat >"$TMP/p.weir" <<'P'
set blocked : ip = { 198.18.7.0/24, 2001:2::/64 }
set svc : port = { 8000-8099 }
set protos : proto = { gre }

policy cli-sets default pass {
    ssh: drop if tcp.dport == 22
    web: count if tcp.dport == 80
    bad: drop if ip.src in @blocked
    svc: pass if tcp.dport in @svc
    pr:  drop if ip.proto in @protos
}
P

expect_rc "set on an unknown interface" 2 "$WEIR" set add --dev weir-nosuch0 blocked 192.0.2.1
expect_out "unknown interface message" "weir set add: no interface named 'weir-nosuch0'"
expect_rc "set on an interface without weir" 2 "$WEIR" set list --dev "$DEV" blocked
expect_out "no policy message" "no weir policy on '$DEV'"
expect_rc "stats on an unknown interface" 2 "$WEIR" stats --dev weir-nosuch0
expect_out "stats unknown interface message" "weir stats: no interface named 'weir-nosuch0'"

expect_rc "load" 0 "$WEIR" load "$TMP/p.weir" --dev "$DEV"

expect_rc "list" 0 "$WEIR" set list --dev "$DEV" blocked
expect_out "list v4" "198.18.7.0/24"
expect_out "list v6" "2001:2::/64"
expect_rc "add" 0 "$WEIR" set add --dev "$DEV" blocked 192.0.2.1 198.51.100.0/24 10.0.0.1-10.0.0.3 2001:db8::1
expect_out "add summary" "weir set add: 4 elements -> set 'blocked' on '$DEV': 5 entries added"
expect_rc "add again" 0 "$WEIR" set add --dev "$DEV" blocked 192.0.2.1
expect_out "already present" "0 entries added, 1 already present"
expect_rc "list after add" 0 "$WEIR" set list --dev "$DEV" blocked
expect_out "range as prefixes" "10.0.0.2/31"
expect_out "host" "192.0.2.1"
expect_rc "list --json" 0 "$WEIR" set list --dev "$DEV" blocked --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["type"]=="ip" and "2001:db8::1" in j["elements"], j' "$TMP/out" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: list --json"; }

# Errors: diagnostics at the element on the command line, nothing changed.
expect_rc "wrong element type" 1 "$WEIR" set add --dev "$DEV" svc 8080 ssh --color never
expect_out "type message" "<command line>:1:10: error: set 'svc' holds ports (0-65535) and has no symbolic names; 'ssh' is a name"
expect_out "source line" "    svc 8080 ssh"
expect_out "caret" "             ^~~"
expect_out "nothing changed" "weir set add: nothing changed"
expect_rc "list svc unchanged" 0 "$WEIR" set list --dev "$DEV" svc
expect_no_out "8080 not added" "8080"
expect_rc "bad address" 1 "$WEIR" set add --dev "$DEV" blocked 10.0.0.999 --color never
expect_out "bad address message" "error: '10.0.0.999' is not a valid IPv4 address"
expect_rc "unknown set" 1 "$WEIR" set add --dev "$DEV" blokced 192.0.2.9 --color never
expect_out "unknown set message" "error: policy 'cli-sets' on '$DEV' has no set named 'blokced'"
expect_out "unknown set lists sets" "its sets: blocked, protos, svc"
expect_rc "del missing element" 1 "$WEIR" set del --dev "$DEV" blocked 192.0.2.1 192.0.2.77 --color never
expect_out "not in set" "error: '192.0.2.77' is not in set 'blocked'"
expect_rc "del" 0 "$WEIR" set del --dev "$DEV" blocked 192.0.2.1
expect_out "del summary" "1 element removed from set 'blocked' on '$DEV': 1 entry deleted"
expect_rc "add without elements" 2 "$WEIR" set add --dev "$DEV" blocked
expect_rc "flush with elements" 2 "$WEIR" set flush --dev "$DEV" blocked 1.2.3.4
expect_rc "proto names" 0 "$WEIR" set add --dev "$DEV" protos udp 6
expect_rc "proto list" 0 "$WEIR" set list --dev "$DEV" protos
expect_out "proto tcp by name" "tcp"
expect_out "proto udp by name" "udp"
expect_rc "flush" 0 "$WEIR" set flush --dev "$DEV" protos
expect_out "flush summary" "set 'protos' on '$DEV' emptied: 3 entries deleted"
expect_rc "status --json records the edits" 0 "$WEIR" status --dev "$DEV" --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); s={x["name"]+x["kind"]:x for x in j[0]["sets"]}; assert s["blockedv4"]["live_edits"]==2 and s["protosproto"]["live_edits"]==2, s' "$TMP/out" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: status live_edits"; sed 's/^/    /' "$TMP/out" | head; }

# Not privileged.
if command -v setpriv >/dev/null; then
    expect_rc "set unprivileged" 2 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
        "$WEIR" set list --dev "$DEV" blocked
    expect_out "set unprivileged message" "not privileged"
    expect_rc "stats unprivileged" 2 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
        "$WEIR" stats --dev "$DEV"
    expect_out "stats unprivileged message" "not privileged"
fi

# Stats.
expect_rc "stats" 0 "$WEIR" stats --dev "$DEV"
expect_out "stats header" "$DEV: policy 'cli-sets'"
expect_out "stats columns" "rule       action  packets  bytes"
expect_out "stats default row" "(default)  pass"
expect_out "stats verdicts" "verdicts: pass"
awk '/ ssh /{a=NR} / web /{b=NR} / pr /{c=NR} END{exit !(a && a<b && b<c)}' "$TMP/out" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: stats rules in policy order"; }
expect_rc "stats every interface" 0 "$WEIR" stats
expect_out "stats lists the device" "$DEV: policy 'cli-sets'"
expect_rc "stats --json" 0 "$WEIR" stats --dev "$DEV" --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert [r["rule"] for r in j[0]["rules"]]==["ssh","web","bad","svc","pr"] and "malformed" in j[0], j' "$TMP/out" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: stats --json"; sed 's/^/    /' "$TMP/out" | head; }
# Rounds are due every 0.2 s from the start: after a late one the next comes sooner, so the
# interval is only known to be positive.
expect_rc "stats --watch --count" 0 timeout 60 "$WEIR" stats --dev "$DEV" --json --watch 0.2 --count 3
python3 -c '
import json,sys
lines=open(sys.argv[1]).read().splitlines()
assert len(lines)==3, lines
for i,l in enumerate(lines):
    j=json.loads(l); assert j["round"]==i+1 and j["interfaces"][0]["interval"]>0 and "pps" in j["interfaces"][0]["rules"][0], j
    # --watch holds the run-time statistics on from before its first reading: every round has a rate
    p=j["interfaces"][0]["program"]; assert p["statistics"] and p["pps"] is not None and p["insns"]>0, p
' "$TMP/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: stats --watch json lines"; sed 's/^/    /' "$TMP/out" | head; }
expect_rc "stats --watch table" 0 timeout 60 "$WEIR" stats --dev "$DEV" --watch 0.2 --count 2
expect_out "rates columns" "pps"
expect_out "interval" "rates over"
# SIGTERM stops --watch cleanly (exit 0).
# Its own output file: $TMP/out still holds the previous command's rates, which the background
# shell truncates only once it runs.
"$WEIR" stats --dev "$DEV" --watch 0.2 >"$TMP/watch-out" 2>&1 &
pid=$!
# Once it printed a table of rates (its second reading), so the signal comes while it watches.
wait_until 30 grep -q "rates over" "$TMP/watch-out" || bad "stats --watch printed no rates in 30 s"
kill -TERM "$pid"
wait "$pid"
rc=$?
if [[ $rc -eq 0 ]] && grep -q "rates over" "$TMP/watch-out"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: --watch on SIGTERM: exit $rc"; fi
expect_rc "watch must be positive" 2 "$WEIR" stats --watch 0

echo "sets_stats_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
