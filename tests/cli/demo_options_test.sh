#!/usr/bin/env bash
# weir demo's options besides --seconds (tests/kernel/demo_test.sh runs the default demo):
# --policy and --strict name the two files, --swap-at places the swap, --rate paces the flood;
# bad values are usage errors. Root only (exit 77, ctest's skip, otherwise); the demo builds and
# removes its own namespace and veth pair (198.18.0.0/15, 2001:2::/48).
# Usage: demo_options_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
trap 'rm -rf "$TMP"' EXIT

expect_rc "--swap-at after the end" 2 "$WEIR" demo --seconds 2 --swap-at 3
expect_out "says why" "--swap-at 3 is not before the end of the traffic (--seconds 2)"
expect_rc "--seconds out of range" 2 "$WEIR" demo --seconds 0
expect_rc "a missing --policy file" 2 "$WEIR" demo --seconds 2 --policy "$TMP/none.weir"
expect_out "names the file" "weir demo: cannot read '$TMP/none.weir'"
expect_rc "a missing --strict file" 2 "$WEIR" demo --seconds 2 --strict "$TMP/none.weir"
expect_out "names it" "weir demo: cannot read '$TMP/none.weir'"
cp examples/demo-gateway.weir "$TMP/first.weir"
cp examples/demo-gateway-strict.weir "$TMP/second.weir"
expect_rc "demo with every option" 0 "$WEIR" demo --seconds 3 --swap-at 1.5 --rate 20000 \
    --policy "$TMP/first.weir" --strict "$TMP/second.weir"
expect_out "the header names both files and the swap time" "weir demo: $TMP/first.weir, then $TMP/second.weir at 1.5 s, 3 s of traffic"
expect_out "the swap at 1.5 s" "t=1.5s  hot swap to $TMP/second.weir, under load:"
expect_out "checks passed" "weir demo: all checks passed"

echo "demo options: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
