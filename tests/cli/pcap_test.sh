#!/usr/bin/env bash
# weir test --pcap beyond the classic capture of cli_test.sh: a pcapng capture (libpcap reads
# both), frames cut by the capture's snap length (counted `truncated`, replayed as captured:
# headers intact still match, a cut header is malformed), frames larger than
# BPF_PROG_TEST_RUN takes, and --policy. The captures are written here by a small python3
# writer. The interpreter runs without root; the kernel part needs root (exit 77, ctest's skip,
# after the interpreter's checks when it cannot run).
# Usage: pcap_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_cli_test "$@"

# mkpcap.py FORMAT FILE SPEC...: FORMAT pcap or pcapng; SPEC proto:dport:payload[:caplen]
# (an Ethernet / IPv4 / TCP or UDP frame from 198.18.0.2:40000 to 198.18.0.1:dport with
# `payload` bytes after the L4 header, captured to `caplen` bytes; default all of it).
cat >"$TMP/mkpcap.py" <<'PY'
import struct, sys

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def frame(proto, dport, payload):
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    if proto == "tcp":
        l4 = struct.pack("!HHIIBBHHH", 40000, dport, 1, 0, 0x50, 0x02, 0xffff, 0, 0)
    else:
        l4 = struct.pack("!HHHH", 40000, dport, min(8 + payload, 65535), 0)
    l4 += bytes(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, min(20 + len(l4), 65535), 1, 0, 64,
                     6 if proto == "tcp" else 17, 0, bytes([198, 18, 0, 2]), bytes([198, 18, 0, 1]))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return eth + ip + l4

def pad4(b):
    return b + bytes(-len(b) % 4)

fmt, path = sys.argv[1], sys.argv[2]
snap = 262144
out = bytearray()
if fmt == "pcap":
    out += struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, snap, 1)
else:  # pcapng: section header, one Ethernet interface, enhanced packet blocks
    shb = struct.pack("<IHHq", 0x1a2b3c4d, 1, 0, -1)
    out += struct.pack("<II", 0x0a0d0d0a, 12 + len(shb)) + shb + struct.pack("<I", 12 + len(shb))
    idb = struct.pack("<HHI", 1, 0, snap)
    out += struct.pack("<II", 1, 12 + len(idb)) + idb + struct.pack("<I", 12 + len(idb))
for spec in sys.argv[3:]:
    f = spec.split(":")
    data = frame(f[0], int(f[1]), int(f[2]))
    cap = data[: int(f[3])] if len(f) > 3 else data
    if fmt == "pcap":
        out += struct.pack("<IIII", 1, 0, len(cap), len(data)) + cap
    else:
        body = struct.pack("<IIIII", 0, 0, 1, len(cap), len(data)) + pad4(cap)
        out += struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
open(path, "wb").write(out)
PY
cat >"$TMP/two.weir" <<'WEIR'
policy p default pass {
    ssh:       drop if tcp.dport == 22
    dns-count: count if udp.dport == 53
    dns:       pass if udp.dport == 53
    big:       drop if udp.dport == 9000
}

policy q default drop {
    dns-only: pass if udp.dport == 53
}
WEIR
# py EXPR: evaluates EXPR with j = the JSON of the last command (in $TMP/out); fails the check
# with the expression when false.
py() {
    local name=$1
    shift
    if python3 -c 'import json,sys; j = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
        "$TMP/out" "$*" 2>"$TMP/py.err"; then
        ok
    else
        bad "$name: $* is false"
        cat "$TMP/py.err" | sed 's/^/    /'
        sed 's/^/    /' "$TMP/out" | head -40
    fi
}
# rule N: JSON expression for rule N's row of the first policy.
rule() { echo "[r for r in j['policies'][0]['rules'] if r['rule'] == '$1'][0]"; }

# pcapng: 2 ssh, 1 dns, 1 to a port no rule of p names.
python3 "$TMP/mkpcap.py" pcapng "$TMP/a.pcapng" tcp:22:0 tcp:22:0 udp:53:0 udp:7:0
# Snap length: a dns datagram cut after its UDP header (42 of 142 bytes: headers intact), an
# ssh segment cut inside the IPv4 header (30 of 54 bytes), one frame shorter than Ethernet.
python3 "$TMP/mkpcap.py" pcapng "$TMP/snap.pcapng" udp:53:100:42 tcp:22:0:30 tcp:22:0:10 tcp:22:0
# Oversize: a 5,006-byte datagram (more than BPF_PROG_TEST_RUN's single page) and a 60,006-byte
# one, beside a normal frame; then a 100,042-byte frame, more than the kernel takes at all.
python3 "$TMP/mkpcap.py" pcap "$TMP/big.pcap" udp:9000:4964 udp:9000:59964 udp:53:0
python3 "$TMP/mkpcap.py" pcap "$TMP/huge.pcap" udp:9000:100000 udp:53:0

# check_pcap MODE: the captures through two.weir in MODE (--interp or --kernel).
check_pcap() {
    local m=$1
    expect_rc "$m pcapng" 0 "$WEIR" test "$m" "$TMP/two.weir" --pcap "$TMP/a.pcapng" --policy p
    expect_out "$m pcapng: 4 packets" "a.pcapng: 4 packets"
    expect_out "$m pcapng: verdicts" "pass 2 (84 bytes)  drop 2 (108 bytes)"
    expect_out "$m pcapng: only policy p" "policy 'p' (" 
    if grep -q "policy 'q'" "$TMP/out"; then bad "$m: --policy p replayed q too"; else ok; fi
    expect_rc "$m pcapng --json" 0 "$WEIR" test "$m" "$TMP/two.weir" --pcap "$TMP/a.pcapng" --json
    py "$m pcapng json: both policies" "[p['policy'] for p in j['policies']] == ['p', 'q']"
    py "$m pcapng json: ssh" "$(rule ssh) == {'rule': 'ssh', 'action': 'drop', 'packets': 2, 'bytes': 108}"
    py "$m pcapng json: q passes the dns datagram only" \
        "j['policies'][1]['verdicts']['pass'] == {'packets': 1, 'bytes': 42} and j['policies'][1]['default']['packets'] == 3"
    expect_rc "$m --policy q" 0 "$WEIR" test "$m" "$TMP/two.weir" --pcap "$TMP/a.pcapng" --policy q --json
    py "$m --policy q: only q" "[p['policy'] for p in j['policies']] == ['q']"
    expect_rc "$m --policy of no such policy" 2 "$WEIR" test "$m" "$TMP/two.weir" --pcap "$TMP/a.pcapng" --policy nope
    expect_out "$m names the missing policy" "no policy named 'nope'"

    expect_rc "$m snap-truncated" 0 "$WEIR" test "$m" "$TMP/two.weir" --pcap "$TMP/snap.pcapng" --policy p
    expect_out "$m truncated frames counted" "snap.pcapng: 3 packets, 1 shorter than 14 bytes skipped, 3 truncated by the capture's snap length"
    expect_rc "$m snap-truncated --json" 0 "$WEIR" test "$m" "$TMP/two.weir" --pcap "$TMP/snap.pcapng" --policy p --json
    py "$m snap json: counts" "j['packets'] == 3 and j['skipped_short'] == 1 and j['truncated'] == 3"
    # The cut datagram matches on its intact headers; bytes are captured bytes.
    py "$m snap json: dns on captured bytes" \
        "$(rule dns-count)['packets'] == 1 and $(rule dns-count)['bytes'] == 42 and $(rule dns)['bytes'] == 42"
    # The ssh segment cut inside its IPv4 header is malformed and matches no tcp rule.
    py "$m snap json: cut header is malformed" "j['policies'][0]['malformed'] == {'packets': 1, 'bytes': 30}"
    py "$m snap json: only the whole ssh segment is dropped" "$(rule ssh) ['packets'] == 1 and $(rule ssh)['bytes'] == 54"

    expect_rc "$m oversize" 0 "$WEIR" test "$m" "$TMP/two.weir" --pcap "$TMP/big.pcap" --policy p --json
    py "$m oversize: 3 frames read" "j['packets'] == 3 and j['truncated'] == 0"
    py "$m oversize: the dns datagram" "$(rule dns)['packets'] == 1 and $(rule dns)['bytes'] == 42"
}

check_pcap --interp
# The interpreter runs every frame whole.
expect_rc "interp oversize" 0 "$WEIR" test --interp "$TMP/two.weir" --pcap "$TMP/big.pcap" --policy p --json
py "interp: both big frames, whole" "$(rule big) == {'rule': 'big', 'action': 'drop', 'packets': 2, 'bytes': 5006 + 60006}"
py "interp: nothing not run" "j['policies'][0]['not_run'] == 0"
expect_rc "interp, a frame over 64 KiB" 0 "$WEIR" test --interp "$TMP/two.weir" --pcap "$TMP/huge.pcap" --policy p --json
py "interp runs it whole" "$(rule big) == {'rule': 'big', 'action': 'drop', 'packets': 1, 'bytes': 100042}"

if [[ $(id -u) -ne 0 ]]; then
    echo "pcap (interpreter only): $passed passed, $failed failed"
    [[ $failed -eq 0 ]] || exit 1
    echo "SKIP: the kernel replay needs root"
    exit 77
fi
check_pcap --kernel
# The kernel runs the first page's worth of an oversize frame (3,520 bytes with 4 KiB pages):
# both run, cut to the same size, which is less than either frame.
expect_rc "kernel oversize" 0 "$WEIR" test --kernel "$TMP/two.weir" --pcap "$TMP/big.pcap" --policy p --json
py "kernel: both big frames run" "$(rule big)['packets'] == 2 and j['policies'][0]['not_run'] == 0"
py "kernel: cut to one size, under a page" "$(rule big)['bytes'] % 2 == 0 and 2 * 1500 < $(rule big)['bytes'] <= 2 * 4096"
expect_rc "kernel, a frame over 64 KiB" 0 "$WEIR" test --kernel "$TMP/two.weir" --pcap "$TMP/huge.pcap" --policy p --json
py "kernel: refused and counted not run" "j['policies'][0]['not_run'] == 1 and $(rule big)['packets'] == 0 and 'not_run_reason' in j['policies'][0]"
py "kernel: the replay went on" "$(rule dns)['packets'] == 1"
expect_rc "kernel, a frame over 64 KiB, text" 0 "$WEIR" test --kernel "$TMP/two.weir" --pcap "$TMP/huge.pcap" --policy p
expect_out "the table says not run" "not run: 1 (the first: test run of a 100042-byte packet"
echo "pcap: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
