#!/usr/bin/env bash
# End-to-end tests of weir load / status / unload on a private veth pair (root only; exit 77,
# ctest's skip, otherwise): output, exit codes, a refusal per environment problem, a failing
# policy per step, and `kill -9` of `weir load` after every step of a swap (WEIR_INJECT_KILL).
# Usage: attach_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
WEIR=$1
ROOT=$2
cd "$ROOT"
if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null; then
    echo "SKIP: needs root and iproute2"
    exit 77
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TMP=$(mktemp -d)
veth_under_test wa$$a wa$$b
passed=0 failed=0

cat >"$TMP/a.weir" <<'P'
policy cli-a default pass {
    ssh: drop if tcp.dport == 22
}
test "ssh" {
    packet tcp 198.51.100.1:1000 -> 192.0.2.1:22 flags syn
    expect drop by ssh
}
P
cat >"$TMP/b.weir" <<'P'
policy cli-b default pass {
    telnet: drop if tcp.dport == 23
}
test "telnet" {
    packet tcp 198.51.100.1:1000 -> 192.0.2.1:23 flags syn
    expect drop by telnet
}
P
sed 's/expect drop by telnet/expect pass/' "$TMP/b.weir" >"$TMP/badtest.weir"
sed 's/tcp.dport == 23/tcp.dprot == 23/' "$TMP/b.weir" >"$TMP/badcompile.weir"

expect_rc "status of every interface" 0 "$WEIR" status
expect_rc "status of an interface without weir" 2 "$WEIR" status --dev lo
expect_out "no policy message" "weir status: no weir policy on 'lo'"
expect_rc "unknown interface" 2 "$WEIR" load "$TMP/a.weir" --dev weir-nosuch0
expect_out "unknown interface message" "weir load: no interface named 'weir-nosuch0'"

expect_rc "first load" 0 "$WEIR" load "$TMP/a.weir" --dev "$DEV"
for step in compile verify self-test prepare attach; do expect_out "first load prints $step" "  $step "; done
expect_out "self-test probes" "1 probes"
expect_out "load summary" "weir load: policy 'cli-a' attached to '$DEV'"
expect_rc "status" 0 "$WEIR" status --dev "$DEV"
expect_out "status names the policy" "$DEV: policy 'cli-a' enforcing (native"
expect_out "status shows the source" "source $TMP/a.weir"
expect_rc "status --json" 0 "$WEIR" status --json --dev "$DEV"
expect_out "json policy" '"policy": "cli-a"'
expect_out "json swaps" '"swaps": 0'

expect_rc "dry run" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV" --dry-run
expect_out "dry run says so" "dry run: policy 'cli-b' would replace 'cli-a'"
expect_rc "a policy that does not compile" 1 "$WEIR" load "$TMP/badcompile.weir" --dev "$DEV"
expect_out "compile failure named" "weir load: compile failed"
WEIR_INJECT_UNVERIFIABLE_RULE=telnet expect_rc "a policy that fails verification" 1 "$WEIR" load "$TMP/b.weir" --dev "$DEV"
expect_out "verify failure named" "weir load: verify failed"
expect_rc "a policy whose tests fail" 1 "$WEIR" load "$TMP/badtest.weir" --dev "$DEV"
expect_out "self-test failure named" "weir load: self-test failed (1 of 1 probes): the running policy 'cli-a' is untouched"
expect_rc "still a after failures" 0 "$WEIR" status --json --dev "$DEV"
expect_out "still a" '"policy": "cli-a"'
expect_out "no swap happened" '"swaps": 0'

expect_rc "hot swap" 0 "$WEIR" load "$TMP/b.weir" --dev "$DEV"
expect_out "swap step" "  swap "
expect_out "swap summary" "weir load: policy 'cli-b' replaced 'cli-a'"
expect_rc "status after swap" 0 "$WEIR" status --json --dev "$DEV"
expect_out "swapped" '"swaps": 1'

# kill -9 after every step of a swap from cli-a to cli-b: exactly one policy enforcing (cli-a
# before the link update, cli-b from then on), and the next load works.
after_swap=0
for point in after-compile after-verify after-selftest after-pending after-prepare \
             after-link-update after-pin after-cleanup after-meta; do
    [[ $point == after-link-update ]] && after_swap=1
    expect_rc "reset before $point" 0 "$WEIR" load "$TMP/a.weir" --dev "$DEV"
    WEIR_INJECT_KILL=$point sh -c '"$0" load "$1" --dev "$2"; echo "rc=$?"' "$WEIR" "$TMP/b.weir" "$DEV" \
        >"$TMP/out" 2>&1
    if grep -q "rc=137" "$TMP/out"; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: kill at $point: not killed"; cat "$TMP/out"; fi
    expect_rc "status after kill at $point" 0 "$WEIR" status --json --dev "$DEV"
    if [[ $after_swap -eq 1 ]]; then expected=cli-b; else expected=cli-a; fi
    expect_out "policy after kill at $point" "\"policy\": \"$expected\""
    expect_out "enforcing after kill at $point" '"enforcing": true'
done

expect_rc "unload" 0 "$WEIR" unload --dev "$DEV"
expect_out "unload names the policy" "removed from '$DEV'"
expect_rc "unload again" 2 "$WEIR" unload --dev "$DEV"
expect_out "nothing to unload" "no weir policy on '$DEV'"

expect_rc "pin root not on bpffs" 2 env WEIR_PIN_ROOT="$TMP/pins/weir" "$WEIR" load "$TMP/a.weir" --dev "$DEV"
expect_out "bpffs message" "is not on a bpf filesystem"

# A pin root or lock folder that another user owns, or that others may write, is refused: it
# could have pins moved out of it or planted in it. Nothing is attached.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
FOREIGN=/sys/fs/bpf/weir-foreign-$$
mkdir -m 700 "$FOREIGN" && chown 65534 "$FOREIGN"
expect_rc "a pin root owned by another user" 2 env WEIR_PIN_ROOT="$FOREIGN" "$WEIR" load "$TMP/a.weir" --dev "$DEV"
expect_out "names the owner" "the pin root '$FOREIGN' is owned by uid 65534, not 0"
chown 0 "$FOREIGN" && chmod 1777 "$FOREIGN"
expect_rc "a pin root others may write" 2 env WEIR_PIN_ROOT="$FOREIGN" "$WEIR" load "$TMP/a.weir" --dev "$DEV"
expect_out "names the mode" "the pin root '$FOREIGN' is writable by its group or others (mode 1777)"
rmdir "$FOREIGN"
ln -s /sys/fs/bpf "$FOREIGN"
expect_rc "a pin root that is a symlink" 2 env WEIR_PIN_ROOT="$FOREIGN" "$WEIR" load "$TMP/a.weir" --dev "$DEV"
expect_out "says so" "the pin root '$FOREIGN' is a symbolic link"
rm "$FOREIGN"
mkdir -m 777 "$TMP/run"
expect_rc "a lock folder others may write" 2 env WEIR_RUN_DIR="$TMP/run" "$WEIR" load "$TMP/a.weir" --dev "$DEV"
expect_out "names it" "the lock folder '$TMP/run' is writable by its group or others (mode 0777)"
expect_rc "nothing was attached" 2 "$WEIR" unload --dev "$DEV"

if command -v setpriv >/dev/null; then
    nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
    expect_rc "load without privileges" 2 "${nobody[@]}" "$WEIR" load "$TMP/a.weir" --dev "$DEV"
    expect_out "not privileged" "weir load: not privileged"
    expect_rc "status without privileges" 2 "${nobody[@]}" "$WEIR" status
    expect_out "status not privileged" "weir status: not privileged"
fi

echo "attach_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
