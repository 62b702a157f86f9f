#!/usr/bin/env bash
# weir diff from the command line: exit codes 0 / 1 / 2, equivalent rewrites, witnesses that
# pasted into a test block pass `weir test`, --json, --old-policy / --new-policy, --all,
# --budget, no root needed; as root, --dev against a policy running on a veth (live set edits
# included, a changed source file refused).
# Usage: diff_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_cli_test "$@"

cat >"$TMP/old.weir" <<'WEIR'
set admins : ip = { 198.51.100.0/24, 2001:db8:ad::/48 }

policy edge default drop {
    ssh: pass if tcp.dport == 22 and ip.src in @admins
    web: pass if tcp.dport in { 80, 443 }
    dns: pass if udp.sport == 53
    icmp: pass if ip.proto == icmp
}
WEIR
# The same decisions: disjoint rules reordered, a rule split in two, the set written inline.
cat >"$TMP/same.weir" <<'WEIR'
policy edge default drop {
    icmp: pass if ip.proto == icmp
    dns: pass if udp.sport == 53
    web-80: pass if tcp.dport == 80
    web-443: pass if tcp.dport == 443
    ssh: pass if tcp.dport == 22 and ip.src in { 198.51.100.0/24, 2001:db8:ad::/48 }
}
WEIR
# Two changes: HTTP no longer passes, and one admin /24 loses SSH to a block rule.
cat >"$TMP/new.weir" <<'WEIR'
set admins : ip = { 198.51.100.0/24, 2001:db8:ad::/48 }

policy edge default drop {
    block: drop if ip.src == 198.51.100.0/25
    ssh: pass if tcp.dport == 22 and ip.src in @admins
    web: pass if tcp.dport == 443
    dns: pass if udp.sport == 53
    icmp: pass if ip.proto == icmp
}
WEIR

expect_rc "equivalent rewrites" 0 "$WEIR" diff "$TMP/old.weir" "$TMP/same.weir"
expect_out "says so" "no verdict changes"
expect_rc "a policy against itself" 0 "$WEIR" diff "$TMP/old.weir" "$TMP/old.weir"

# -I and --color as in the other front-end commands.
mkdir -p "$TMP/lib" && printf 'const ssh = 22\n' >"$TMP/lib/ports.weir"
{ printf 'include "ports.weir"\n'; sed 's/tcp.dport == 22/tcp.dport == $ssh/' "$TMP/old.weir"; } >"$TMP/inc.weir"
expect_rc "-I" 0 "$WEIR" diff -I "$TMP/lib" "$TMP/inc.weir" "$TMP/old.weir"
expect_rc "--color always" 1 "$WEIR" diff --color always "$TMP/old.weir" "$TMP/new.weir"
if grep -qF $'\033[' "$TMP/out"; then ok; else bad "--color always: no colour"; fi
expect_rc "--color never" 1 "$WEIR" diff --color never "$TMP/old.weir" "$TMP/new.weir"
if grep -qF $'\033[' "$TMP/out"; then bad "--color never: colour"; else ok; fi
expect_rc "--color auto (not a terminal)" 1 "$WEIR" diff --color auto "$TMP/old.weir" "$TMP/new.weir"
if grep -qF $'\033[' "$TMP/out"; then bad "--color auto: colour"; else ok; fi

expect_rc "verdict changes" 1 "$WEIR" diff "$TMP/old.weir" "$TMP/new.weir"
expect_out "the web change" "pass by web"
expect_out "the block" "drop by block"
expect_out "a witness" "packet tcp"

# Every witness, pasted into a test block of NEW (expect NEW's verdict) and of OLD (expect OLD's
# verdict), passes in the interpreter.
"$WEIR" diff --json "$TMP/old.weir" "$TMP/new.weir" >"$TMP/d.json"
if python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
d = json.load(open(tmp + "/d.json"))
assert d["complete"] and not d["equivalent"], d
assert d["changes_total"] == len(d["changes"]) >= 2, d
for side in ("old", "new"):
    body = open(f"{tmp}/{side}.weir").read()
    body += '\ntest "witnesses" policy edge {\n'
    for c in d["changes"]:
        v = c[side]
        body += f'    {c["packet"]}\n    expect {v["verdict"]} by {v["rule"]}\n'
    open(f"{tmp}/{side}-w.weir", "w").write(body + "}\n")
PY
then ok; else bad "--json is not what the witnesses need"; fi
expect_rc "witnesses hold in OLD" 0 "$WEIR" test --interp "$TMP/old-w.weir"
expect_rc "witnesses hold in NEW" 0 "$WEIR" test --interp "$TMP/new-w.weir"

# Counters only: exit 0, listed.
sed 's/^    icmp:/    seen: count if tcp.dport == 22\n    icmp:/' "$TMP/old.weir" >"$TMP/count.weir"
expect_rc "a new count rule changes no verdict" 0 "$WEIR" diff "$TMP/old.weir" "$TMP/count.weir"
expect_out "the counter is listed" "seen"

# A rate limit cannot be compared exactly: may differ, exit 1.
sed 's/^    dns:/    dns-flood: drop if udp.sport == 53 and over 100\/s\n    dns:/' "$TMP/old.weir" >"$TMP/limit.weir"
expect_rc "a rate limit may differ" 1 "$WEIR" diff "$TMP/old.weir" "$TMP/limit.weir"
expect_out "named" "rate limit"

# Two policies in a file: choose with --old-policy / --new-policy.
{ cat "$TMP/old.weir"; sed -n '/^policy/,$p' "$TMP/new.weir" | sed 's/^policy edge/policy edge2/'; } >"$TMP/two.weir"
expect_rc "two policies need a choice" 2 "$WEIR" diff "$TMP/two.weir" "$TMP/old.weir"
expect_out "how to choose" "--old-policy"
expect_rc "--old-policy" 0 "$WEIR" diff --old-policy edge "$TMP/two.weir" "$TMP/old.weir"
expect_rc "--new-policy" 1 "$WEIR" diff --new-policy edge2 "$TMP/old.weir" "$TMP/two.weir"

# Errors: exit 2.
printf 'policy bad default pass {\n    r: drop if tcp.dprot == 22\n}\n' >"$TMP/bad.weir"
expect_rc "a file with errors" 2 "$WEIR" diff "$TMP/old.weir" "$TMP/bad.weir"
expect_out "its diagnostic" "bad.weir:2"
expect_rc "a missing file" 2 "$WEIR" diff "$TMP/old.weir" "$TMP/nope.weir"
expect_rc "one file without --dev" 2 "$WEIR" diff "$TMP/old.weir"

# --all lists past the first 20 changed pairs.
python3 - "$TMP" <<'PY'
import sys
tmp = sys.argv[1]
rules = "".join(f"    r{i}: drop if tcp.dport == {1000 + i}\n" for i in range(30))
open(f"{tmp}/many.weir", "w").write("policy edge default pass {\n" + rules + "}\n")
open(f"{tmp}/none.weir", "w").write("policy edge default pass {\n}\n")
PY
"$WEIR" diff --json "$TMP/none.weir" "$TMP/many.weir" >"$TMP/d20.json"
"$WEIR" diff --json --all "$TMP/none.weir" "$TMP/many.weir" >"$TMP/dall.json"
if python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(not (len(a["changes"])==20 and len(b["changes"])==30 and a["changes_total"]==30))' "$TMP/d20.json" "$TMP/dall.json"; then ok; else bad "--all"; fi

# --budget: a diff that cannot finish in time is incomplete (exit 2), never "equivalent".
python3 - "$TMP" <<'PY'
import random, sys
tmp = sys.argv[1]
random.seed(7)
def pol(seed):
    r = random.Random(seed)
    lines = []
    for i in range(1500):
        n = r.choice((8, 16, 24))
        a = ".".join(str(r.randrange(1, 223) if i == 0 else r.randrange(256) if 8 * (i + 1) <= n else 0) for i in range(4)) + f"/{n}"
        lo = r.randrange(1, 60000)
        lines.append(f"    r{i}: {r.choice(('pass', 'drop'))} if ip.src == {a} and tcp.dport in {{ {lo}-{lo + r.randrange(500)} }}\n")
    return "policy edge default pass {\n" + "".join(lines) + "}\n"
open(f"{tmp}/big1.weir", "w").write(pol(1))
open(f"{tmp}/big2.weir", "w").write(pol(2))
PY
expect_rc "a budget too small" 2 "$WEIR" diff --budget 0.001 "$TMP/big1.weir" "$TMP/big2.weir"
expect_out "says it is incomplete" "incomplete"

# No root needed: run as nobody when this runs as root.
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null && setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$WEIR"; then
    chmod 755 "$TMP"; chmod 644 "$TMP"/*.weir
    expect_rc "as nobody" 1 setpriv --reuid 65534 --regid 65534 --clear-groups "$WEIR" diff "$TMP/old.weir" "$TMP/new.weir"
fi

# ---- --dev: against what runs on an interface (root) ----
if [[ $(id -u) -eq 0 ]] && command -v ip >/dev/null; then
    export WEIR_PIN_ROOT=/sys/fs/bpf/weir-diff-$$ WEIR_RUN_DIR=$TMP/run
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
    DEV=wdf$$a
    trap '"$WEIR" unload --dev "$DEV" >/dev/null 2>&1; ip link del "$DEV" 2>/dev/null; rm -rf "$WEIR_PIN_ROOT" "$TMP"' EXIT
    ip link add "$DEV" type veth peer name "wdf$$b" && ip link set "$DEV" up && ip link set "wdf$$b" up
    expect_rc "no policy there" 2 "$WEIR" diff --dev "$DEV" "$TMP/new.weir"
    # A relative path at load: --dev compiles the recorded absolute path, which must hash the same.
    expect_rc "load OLD (relative path)" 0 env -C "$TMP" "$WEIR" load old.weir --dev "$DEV"
    expect_rc "--dev: NEW differs" 1 "$WEIR" diff --dev "$DEV" "$TMP/new.weir"
    expect_out "names the running source" "on $DEV"
    expect_rc "--dev: an equivalent file" 0 "$WEIR" diff --dev "$DEV" "$TMP/same.weir"
    expect_rc "--old-policy does not apply" 2 "$WEIR" diff --dev "$DEV" --old-policy edge "$TMP/new.weir"
    # A live edit: 203.0.113.7 may now use SSH on the interface; the file's inline set does not say so.
    expect_rc "live set add" 0 "$WEIR" set add --dev "$DEV" admins 203.0.113.7
    expect_rc "--dev sees live set contents" 1 "$WEIR" diff --json --dev "$DEV" "$TMP/same.weir"
    expect_out "the live element" "203.0.113.7"
    printf '\n' >>"$TMP/old.weir"
    expect_rc "a changed source file" 2 "$WEIR" diff --dev "$DEV" "$TMP/new.weir"
    expect_out "says why" "changed since it was loaded"
fi

echo "diff_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
