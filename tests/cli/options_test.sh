#!/usr/bin/env bash
# Options of the front-end commands that no other script passes (no root needed): compile
# --plan auto|linear on a policy the planner classifies; -I for compile and test; --color
# always|never|auto and NO_COLOR for check, fmt, compile and test (auto on a pseudo-terminal,
# made with python3's pty); check --format text is the default; compile --emit obj refuses a
# terminal and -o - is standard output; test --policy without --pcap is a usage error.
# Usage: options_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
# The color cases set NO_COLOR themselves; the caller's (CI exports NO_COLOR=1) must not decide.
unset NO_COLOR CLICOLOR_FORCE
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_cli_test "$@"

ESC=$'\033['
# expect_color NAME / expect_no_color NAME: the last output has (no) ANSI escape sequences.
expect_color() { if grep -qF "$ESC" "$TMP/out"; then ok; else bad "$1: no color in:"; sed 's/^/    /' "$TMP/out" | head -5; fi; }
expect_no_color() { if grep -qF "$ESC" "$TMP/out"; then bad "$1: colored output"; else ok; fi; }
# on_tty CMD...: runs CMD with stdout and stderr on a pseudo-terminal (isatty true), output into
# $TMP/out, returns its exit code.
on_tty() {
    python3 - "$@" >"$TMP/out" <<'PY'
import os, pty, subprocess, sys
master, slave = os.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the child closed the terminal
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
sys.exit(p.wait())
PY
}

# ---- compile --plan ----
# 64 single-port rules: the planner puts them through a classifier tree; --plan linear does not.
{
    echo "policy many default pass {"
    for i in $(seq 1 64); do echo "    r$i: drop if tcp.dport == $((1000 + i))"; done
    echo "}"
} >"$TMP/many.weir"
expect_rc "compile --plan auto" 0 "$WEIR" compile "$TMP/many.weir" --plan auto --emit plan
expect_out "auto classifies a long run of rules" "policy many: strategy classifier"
expect_rc "compile without --plan" 0 "$WEIR" compile "$TMP/many.weir" --emit plan -o "$TMP/default.plan"
expect_rc "auto is the default" 0 cmp "$TMP/default.plan" <("$WEIR" compile "$TMP/many.weir" --plan auto --emit plan)
expect_rc "compile --plan linear" 0 "$WEIR" compile "$TMP/many.weir" --plan linear --emit plan
expect_out "linear keeps every rule as code" "policy many: strategy linear"
if grep -q "classifier" "$TMP/out"; then bad "--plan linear still lists a classifier group"; else ok; fi
expect_rc "linear IR" 0 "$WEIR" compile "$TMP/many.weir" --plan linear --emit ir -o "$TMP/linear.ll"
expect_rc "auto IR" 0 "$WEIR" compile "$TMP/many.weir" --plan auto --emit ir -o "$TMP/auto.ll"
if cmp -s "$TMP/linear.ll" "$TMP/auto.ll"; then bad "--plan linear compiles to the same program as auto"; else ok; fi
# An object is not written to a terminal (-o or a redirect), but "-o -" is standard output.
expect_rc "compile --emit obj to a terminal" 2 on_tty "$WEIR" compile "$TMP/many.weir" --emit obj
expect_out "says why" "not writing a binary object to a terminal"
expect_rc "compile -o -" 0 "$WEIR" compile "$TMP/many.weir" --plan linear --emit plan -o -
expect_out "-o - is standard output" "policy many: strategy linear"
expect_rc "an unknown plan is a usage error" 2 "$WEIR" compile "$TMP/many.weir" --plan fastest --emit plan

# ---- -I for compile and test ----
mkdir -p "$TMP/lib"
printf 'const admin-port = 2222\n' >"$TMP/lib/ports.weir"
cat >"$TMP/inc.weir" <<'WEIR'
include "ports.weir"

policy p default drop {
    ssh: pass if tcp.dport == $admin-port
}

test "admin port" {
    packet tcp 198.18.0.2:40000 -> 198.18.0.1:2222
    expect pass by ssh
}
WEIR
expect_rc "compile without -I" 1 "$WEIR" compile "$TMP/inc.weir" --emit checked
expect_out "compile names the missing include" "cannot find included file 'ports.weir'"
expect_rc "compile -I" 0 "$WEIR" compile -I "$TMP/lib" "$TMP/inc.weir" --emit checked
expect_out "the included constant is inlined" "2222"
expect_rc "compile --include-dir" 0 "$WEIR" compile --include-dir "$TMP/lib" "$TMP/inc.weir" --emit plan
expect_rc "test without -I" 1 "$WEIR" test --interp "$TMP/inc.weir"
expect_rc "test -I" 0 "$WEIR" test --interp -I "$TMP/lib" "$TMP/inc.weir"
expect_out "the test ran" "PASS admin port"
expect_rc "check --include-dir" 0 "$WEIR" check --include-dir "$TMP/lib" "$TMP/inc.weir"
expect_rc "fmt takes no -I (it resolves no include)" 2 "$WEIR" fmt -I "$TMP/lib" "$TMP/inc.weir"

# ---- --color and NO_COLOR ----
BAD=tests/golden/unknown-field.weir
SYNTAX=tests/golden/syntax-missing-action.weir
printf 'policy p default pass {\n    r: drop if tcp.dport == 22\n}\ntest "t" {\n    packet tcp 198.18.0.2:1 -> 198.18.0.1:22\n    expect pass\n}\n' >"$TMP/failtest.weir"
expect_rc "check --color always" 1 "$WEIR" check --color always "$BAD"
expect_color "check --color always"
expect_out "the message is still there" "unknown field 'tcp.dprot'"
expect_rc "check --color never" 1 "$WEIR" check --color never "$BAD"
expect_no_color "check --color never"
expect_rc "check --color auto, not a terminal" 1 "$WEIR" check --color auto "$BAD"
expect_no_color "check --color auto into a file"
expect_rc "check --color auto on a terminal" 1 on_tty "$WEIR" check --color auto "$BAD"
expect_color "check --color auto on a terminal"
expect_rc "check on a terminal, auto by default" 1 on_tty "$WEIR" check "$BAD"
expect_color "check on a terminal by default"
expect_rc "NO_COLOR on a terminal" 1 on_tty env NO_COLOR=1 "$WEIR" check --color auto "$BAD"
expect_no_color "NO_COLOR=1 turns auto off"
expect_out "NO_COLOR keeps the message" "unknown field 'tcp.dprot'"
expect_rc "NO_COLOR empty on a terminal" 1 on_tty env NO_COLOR= "$WEIR" check "$BAD"
expect_color "an empty NO_COLOR is not set (no-color.org)"
expect_rc "--color always beats NO_COLOR" 1 env NO_COLOR=1 "$WEIR" check --color always "$BAD"
expect_color "--color always with NO_COLOR"
expect_rc "--color never on a terminal" 1 on_tty "$WEIR" check --color never "$BAD"
expect_no_color "--color never on a terminal"
expect_rc "an unknown color mode" 2 "$WEIR" check --color sometimes "$BAD"

expect_rc "fmt --color always" 1 "$WEIR" fmt --color always "$SYNTAX"
expect_color "fmt --color always"
expect_rc "fmt --color never" 1 "$WEIR" fmt --color never "$SYNTAX"
expect_no_color "fmt --color never"
expect_rc "fmt --color auto on a terminal" 1 on_tty "$WEIR" fmt --color auto "$SYNTAX"
expect_color "fmt --color auto on a terminal"

expect_rc "compile --color always" 1 "$WEIR" compile --color always "$BAD" --emit checked
expect_color "compile --color always"
expect_rc "compile --color never" 1 "$WEIR" compile --color never "$BAD" --emit checked
expect_no_color "compile --color never"
expect_rc "compile --color auto on a terminal" 1 on_tty "$WEIR" compile --color auto "$BAD" --emit checked
expect_color "compile --color auto on a terminal"

expect_rc "test --color always" 1 "$WEIR" test --interp --color always "$BAD"
expect_color "test --color always"
expect_rc "test --color never" 1 "$WEIR" test --interp --color never "$BAD"
expect_no_color "test --color never"
expect_rc "test --color auto on a terminal" 1 on_tty "$WEIR" test --interp --color auto "$BAD"
expect_color "test --color auto on a terminal"
expect_rc "test --color auto into a file" 1 "$WEIR" test --interp --color auto "$TMP/failtest.weir"
expect_no_color "test --color auto into a file"

# ---- check --format text is the default ----
expect_rc "check --format text" 1 "$WEIR" check --format text --color never "$BAD"
cp "$TMP/out" "$TMP/text.out"
expect_out "text, not JSON" "$BAD:2:18: error: unknown field 'tcp.dprot'"
expect_rc "check, default format" 1 "$WEIR" check --color never "$BAD"
cp "$TMP/out" "$TMP/default.out"
expect_rc "--format text is the default" 0 cmp "$TMP/text.out" "$TMP/default.out"

# ---- test --policy needs --pcap ----
expect_rc "test --policy without --pcap" 2 "$WEIR" test --interp --policy p "$TMP/failtest.weir"
expect_out "names the missing option" "--pcap"

echo "cli options: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
