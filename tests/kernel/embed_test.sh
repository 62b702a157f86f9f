#!/usr/bin/env bash
# The embedding example (examples/embed, docs/embedding.md) on a private veth pair: compile from
# strings, attach, hot swap, live set edits, counters, unload, through include/weir/weir.hpp only.
# Root only (exit 77, ctest's skip, otherwise). Pins and locks go to private directories
# ($WEIR_PIN_ROOT, $WEIR_RUN_DIR) so it runs beside other tests.
# Usage: embed_test.sh EXAMPLE_BINARY
set -uo pipefail
EXAMPLE=$1
if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null; then
    echo "SKIP: needs root and iproute2"
    exit 77
fi
TMP=$(mktemp -d)
DEV=wte$$a PEER=wte$$b
export WEIR_PIN_ROOT=/sys/fs/bpf/weir-embed-$$ WEIR_RUN_DIR=$TMP/run
cleanup() {
    ip link del "$DEV" 2>/dev/null
    rm -rf "$WEIR_PIN_ROOT" "$TMP"
}
trap cleanup EXIT
mkdir -p /sys/fs/bpf
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || exit 1
ip link add "$DEV" type veth peer name "$PEER" || exit 1
ip link set "$DEV" up && ip link set "$PEER" up
passed=0 failed=0

check() {  # check NAME PATTERN: the last run's output has a line matching the ERE
    if grep -qE -- "$2" "$TMP/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1: output lacks /$2/"
    fi
}

for mode in generic native; do
    "$EXAMPLE" "$DEV" "$mode" >"$TMP/out" 2>&1
    rc=$?
    if [[ $rc -eq 0 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $mode: exit $rc"; fi
    check "$mode broken diag" '^broken: broken\.weir:2:[0-9]+: error \[[a-z-]+\] '
    check "$mode broken ok" '^broken: ok=0 errors=[1-9]'
    check "$mode refused" "^broken: attach refused at step 'compile'"
    check "$mode attach" "^attached embed-a to $DEV \\($mode, prog [1-9][0-9]*, 1 self-test probes"
    check "$mode swap step" '^  step swap [0-9.]+ ms'
    check "$mode swapped" '^swapped embed-a -> embed-b \(hot_swap=1, swap [0-9.]+ ms'
    check "$mode set add" '^set add: 2 written'
    check "$mode bad element" '^set add bad: ok=0 diagnostics=[1-9][0-9]* first=\[[a-z-]+\]'
    check "$mode set list" '^set blocked \(ip\): 192\.0\.2\.0/28 198\.51\.100\.7 203\.0\.113\.0/24$'
    check "$mode status" "^status: embed-b enforcing=1 swaps=1 source=embed-b\\.weir$"
    check "$mode counters" "^counters of embed-b on $DEV:"
    # This script sends no traffic, and what the kernel itself may send on the link (IPv6
    # link-local, no TCP) matches no rule of embed-b: every rule and the drop verdict stay at 0
    # (the self-test probes, run before the swap, are not counted).
    check "$mode rule blocked" '^  rule blocked \(drop\): 0 packets, 0 bytes$'
    check "$mode rule telnet" '^  rule telnet \(drop\): 0 packets, 0 bytes$'
    check "$mode rule web" '^  rule web \(count\): 0 packets, 0 bytes$'
    check "$mode verdicts" '^  verdict drop: 0$'
    check "$mode no errors" '^  verdict aborted: 0$'
    order=$(grep -oE '^  rule [a-z]+' "$TMP/out" | awk '{printf "%s ", $2}')
    if [[ $order == "blocked telnet web " ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); echo "FAIL: $mode: rules not in policy order: $order"
    fi
    check "$mode unloaded" "^unloaded $DEV$"
    check "$mode status after" '^after unload: status ok=0$'
    if [[ $failed -ne 0 ]]; then sed 's/^/    /' "$TMP/out"; break; fi
    # Nothing left behind: no XDP program on the interface, no pins.
    if ip link show "$DEV" | grep -q xdp || [[ -n $(ls -A "$WEIR_PIN_ROOT" 2>/dev/null) ]]; then
        failed=$((failed + 1)); echo "FAIL: $mode: state left after unload"
    else
        passed=$((passed + 1))
    fi
done

# A bad interface: exit 2 (environment), the failed step named.
"$EXAMPLE" wte$$none generic >"$TMP/out" 2>&1
rc=$?
if [[ $rc -eq 2 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: no such interface: exit $rc"; fi
check "no such interface" "^embed: attach failed at step '[a-z-]+': .*wte$$none"

echo "embed: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
