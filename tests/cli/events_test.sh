#!/usr/bin/env bash
# End-to-end test of `log` rules, weir events and weir capture on a veth pair whose peer lives in
# a private namespace (root only; exit 77, ctest's skip, otherwise). Sends K UDP datagrams
# (198.18.0.0/15 only) and checks: weir events --json receives K records (sample 1/1; minus the
# ring drops weir stats counts, which must be 0 here) with the right addresses, ports, rule and
# verdict; a live reader started before the traffic sees it; weir capture -c K writes a pcap that
# tcpdump -r reads back as K packets with the right addresses; sample 1/2 logs half; --rule
# filters; a swap keeps the pinned ring (a reader opened before the swap keeps reading).
# Usage: events_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
RPID=
extra_cleanup() { [[ -n $RPID ]] && kill -KILL "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null; }
peer_in_netns events 198.18

ring_drops() { "$WEIR" stats --dev "$DEV" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["log_drops"]["packets"])'; }
K=25
# nothing_before_control CHECK: one datagram only rule `ctl` logs, then the ring's next record
# must be its own: a record left over would come first (the ring keeps the order of writing).
nothing_before_control() {
    udp_probes 1 9997
    "$WEIR" events --dev "$DEV" --backlog --json -c 1 --timeout 30 >"$TMP/ctl" 2>&1
    if grep -q '"rule":"ctl"' "$TMP/ctl"; then ok; else bad "$1: the next record is not the control one: $(head -3 "$TMP/ctl")"; fi
}
# reader_ready FILE: the live reader writing its messages to FILE has the ring open.
reader_ready() { wait_until 30 grep -q "reading the log ring" "$1" || bad "no reader on the log ring after 30 s: $(cat "$1")"; }

cat >"$TMP/p.weir" <<'P'
policy log-a default pass {
    udp-log: log snap 96 if udp.dport == 9999
    half:    log sample 1/2 if udp.dport == 9998
    block:   drop if udp.dport == 9998
    ctl:     log if udp.dport == 9997
}
P
expect_rc "events without a policy" 2 "$WEIR" events --dev "$DEV" -c 1 --timeout 1
expect_out "events without a policy says so" "no weir policy is attached to '$DEV'"
expect_rc "load" 0 "$WEIR" load "$TMP/p.weir" --dev "$DEV"
[[ -e $WEIR_PIN_ROOT/$DEV/weir_log_ring ]] && ok || bad "the log ring is pinned"
expect_rc "events of an unknown rule" 2 "$WEIR" events --dev "$DEV" --rule nosuch -c 1 --timeout 1
expect_out "unknown rule message" "has no rule 'nosuch'"

# --- queued records, read with --backlog: exactly K, then nothing more ---
udp_probes $K 9999
expect_rc "events --backlog --json -c K" 0 "$WEIR" events --dev "$DEV" --backlog --json -c $K --timeout 30
drops=$(ring_drops)
[[ $drops -eq 0 ]] && ok || bad "ring drops: $drops"
python3 - "$TMP/out" "$K" "$PEER_IP" "$HOST_IP" <<'PY' && ok || bad "event records"
import json, sys
path, k, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
recs = [json.loads(l) for l in open(path) if l.startswith("{")]
assert len(recs) == k, len(recs)
for r in recs:
    assert r["rule"] == "udp-log" and r["verdict"] == "pass" and r["decided_by"] == "default", r
    assert r["proto"] == "udp" and r["src"] == src and r["dst"] == dst and r["dport"] == 9999, r
    assert r["len"] == 60 and r["cap_len"] == 60 and len(r["data"]) == 120, r
PY
nothing_before_control "nothing left after -c K"

# --- a live reader started before the traffic, one-line summaries ---
"$WEIR" events --dev "$DEV" -c $K --timeout 60 >"$TMP/live" 2>"$TMP/live.err" &
RPID=$!
reader_ready "$TMP/live.err"
udp_probes $K 9999
wait "$RPID" && ok || bad "live events exit: $(cat "$TMP/live.err")"
RPID=
n=$(grep -c "udp-log pass by default $DEV udp $PEER_IP:[0-9]* -> $HOST_IP:9999 len 60 cap 60" "$TMP/live")
[[ $n -eq $K ]] && ok || { bad "live summaries: $n of $K"; head -3 "$TMP/live"; }

# --- sample 1/2 on a dropping flow, and --rule ---
udp_probes 20 9998
expect_rc "events --rule half" 0 "$WEIR" events --dev "$DEV" --backlog --rule half --json -c 10 --timeout 30
n=$(grep -c '"rule":"half","verdict":"drop","decided_by":"block"' "$TMP/out")
[[ $n -eq 10 ]] && ok || bad "sample 1/2 of 20 dropped datagrams: $n records, wanted 10"
nothing_before_control "no 11th sampled record"

# --- weir capture: a pcap tcpdump reads ---
udp_probes $K 9999
expect_rc "capture -c K" 0 "$WEIR" capture --dev "$DEV" --backlog -c $K -w "$TMP/f.pcap" --timeout 30
expect_out "capture summary" "weir capture: $K packets written to '$TMP/f.pcap'"
if command -v tcpdump >/dev/null; then
    tcpdump -nn -r "$TMP/f.pcap" >"$TMP/td" 2>&1
    n=$(grep -c "IP $PEER_IP\.[0-9]* > $HOST_IP\.9999: UDP, length 18" "$TMP/td")
    [[ $n -eq $K ]] && ok || { bad "tcpdump -r: $n of $K packets"; head -5 "$TMP/td"; }
else
    python3 - "$TMP/f.pcap" "$K" <<'PY' && ok || bad "pcap file"
import struct, sys
b = open(sys.argv[1], "rb").read()
assert struct.unpack("<I", b[:4])[0] == 0xa1b23c4d
off, n = 24, 0
while off < len(b):
    _, _, cap, ln = struct.unpack("<IIII", b[off:off + 16]); off += 16 + cap; n += 1
    assert cap == ln == 60
assert n == int(sys.argv[2]), n
PY
fi

# The capture file is private (payloads) and written only where asked: mode 0600; a symbolic
# link planted at FILE is refused and its target untouched; a refused capture (no policy on the
# device) leaves an existing FILE as it was.
[[ $(stat -c %a "$TMP/f.pcap") == 600 ]] && ok || bad "capture file mode $(stat -c %a "$TMP/f.pcap"), wanted 600"
echo secret >"$TMP/victim"
ln -s "$TMP/victim" "$TMP/link.pcap"
expect_rc "capture refuses a symlink" 2 "$WEIR" capture --dev "$DEV" --backlog -c 1 -w "$TMP/link.pcap" --timeout 30
expect_out "and says so" "cannot write '$TMP/link.pcap': it is a symbolic link"
[[ $(cat "$TMP/victim") == secret && -L "$TMP/link.pcap" ]] && ok || bad "the symlink's target was written"
echo kept >"$TMP/kept.pcap"
expect_rc "capture on a device without a policy" 2 "$WEIR" capture --dev lo -c 1 -w "$TMP/kept.pcap" --timeout 5
[[ $(cat "$TMP/kept.pcap") == kept ]] && ok || bad "a refused capture truncated its file"

# --- a hot swap keeps the ring: a reader opened before it reads records of the new policy ---
"$WEIR" events --dev "$DEV" --json -c 5 --timeout 60 >"$TMP/swap" 2>"$TMP/swap.err" &
RPID=$!
reader_ready "$TMP/swap.err"
sed 's/log-a/log-b/; s/udp-log:/renamed:/' "$TMP/p.weir" >"$TMP/q.weir"
expect_rc "swap" 0 "$WEIR" load "$TMP/q.weir" --dev "$DEV"
udp_probes 5 9999
wait "$RPID" && ok || bad "reader across a swap: $(cat "$TMP/swap.err")"
RPID=
n=$(grep -c '"rule":"renamed"' "$TMP/swap")
[[ $n -eq 5 ]] && ok || bad "records after the swap: $n of 5"

expect_rc "unload" 0 "$WEIR" unload --dev "$DEV"
echo "events: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
