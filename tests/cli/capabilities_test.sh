#!/usr/bin/env bash
# Least privilege (docs/security.md): with only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (root's uid,
# every other capability dropped from the bounding set, as deploy/weir.service does), weir loads,
# self-tests, pins, edits a set, reports status and stats, unloads, and `weir daemon --once`
# attaches; without CAP_NET_ADMIN or CAP_BPF the error names the missing capability and nothing
# is attached. A veth pair with its peer in a private namespace (198.19.0.0/16 only); root only.
# Usage: capabilities_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
command -v setpriv >/dev/null || { echo "SKIP: needs setpriv (util-linux)"; exit 77; }
peer_in_netns caps 198.19

# as CAPS CMD...: CMD with only CAPS (e.g. +bpf,+net_admin) in its bounding set.
as() {
    local caps=$1
    shift
    setpriv --bounding-set=-all,"$caps" --inh-caps=-all "$@"
}
LEAST=+bpf,+net_admin,+perfmon

cat >"$TMP/p.weir" <<'WEIR'
set blocked : ip4 = { 198.19.250.1 }

policy caps default pass {
    blocked: drop if ip4.src in @blocked
    probe:   count if udp.dport == 9999
}

test "blocked sources drop" {
    packet udp 198.19.250.1:1000 -> 198.19.0.1:53
    expect drop by blocked
}
WEIR

expect_rc "load with the three capabilities" 0 as $LEAST "$WEIR" load --dev "$DEV" "$TMP/p.weir"
expect_status "attached" "$DEV" policy caps
expect_rc "status" 0 as $LEAST "$WEIR" status --dev "$DEV"
expect_rc "set add" 0 as $LEAST "$WEIR" set add --dev "$DEV" blocked 198.19.250.2
expect_rc "set list" 0 as $LEAST "$WEIR" set list --dev "$DEV" blocked
expect_out "the added element" "198.19.250.2"
expect_rc "stats" 0 as $LEAST "$WEIR" stats --dev "$DEV"
expect_rc "hot swap" 0 as $LEAST "$WEIR" load --dev "$DEV" "$TMP/p.weir"
expect_rc "unload" 0 as $LEAST "$WEIR" unload --dev "$DEV"
[[ -z $(status_field "$DEV" policy) ]] && ok || bad "unload left a policy"

printf '{"listen": "off", "interfaces": [{"interface": "%s", "file": "%s"}]}\n' "$DEV" "$TMP/p.weir" >"$TMP/d.json"
expect_rc "daemon --once" 0 as $LEAST "$WEIR" daemon --config "$TMP/d.json" --once
expect_status "the daemon attached it" "$DEV" policy caps
expect_rc "unload after the daemon" 0 "$WEIR" unload --dev "$DEV"

expect_rc "load without CAP_NET_ADMIN" 2 as +bpf,+perfmon "$WEIR" load --dev "$DEV" "$TMP/p.weir"
expect_out "names it" "without CAP_NET_ADMIN"
expect_rc "load without CAP_BPF" 2 as +net_admin,+perfmon "$WEIR" load --dev "$DEV" "$TMP/p.weir"
expect_out "names it" "without CAP_BPF"
[[ -z $(status_field "$DEV" policy) ]] && ok || bad "a refused load attached something"
expect_rc "check needs no capability" 0 as -all "$WEIR" check "$TMP/p.weir"
expect_rc "test needs no capability" 0 as -all "$WEIR" test "$TMP/p.weir"

echo "capabilities: $passed passed, $failed failed"
((failed == 0))
