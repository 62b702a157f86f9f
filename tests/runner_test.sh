#!/usr/bin/env bash
# The test runner's own rules (tests/support/test_runner.*): a ctest entry whose filter matches
# no doctest case fails, and a case that cannot run here exits 77 (skipped), never 0.
# Usage: runner_test.sh UNIT_TEST_BINARY KERNEL_TEST_BINARY
set -uo pipefail
unit=$1 kernel=$2
failed=0
check() {  # check NAME WANT_RC CMD...
  local name=$1 want=$2
  shift 2
  "$@" >/dev/null 2>&1
  local rc=$?
  if ((rc == want)); then echo "ok: $name"; else echo "FAIL: $name: exit $rc, wanted $want"; failed=1; fi
}
check "a filter that matches no case fails" 1 "$unit" --test-case='no such case; none at all'
check "a filter that matches a case passes" 0 "$unit" --test-case='the reference policy parses'
check "listing exits 0" 0 "$unit" --list-test-cases
if command -v setpriv >/dev/null && [[ $(id -u) -eq 0 ]]; then
  nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
  # The binaries live in the build tree, which uid 65534 may not be able to read: run copies.
  pub=$(mktemp -d /tmp/weir-runner.XXXXXX)
  trap 'rm -rf "$pub"' EXIT
  chmod 755 "$pub"
  cp "$kernel" "$pub/kernel" && chmod 755 "$pub/kernel"
  check "a kernel test without BPF is skipped" 77 "${nobody[@]}" "$pub/kernel" --test-case='*'
else
  echo "SKIP: the unprivileged check needs root and setpriv"
  ((failed)) && exit 1
  exit 77
fi
exit "$failed"
