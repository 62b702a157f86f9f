#!/usr/bin/env bash
# weir load's options from the command line (--policy, --mode native|generic|auto, -I, --color),
# set --color, an interface deleted under a policy (status "NOT enforcing", unload removes the
# leftovers), and events / capture on a policy without `log` rules and with --rule. On a veth
# pair whose peer is in a private namespace (198.18.0.0/15 only); root only (exit 77, ctest's
# skip, otherwise).
# Usage: load_options_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
X=
extra_cleanup() { [[ -n $X ]] && { "$WEIR" unload --dev "$X" >/dev/null 2>&1; ip link del "$X" 2>/dev/null; }; }
peer_in_netns dload 198.18

ESC=$'\033['
expect_color() { if grep -qF "$ESC" "$TMP/out"; then ok; else bad "$1: no color in:"; sed 's/^/    /' "$TMP/out" | head -5; fi; }
expect_no_color() { if grep -qF "$ESC" "$TMP/out"; then bad "$1: colored output"; else ok; fi; }
# xdp_kind DEV: the XDP attachment `ip link` shows (xdp: native, xdpgeneric: generic).
xdp_kind() { ip -d link show "$1" | grep -oE '\b(xdpgeneric|xdpdrv|xdpoffload|xdp)\b' | head -1; }

mkdir -p "$TMP/lib"
printf 'const web = 80\n' >"$TMP/lib/ports.weir"
cat >"$TMP/two.weir" <<'WEIR'
include "ports.weir"

policy lo-a default pass {
    web: drop if tcp.dport == $web
}

policy lo-b default pass {
    web: count if tcp.dport == $web
    dns: drop if udp.dport == 53
}
WEIR
printf 'policy bad default pass {\n    r: drop if tcp.dprot == 22\n}\n' >"$TMP/bad.weir"

# ---- --policy, -I ----
expect_rc "a file with two policies needs --policy" 1 "$WEIR" load -I "$TMP/lib" "$TMP/two.weir" --dev "$DEV"
expect_out "the choices are named" "lo-a, lo-b"
expect_rc "no policy named so" 1 "$WEIR" load -I "$TMP/lib" "$TMP/two.weir" --dev "$DEV" --policy lo-c
expect_rc "the include is not found without -I" 1 "$WEIR" load "$TMP/two.weir" --dev "$DEV" --policy lo-b
expect_out "the include is named" "cannot find included file 'ports.weir'"
[[ -z $(xdp_kind "$DEV") ]] && ok || bad "failed loads attached something"

# ---- --mode generic, then swaps ----
expect_rc "load --policy lo-b --mode generic -I" 0 "$WEIR" load -I "$TMP/lib" "$TMP/two.weir" --dev "$DEV" --policy lo-b --mode generic
expect_status "--policy chose" "$DEV" policy lo-b
expect_status "--mode generic" "$DEV" mode generic
[[ $(xdp_kind "$DEV") == xdpgeneric ]] && ok || bad "ip link shows '$(xdp_kind "$DEV")', not xdpgeneric"
expect_rc "a swap asking for another mode is refused" 2 "$WEIR" load --include-dir "$TMP/lib" "$TMP/two.weir" --dev "$DEV" --policy lo-a --mode native
expect_out "the refusal says why" "generic"
expect_status "the refused swap left lo-b" "$DEV" policy lo-b
expect_rc "a swap in the same mode" 0 "$WEIR" load --include-dir "$TMP/lib" "$TMP/two.weir" --dev "$DEV" --policy lo-a --mode generic
expect_status "swapped to lo-a" "$DEV" policy lo-a
expect_status "one swap" "$DEV" swaps 1
expect_rc "a swap with --mode auto keeps the mode" 0 "$WEIR" load -I "$TMP/lib" "$TMP/two.weir" --dev "$DEV" --policy lo-b --mode auto
expect_status "still generic" "$DEV" mode generic
expect_status "two swaps" "$DEV" swaps 2
expect_rc "unload" 0 "$WEIR" unload --dev "$DEV"
[[ -z $(xdp_kind "$DEV") ]] && ok || bad "unload left '$(xdp_kind "$DEV")' attached"

# ---- --mode native ----
expect_rc "load --mode native" 0 "$WEIR" load -I "$TMP/lib" "$TMP/two.weir" --dev "$DEV" --policy lo-a --mode native
expect_status "--mode native" "$DEV" mode native
[[ $(xdp_kind "$DEV") == xdp ]] && ok || bad "ip link shows '$(xdp_kind "$DEV")', not native xdp"
expect_rc "an unknown mode is a usage error" 2 "$WEIR" load -I "$TMP/lib" "$TMP/two.weir" --dev "$DEV" --policy lo-a --mode offload

# ---- --color for load and set ----
expect_rc "load --color always" 1 "$WEIR" load "$TMP/bad.weir" --dev "$DEV" --color always
expect_color "load --color always"
expect_out "load names the error" "unknown field 'tcp.dprot'"
expect_rc "load --color never" 1 "$WEIR" load "$TMP/bad.weir" --dev "$DEV" --color never
expect_no_color "load --color never"
expect_rc "load --color auto into a file" 1 "$WEIR" load "$TMP/bad.weir" --dev "$DEV" --color auto
expect_no_color "load --color auto into a file"
printf 'set blocked : ip4 = { 198.18.250.1 }\n\npolicy sets default pass {\n    b: drop if ip.src in @blocked\n}\n' >"$TMP/sets.weir"
expect_rc "load a policy with a set" 0 "$WEIR" load "$TMP/sets.weir" --dev "$DEV"
expect_rc "set --color always" 1 "$WEIR" set add --dev "$DEV" blocked 198.18.0.999 --color always
expect_color "set --color always"
expect_rc "set --color auto into a file" 1 "$WEIR" set add --dev "$DEV" blocked 198.18.0.999 --color auto
expect_no_color "set --color auto into a file"
expect_out "set still explains" "198.18.0.999"

# ---- events / capture on a policy without log rules ----
expect_rc "events on a policy without log rules" 1 "$WEIR" events --dev "$DEV" -c 1 --timeout 1
expect_out "events says there is nothing to log" "policy 'sets' on '$DEV' has no log rules"
expect_rc "capture on a policy without log rules" 1 "$WEIR" capture --dev "$DEV" -c 1 --timeout 1 -w "$TMP/none.pcap"
expect_out "capture says there is nothing to log" "policy 'sets' on '$DEV' has no log rules"
expect_out "capture wrote an empty file" "weir capture: 0 packets written"
expect_rc "the empty capture is a valid pcap" 0 python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); assert len(d) == 24 and d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"), d' "$TMP/none.pcap"
expect_rc "events --rule of a rule that does not log" 2 "$WEIR" events --dev "$DEV" --rule b -c 1 --timeout 1
expect_out "says the rule does not log" "rule 'b' of policy 'sets' on '$DEV' is not a log rule"

# ---- capture --rule ----
cat >"$TMP/log.weir" <<'WEIR'
policy logs default pass {
    a-log: log if udp.dport == 9001
    b-log: log snap 64 if udp.dport == 9002
    quiet: count if udp.dport == 9003
}
WEIR
expect_rc "load the log policy" 0 "$WEIR" load "$TMP/log.weir" --dev "$DEV"
udp_probes 3 9001
udp_probes 4 9002
udp_probes 2 9003
expect_rc "capture --rule b-log" 0 "$WEIR" capture --dev "$DEV" --backlog --rule b-log -c 4 --timeout 10 -w "$TMP/b.pcap"
expect_out "capture --rule summary" "weir capture: 4 packets written to '$TMP/b.pcap'"
# Every packet written is b-log's: UDP to 9002, 60 bytes on the wire, captured whole (snap 64).
cat >"$TMP/ports.py" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
o, ports = 24, []
while o < len(d):
    _, _, cap, length = struct.unpack("<IIII", d[o:o + 16])
    pkt = d[o + 16:o + 16 + cap]
    ports.append((struct.unpack("!H", pkt[36:38])[0], cap, length))
    o += 16 + cap
print(ports)
assert ports == [(int(sys.argv[2]), 60, 60)] * int(sys.argv[3]), ports
PY
expect_rc "the capture holds b-log's packets only" 0 python3 "$TMP/ports.py" "$TMP/b.pcap" 9002 4
expect_rc "nothing of b-log is left" 1 "$WEIR" capture --dev "$DEV" --backlog --rule b-log -c 1 --timeout 0.5 -w "$TMP/b2.pcap"
expect_rc "capture --rule of a rule that does not log" 2 "$WEIR" capture --dev "$DEV" --rule quiet -c 1 --timeout 1 -w "$TMP/q.pcap"
expect_out "capture says the rule does not log" "rule 'quiet' of policy 'logs' on '$DEV' is not a log rule"
expect_rc "capture --rule of no such rule" 2 "$WEIR" capture --dev "$DEV" --rule nosuch -c 1 --timeout 1 -w "$TMP/n.pcap"
udp_probes 2 9001
expect_rc "capture --rule a-log" 0 "$WEIR" capture --dev "$DEV" --backlog --rule a-log -c 2 --timeout 10 -w "$TMP/a.pcap"
expect_rc "a-log's packets only (the backlog of b-log was consumed)" 0 python3 "$TMP/ports.py" "$TMP/a.pcap" 9001 2

# ---- an interface deleted under its policy ----
X=wd$$x
ip link add "$X" type veth peer name "wd$$y" || exit 1
ip link set "$X" up
expect_rc "load on the doomed interface" 0 "$WEIR" load "$TMP/log.weir" --dev "$X"
expect_status "enforcing while it exists" "$X" enforcing True
ip link del "$X"
expect_rc "status of the deleted interface" 0 "$WEIR" status --dev "$X"
expect_out "status says NOT enforcing" "$X: policy 'logs' NOT enforcing"
expect_status "status --json says not enforcing" "$X" enforcing False
expect_rc "status of every interface lists it" 0 "$WEIR" status
expect_out "listed NOT enforcing" "$X: policy 'logs' NOT enforcing"
expect_out "the live one is enforcing" "$DEV: policy 'logs' enforcing"
expect_rc "unload of the deleted interface" 0 "$WEIR" unload --dev "$X"
expect_out "unload says what it removed" "weir unload: policy 'logs' removed from '$X'"
[[ -e $WEIR_PIN_ROOT/$X ]] && bad "pins of $X left behind" || ok
expect_rc "nothing left to unload" 2 "$WEIR" unload --dev "$X"
expect_rc "status no longer lists it" 2 "$WEIR" status --dev "$X"
X=

echo "load options: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
