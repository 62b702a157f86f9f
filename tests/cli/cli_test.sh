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
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
passed=0 failed=0 skipped=0

# skip REASON: a group of checks that cannot run here; the script then exits 77 (skipped).
skip() {
    skipped=$((skipped + 1))
    echo "SKIP: $1"
}

expect_rc "--version" 0 "$WEIR" --version
expect_out "--version names the program" "weir "
expect_rc "examples and rules check clean" 0 "$WEIR" check --werror examples/*.weir rules/std/*.weir
expect_out "check prints a summary per file" "examples/edge.weir: ok ("
expect_rc "examples and rules are formatted" 0 "$WEIR" fmt --check examples/*.weir rules/std/*.weir
printf 'policy p default pass {\n    ssh: count if tcp.dport == 22\n}\n\nalert ssh-burst when rate(ssh) > 50/s severity warning "SSH burst"\n' >"$TMP/alert.weir"
expect_rc "a file with an alert checks" 0 "$WEIR" check "$TMP/alert.weir"
expect_out "the summary counts alerts" "ok (1 policy, 1 rule, 0 sets, 0 tests, 1 alert)"

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
# fmt --write through a symbolic link rewrites the link's target and keeps the link.
printf 'policy p default drop {\n  a: pass if tcp.dport==22\n}\n' >"$TMP/target.weir"
chmod 640 "$TMP/target.weir"
ln -s target.weir "$TMP/link.weir"
expect_rc "fmt --write on a symlink" 0 "$WEIR" fmt --write "$TMP/link.weir"
[[ -L "$TMP/link.weir" ]] && ok || bad "fmt --write replaced the symlink with a file"
expect_rc "the target is formatted" 0 "$WEIR" fmt --check "$TMP/target.weir"
[[ $(stat -c %a "$TMP/target.weir") == 640 ]] && ok || bad "fmt --write changed the mode to $(stat -c %a "$TMP/target.weir")"
ls -a "$TMP" | grep -q 'weir-' && bad "fmt --write left a temporary file" || ok
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

# ---- compile --emit: every stage ----
expect_rc "compile --emit ast" 0 "$WEIR" compile examples/edge.weir --emit ast
expect_out "ast: the policy node" "(policy edge (default drop) @13:1"
expect_out "ast: a rule with its condition" "(rule ssh-admin pass @18:5"
expect_out "ast: literals keep their lexical class" "(cmp == tcp.dport (const ssh)"
expect_rc "compile --emit ast of a file with semantic errors prints and exits 1" 1 \
    "$WEIR" compile tests/golden/unknown-field.weir --emit ast
expect_out "ast printed despite the error" "(cmp == tcp.dprot (int 22)"
expect_rc "compile --emit plan" 0 "$WEIR" compile examples/edge.weir --emit plan
expect_out "plan: strategy and rules" "policy edge: strategy linear"
expect_rc "compile --emit ir" 0 "$WEIR" compile examples/edge.weir --emit ir
expect_out "ir: the match function" "weir_match"
expect_rc "compile --emit asm" 0 "$WEIR" compile examples/edge.weir --emit asm
expect_out "asm: the XDP program" "weir_xdp"
expect_rc "compile --emit obj -o" 0 "$WEIR" compile examples/edge.weir --emit obj -o "$TMP/edge.o"
expect_rc "the object is an ELF file" 0 bash -c "head -c 4 '$TMP/edge.o' | grep -q ELF"
"$WEIR" compile examples/edge.weir --emit obj >"$TMP/edge-stdout.o" 2>"$TMP/out"
expect_rc "obj to a pipe is the same object" 0 cmp "$TMP/edge.o" "$TMP/edge-stdout.o"
printf 'policy a default pass {\n    r: drop\n}\npolicy b default drop {\n    r: pass\n}\n' >"$TMP/two.weir"
expect_rc "plan of a file with two policies needs --policy" 2 "$WEIR" compile "$TMP/two.weir" --emit plan
expect_out "names the choices" "has 2 policies (a, b): choose one with --policy NAME"
expect_rc "plan with --policy" 0 "$WEIR" compile "$TMP/two.weir" --policy b --emit plan
expect_out "plan of the chosen policy" "policy b: strategy linear"
expect_rc "unknown stage exits 2" 2 "$WEIR" compile examples/edge.weir --emit bytecode

# ---- test: every example's tests, in the interpreter (and the kernel below) ----
expect_rc "test --interp on the examples" 0 "$WEIR" test --interp examples/*.weir
expect_out "interpreter mode is announced" "weir test: using the interpreter: --interp given"
expect_out "tests pass" "PASS admins reach SSH, nobody else does"
expect_out "summary" " passed, 0 failed"

# A test that fails: expected/actual shown, exit 1.
cat >"$TMP/failing.weir" <<'WEIR'
policy p default drop {
    ssh:   drop if tcp.dport == 22
    web:   tx if tcp.dport == 80
    https: pass if tcp.dport == 443
}

test "ssh is dropped" {
    packet tcp 198.51.100.7:40000 -> 192.0.2.1:22 flags syn
    expect drop by ssh
}

test "wrong expectations" {
    packet tcp 198.51.100.7:40000 -> 192.0.2.1:22 flags syn
    expect drop by default
    packet tcp 198.51.100.7:40000 -> 192.0.2.1:80
    expect pass
}
WEIR
expect_rc "a failing test exits 1" 1 "$WEIR" test --interp "$TMP/failing.weir"
expect_out "passing test" "PASS ssh is dropped"
expect_out "failing test" "FAIL wrong expectations"
expect_out "probe location" "failing.weir:13:5: packet tcp 198.51.100.7:40000 -> 192.0.2.1:22 flags syn"
expect_out "expected" "expected: drop by default"
expect_out "actual" "actual:   drop by ssh"
expect_out "second probe actual" "actual:   tx by web"
expect_out "failing summary" "1 passed, 1 failed"
expect_rc "--json" 1 "$WEIR" test --interp --json "$TMP/failing.weir"
expect_out "json mode" '"mode": "interpreter"'
expect_out "json counts" '"failed": 1'
expect_out "json expected rule" '"rule": "default"'
cp "$TMP/out" "$TMP/test.json"
expect_rc "json is valid" 0 python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/test.json"
expect_rc "--kernel and --interp exclude each other" 2 "$WEIR" test --kernel --interp "$TMP/failing.weir"

# ---- test --pcap: a capture written here (classic pcap, little-endian) ----
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
# pcap_write FILE LINKTYPE HEXFRAME...
pcap_write() {
    local file=$1 link=$2 hex n
    shift 2
    {
        printf "$(le32 0xa1b2c3d4)\\x02\\x00\\x04\\x00$(le32 0)$(le32 0)$(le32 65535)$(le32 "$link")"
        for hex in "$@"; do
            n=$((${#hex} / 2))
            printf "$(le32 0)$(le32 0)$(le32 $n)$(le32 $n)"
            printf "$(sed 's/../\\x&/g' <<<"$hex")"
        done
    } >"$file"
}
ETH=020000000002020000000001
IP_TCP=0800450000280001000040060000c6336407c0000201
IP_UDP=08004500001c0001000040110000c6336407c0000201
TCP22=${ETH}${IP_TCP}9c40001600000001000000005002ffff00000000 # 54 bytes
TCP80=${ETH}${IP_TCP}9c40005000000001000000005002ffff00000000
UDP53=${ETH}${IP_UDP}9c40003500080000 # 42 bytes
pcap_write "$TMP/cap.pcap" 1 "$TCP22" "$TCP22" "$UDP53" "$TCP80" 0102
pcap_write "$TMP/sll.pcap" 113 "$TCP22"
cat >"$TMP/replay.weir" <<'WEIR'
policy p default pass {
    ssh:       drop if tcp.dport == 22
    dns-count: count if udp.dport == 53
    dns:       pass if udp.dport == 53
    web:       tx if tcp.dport == 8080
}
WEIR
cat >"$TMP/replay_check.py" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
p = j["policies"][0]
assert j["packets"] == 4 and j["skipped_short"] == 1, j
assert [(r["rule"], r["packets"], r["bytes"]) for r in p["rules"]] == \
    [("ssh", 2, 108), ("dns-count", 1, 42), ("dns", 1, 42), ("web", 0, 0)], p["rules"]
assert p["verdicts"]["drop"] == {"packets": 2, "bytes": 108}, p["verdicts"]
assert p["default"]["packets"] == 1, p["default"]
PY
# check_replay MODE: the capture's totals through replay.weir, as text and as JSON.
check_replay() {
    expect_rc "pcap $1" 0 "$WEIR" test "$1" "$TMP/replay.weir" --pcap "$TMP/cap.pcap"
    expect_out "pcap $1: packets" "cap.pcap: 4 packets, 1 shorter than 14 bytes skipped"
    expect_out "pcap $1: verdicts" "pass 2 (96 bytes)  drop 2 (108 bytes)  tx 0 (0 bytes)"
    expect_out "pcap $1: default" "default: 1 (54 bytes)  malformed: 0"
    [[ $1 == --kernel ]] && expect_out "pcap $1: error counter" "errors: 0"
    if grep -qE '^  ssh +2 +108$' "$TMP/out" && grep -qE '^  dns-count +1 +42$' "$TMP/out" &&
        grep -qE '^  dns +1 +42$' "$TMP/out" && grep -qE '^  web +0 +0$' "$TMP/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: pcap $1: per-rule hits"
        sed 's/^/    /' "$TMP/out"
    fi
    expect_rc "pcap $1 --json" 0 "$WEIR" test "$1" "$TMP/replay.weir" --pcap "$TMP/cap.pcap" --json
    cp "$TMP/out" "$TMP/replay.json"
    expect_rc "pcap $1 json totals" 0 python3 "$TMP/replay_check.py" "$TMP/replay.json"
}
check_replay --interp
expect_rc "a non-Ethernet capture is rejected" 2 "$WEIR" test --interp "$TMP/replay.weir" --pcap "$TMP/sll.pcap"
expect_out "link type named" "has link type LINUX_SLL (113); only Ethernet captures (EN10MB) can be replayed"
expect_rc "a missing capture exits 2" 2 "$WEIR" test --interp "$TMP/replay.weir" --pcap "$TMP/none.pcap"

# ---- the kernel: check --kernel, test --kernel (root only) ----
if [[ $(id -u) -eq 0 ]]; then
    expect_rc "check --kernel on the examples" 0 "$WEIR" check --kernel examples/*.weir
    expect_out "verified, with numbers" "examples/edge.weir: policy 'edge' verified: "
    expect_out "verified instruction count" " instructions verified, "
    expect_out "missing redirect interfaces are noted" "interface 'honey0' of rule 'honeypot' does not exist on this host"
    WEIR_INJECT_UNVERIFIABLE_RULE=ssh-admin expect_rc "a rule the verifier rejects" 1 "$WEIR" check --kernel examples/edge.weir
    expect_out "the error names the rule and its line" "examples/edge.weir:18:5: error: the kernel verifier rejected rule 'ssh-admin': invalid access to packet"
    expect_out "the log tail follows" "note: verifier log (last 20 lines):"
    expect_out "the log cites the rule's line" "@ edge.weir:18"
    WEIR_INJECT_UNVERIFIABLE_RULE=web expect_rc "verifier errors in json" 1 "$WEIR" check --kernel --format json examples/edge.weir
    expect_out "json code" '"code": "verifier-rejected"'
    expect_out "json line" '"line": 19'

    expect_rc "test --kernel on the examples" 0 "$WEIR" test --kernel examples/*.weir
    expect_out "kernel mode is announced" "weir test: using the kernel (BPF_PROG_TEST_RUN): --kernel given"
    expect_out "kernel summary" " passed, 0 failed"
    expect_rc "test defaults to the kernel as root" 0 "$WEIR" test examples/edge.weir
    expect_out "default mode says why" "using the kernel (BPF_PROG_TEST_RUN): this process can load BPF programs"
    expect_rc "a failing test in the kernel exits 1" 1 "$WEIR" test --kernel "$TMP/failing.weir"
    expect_out "kernel expected" "expected: drop by default"
    expect_out "kernel actual" "actual:   drop by ssh"
    expect_out "kernel failing summary" "1 passed, 1 failed"
    check_replay --kernel
    cat >"$TMP/iface.weir" <<'WEIR'
policy p default pass {
    from-lo: drop if pkt.iface == "lo"
}

test "a packet without an interface is not from the loopback" {
    packet tcp 198.51.100.7:40000 -> 192.0.2.1:22
    expect pass by default
}
WEIR
    expect_rc "a probe without iface matches no interface name, in the kernel too" 0 "$WEIR" test --kernel "$TMP/iface.weir"

    # Without privileges: says why, exits 2. The unprivileged user runs copies in a folder it can
    # read, since the checkout may not be readable to it.
    if ! command -v setpriv >/dev/null; then
        skip "unprivileged check/test --kernel: setpriv (util-linux) is not installed"
    else
        NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
        PUB=$(mktemp -d /tmp/weir-cli-nobody.XXXXXX)
        chmod 755 "$PUB"
        cp "$WEIR" "$PUB/weir" && cp examples/edge.weir examples/admins.txt "$PUB/" && chmod 755 "$PUB/weir" && chmod 644 "$PUB/edge.weir" "$PUB/admins.txt"
        if ! "${NOBODY[@]}" "$PUB/weir" --version >"$TMP/out" 2>&1; then
            skip "unprivileged check/test --kernel: uid 65534 cannot run weir: $(head -1 "$TMP/out")"
        else
            expect_rc "check --kernel unprivileged exits 2" 2 "${NOBODY[@]}" "$PUB/weir" check --kernel "$PUB/edge.weir"
            expect_out "and says why" "cannot load policies into the kernel: not permitted to load BPF programs (not running as root"
            expect_rc "test --kernel unprivileged exits 2" 2 "${NOBODY[@]}" "$PUB/weir" test --kernel "$PUB/edge.weir"
            expect_rc "test unprivileged falls back to the interpreter" 0 "${NOBODY[@]}" "$PUB/weir" test "$PUB/edge.weir"
            expect_out "and says why" "weir test: using the interpreter: not permitted to load BPF programs"
        fi
        rm -rf "$PUB"
    fi
else
    skip "kernel CLI tests (check --kernel, test --kernel, pcap replay in the kernel) need root"
    expect_rc "check --kernel unprivileged exits 2" 2 "$WEIR" check --kernel examples/edge.weir
    expect_out "and says why" "cannot load policies into the kernel"
fi

echo "cli: $passed passed, $failed failed, $skipped skipped"
# ctest: 77 is "skipped": part of this script could not run here, and a partial run is no pass.
((failed == 0)) || exit 1
((skipped == 0)) || exit 77
