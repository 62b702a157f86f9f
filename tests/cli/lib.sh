# Shared by the CLI end-to-end scripts: checks that count into $passed / $failed and keep the
# last command's output in $TMP/out (the caller creates $TMP and sets passed=0 failed=0).

# expect_rc NAME WANT_RC CMD...: runs CMD and compares its exit code.
expect_rc() {
    local name=$1 want=$2
    shift 2
    "$@" >"$TMP/out" 2>&1
    local rc=$?
    if [[ $rc -eq $want ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name: exit $rc, wanted $want: $*"
        sed 's/^/    /' "$TMP/out" | head -20
    fi
}

# expect_out NAME PATTERN: the last command's output contains PATTERN (fixed string).
expect_out() {
    if grep -qF -- "$2" "$TMP/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1: output lacks '$2'"
        sed 's/^/    /' "$TMP/out" | head -20
    fi
}

# veth_under_test DEV PEER: a veth pair, both ends up; on exit, weir's policy on DEV is unloaded,
# the pair deleted and $TMP removed.
veth_under_test() {
    DEV=$1 PEER=$2
    trap '"$WEIR" unload --dev "$DEV" >/dev/null 2>&1; ip link del "$DEV" 2>/dev/null; rm -rf "$TMP"' EXIT
    ip link add "$DEV" type veth peer name "$PEER" || exit 1
    ip link set "$DEV" up && ip link set "$PEER" up
}
