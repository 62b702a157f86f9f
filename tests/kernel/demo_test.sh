#!/usr/bin/env bash
# ctest `demo`: runs `weir demo` for 4 s and checks its exit status, its key output lines and
# that it removed everything it made; then interrupts a run with SIGINT and checks the cleanup.
# Usage: demo_test.sh WEIR REPO_ROOT. Exit 77 (skipped) when not root.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"  # wait_until
weir=$1
root=$2
((EUID == 0)) || { echo "demo_test: needs root, skipped"; exit 77; }
cd "$root"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail=0
bad() { echo "demo_test: FAIL: $*" >&2; fail=1; }
expect() { grep -Eq -- "$1" "$out" || bad "no line matching '$1'"; }
leftovers() {  # the demo's names: netns weirt-PID-N, veth wtPID.Nh, pins under that name
  local pid=$1
  ip netns list | grep -q "^weirt-$pid-" && bad "namespace weirt-$pid-* left behind"
  ip -o link show | grep -q " wt$pid\." && bad "veth wt$pid.* left behind"
  ls /sys/fs/bpf/weir 2>/dev/null | grep -Eq "^wt$pid(\.|%2e)" && bad "pins of wt$pid.* left behind"
  return 0
}

# 1. A whole short run.
"$weir" demo --seconds 4 >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
cat "$out"
((rc == 0)) || bad "weir demo exited $rc"
expect '^  attached demo-gateway to wt[0-9]+\.[0-9]+h \(native XDP\)'
expect '^    swap +[0-9.]+ ms'
expect '^  swapped demo-gateway -> demo-gateway-strict in [0-9.]+ ms \(link update [0-9.]+ ms'
expect '^  t=[0-9]+s  demo-gateway-strict  [0-9,]+ packets, [0-9.]+ Mpps'
expect '^    syn-flood +drop +[0-9,]+'
expect 'check: sent == counted \(sum of verdict counters\): [0-9,]+ == [0-9,]+  OK'
expect 'check: SYNs sent == rule .new-conns. .*  OK'
expect '^weir demo: all checks passed'
expect '^cleanup: unloaded the policy \(link and pins\), deleted namespace weirt-'
leftovers $pid

# 2. Ctrl-C in the middle of the flood: exit 130, everything removed. The output file is emptied
# first: the background job truncates it only once it runs, and a poll that still saw run 1's
# lines sent SIGINT before weir's handler existed (a background job of a script ignores SIGINT).
: >"$out"
"$weir" demo --seconds 20 >"$out" 2>&1 &
pid=$!
# Interrupt once the flood runs (its first per-second line); 60 s only bounds a failure.
wait_until 60 grep -q '^  t=' "$out" || bad "no flood line after 60 s"
kill -INT $pid
wait $pid
rc=$?
cat "$out"
((rc == 130)) || bad "weir demo after SIGINT exited $rc, not 130"
expect '^interrupted \(signal 2\)'
expect '^cleanup: unloaded the policy \(link and pins\), deleted namespace weirt-'
leftovers $pid

((fail == 0)) && echo "demo_test: ok"
exit $fail
