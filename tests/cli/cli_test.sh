#!/usr/bin/env bash
# End-to-end tests of the weir command line: exit codes, output formats, and the repository's
# own policies (every example and standard rule file checks clean and is formatted).
# Usage: cli_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
WEIR=$1
ROOT=$2
cd "$ROOT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0 failed=0

# expect_rc NAME WANT_RC CMD...: runs CMD, compares its exit code, keeps its output in $TMP/out.
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

expect_rc "examples and rules check clean" 0 "$WEIR" check --werror examples/*.weir rules/std/*.weir
expect_out "check prints a summary per file" "examples/edge.weir: ok ("
expect_rc "examples and rules are formatted" 0 "$WEIR" fmt --check examples/*.weir rules/std/*.weir

expect_rc "an error exits 1" 1 "$WEIR" check tests/golden/unknown-field.weir
expect_out "error rendered with location" "tests/golden/unknown-field.weir:2:18: error: unknown field 'tcp.dprot'"
expect_out "error summary" "tests/golden/unknown-field.weir: 1 error, 0 warnings"

expect_rc "several files, each reported" 1 "$WEIR" check examples/edge.weir tests/golden/duplicate-rule.weir
expect_out "the clean file is reported ok" "examples/edge.weir: ok"
expect_out "the bad file is reported" "tests/golden/duplicate-rule.weir: 1 error"

expect_rc "warnings alone exit 0" 0 "$WEIR" check tests/golden/shadowed-rule.weir
expect_out "warning shown" "warning: rule 'web-alt' can never match"
expect_rc "--werror makes warnings fatal" 1 "$WEIR" check --werror tests/golden/shadowed-rule.weir
expect_out "--werror renders the warning as an error" "error: rule 'web-alt' can never match"

expect_rc "missing file exits 2" 2 "$WEIR" check "$TMP/no-such.weir"
expect_out "missing file message" "cannot read '$TMP/no-such.weir'"
expect_rc "unknown option exits 2" 2 "$WEIR" check --no-such-option examples/edge.weir

expect_rc "json format" 1 "$WEIR" check --format json tests/golden/shadowed-cidr.weir tests/golden/unknown-field.weir
expect_out "json code" '"code": "unknown-field"'
expect_out "json warning" '"severity": "warning"'
expect_out "json line" '"line": 2'
expect_out "json notes" '"notes": ['

# -I: an include found only through an extra folder.
mkdir -p "$TMP/lib"
printf 'const admin-port = 2222\n' >"$TMP/lib/ports.weir"
printf 'include "ports.weir"\npolicy p default drop {\n    ssh: pass if tcp.dport == $admin-port\n}\n' >"$TMP/main.weir"
expect_rc "include not found without -I" 1 "$WEIR" check "$TMP/main.weir"
expect_out "include error" "cannot find included file 'ports.weir'"
expect_rc "include found with -I" 0 "$WEIR" check -I "$TMP/lib" "$TMP/main.weir"

# fmt: print, --check, --write, syntax errors.
printf 'policy p default drop {\n  a: pass if tcp.dport==22   # ssh\n  bb: drop\n}\n' >"$TMP/messy.weir"
expect_rc "fmt --check on a messy file" 1 "$WEIR" fmt --check "$TMP/messy.weir"
expect_out "fmt --check names the file" "messy.weir: not formatted"
expect_rc "fmt prints" 0 "$WEIR" fmt "$TMP/messy.weir"
expect_out "fmt aligns and spaces" "    a:  pass if tcp.dport == 22  # ssh"
expect_rc "fmt --write" 0 "$WEIR" fmt --write "$TMP/messy.weir"
expect_rc "fmt --check after --write" 0 "$WEIR" fmt --check "$TMP/messy.weir"
expect_rc "fmt of a syntax error exits 1" 1 "$WEIR" fmt tests/golden/syntax-missing-action.weir
expect_out "fmt reports the syntax error" "syntax-missing-action.weir:2:10: error: expected an action"

# compile --emit checked: same program for two spellings.
printf 'policy p default pass {\n    r: drop if tcp.dport == 0x16 and icmp.type == 8\n}\n' >"$TMP/a.weir"
printf 'policy p default pass {\n    r: drop if tcp.dport == 22 and icmp.type == echo-request\n}\n' >"$TMP/b.weir"
expect_rc "compile a" 0 "$WEIR" compile "$TMP/a.weir" --emit checked -o "$TMP/a.out"
expect_rc "compile b" 0 "$WEIR" compile "$TMP/b.weir" --emit checked -o "$TMP/b.out"
expect_rc "same checked program" 0 cmp "$TMP/a.out" "$TMP/b.out"
expect_rc "compile of a bad file exits 1" 1 "$WEIR" compile tests/golden/unknown-field.weir --emit checked
expect_rc "compile of an unknown policy exits 2" 2 "$WEIR" compile examples/edge.weir --policy nope --emit checked

# fields: the Markdown table is the one in docs/language.md.
expect_rc "fields --markdown" 0 "$WEIR" fields --markdown
cp "$TMP/out" "$TMP/fields.md"
while IFS= read -r line; do
    if grep -qxF -- "$line" docs/language.md; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: docs/language.md lacks the field table line: $line"
    fi
done <"$TMP/fields.md"

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
