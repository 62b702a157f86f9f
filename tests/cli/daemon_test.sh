#!/usr/bin/env bash
# End-to-end test of `weir daemon` on a veth pair whose peer is in a private namespace (root
# only; exit 77, ctest's skip, otherwise). Sends probes (198.18.0.0/15 only) and checks:
# config errors; --once loads; a restarted daemon adopts what is pinned without reloading;
# /metrics scraped over loopback HTTP (bash /dev/tcp, no curl needed) and parsed: a rule
# counter equals the datagrams sent; an in-place edit reloads (swap count +1, new policy);
# a broken file gives reload_failed and the old policy keeps enforcing (counted traffic); a
# file replaced by a symlink, and a ConfigMap-style `..data` symlink swap, reload; a swap to
# identical content does not; SIGHUP; SIGTERM leaves the policy pinned; --detach-on-exit unloads.
# Usage: daemon_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
DPID=
extra_cleanup() { [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; }
peer_in_netns daemon 198.19
start_daemon() {
    # Emptied here, not by the background shell: waits must not see the last daemon's events.
    : >"$TMP/events"
    "$WEIR" daemon --config "$TMP/daemon.json" "$@" >"$TMP/events" 2>"$TMP/stderr" &
    DPID=$!
    wait_event listening 1 || return 1
    PORT=$(grep '"event":"listening"' "$TMP/events" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])')
}
stop_daemon() {  # SIGTERM, expect exit 0
    kill -TERM "$DPID"
    wait "$DPID"
    local rc=$?
    DPID=
    if [[ $rc -eq 0 ]]; then ok; else bad "daemon exit $rc after SIGTERM"; sed 's/^/    /' "$TMP/stderr"; fi
}

policy() {  # policy NAME [extra rule]
    printf 'set blocked : ip4 = { 198.19.250.0/24, 198.19.251.7 }\n\npolicy %s default pass {\n    probe: count if udp.dport == 9999\n    blocked: drop if ip.src in @blocked\n    %s\n}\n' "$1" "${2:-}"
}
mkdir -p "$TMP/cm"
policy daemon-a >"$TMP/cm/edge.weir"
cat >"$TMP/daemon.json" <<EOF
{
  // the test's config: one interface, a policy beside the config file
  "listen": "127.0.0.1:0",
  "debounce_ms": 100,
  "interfaces": [ { "interface": "$DEV", "file": "cm/edge.weir" } ]
}
EOF

# --- config errors ---
echo '{"interfaces": [{"interface": "x", "file": "a.weir", "polcy": "p"}], "listn": 1}' >"$TMP/badcfg.json"
expect_rc "bad config" 2 "$WEIR" daemon --config "$TMP/badcfg.json" --once
expect_out "unknown top-level key" 'unknown key "listn"'
expect_out "unknown interface key" 'interfaces[0]: unknown key "polcy"'
expect_rc "missing config" 2 "$WEIR" daemon --config "$TMP/nosuch.json"
expect_out "missing config message" "nosuch.json: cannot read"
expect_rc "bad --listen" 2 "$WEIR" daemon --config "$TMP/daemon.json" --listen nonsense --once
expect_out "bad --listen message" "expected HOST:PORT"

# --- --once: first load ---
expect_rc "--once loads" 0 "$WEIR" daemon --config "$TMP/daemon.json" --once
expect_out "--once loaded event" '"event":"loaded"'
expect_status "after --once" "$DEV" policy daemon-a
expect_status "after --once" "$DEV" swaps 0
expect_status "source recorded" "$DEV" source "$TMP/cm/edge.weir"

# --- a daemon started over a pinned policy adopts it ---
start_daemon
wait_event adopted 1
[[ $(events loaded) -eq 0 && $(events reloaded) -eq 0 ]] && ok || bad "start reloaded a pinned, unchanged policy"
expect_status "adopted" "$DEV" swaps 0

# --- metrics ---
udp_probes 7 9999
L="interface=\"$DEV\",policy=\"daemon-a\",rule=\"probe\",action=\"count\""
# Counted once the program ran on all 7 (each wait scrapes again until its counter is there).
wait_metric "rule counter equals probes sent" "weir_rule_packets_total{$L}" 7
wait_metric "rule bytes" "weir_rule_bytes_total{$L}" $((7 * 60))
wait_metric "verdict pass" "weir_verdict_packets_total{interface=\"$DEV\",verdict=\"pass\"}" 7
head -1 "$TMP/out" | grep -q "200 OK" && ok || bad "GET /metrics: $(head -1 "$TMP/out")"
grep -q '^Content-Type: text/plain; version=0.0.4' "$TMP/out" && ok || bad "metrics content type"
sed -i '1,/^$/d' "$TMP/out"  # the body
python3 - "$TMP/out" <<'PY' && ok || bad "metrics exposition format"
import re, sys
typed, helped = set(), set()
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)$')
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("# HELP "): helped.add(line.split()[2]); continue
    if line.startswith("# TYPE "):
        assert line.split()[3] in ("counter", "gauge"), line; typed.add(line.split()[2]); continue
    m = sample.match(line)
    assert m, "bad sample line: " + line
    assert m.group(1) in typed and m.group(1) in helped, "no TYPE/HELP for " + line
    assert m.group(1).startswith("weir_"), line
PY
expect_metric "up" "weir_up" 1
expect_metric "malformed" "weir_malformed_packets_total{interface=\"$DEV\"}" 0
expect_metric "no reload yet" "weir_daemon_reloads_total{interface=\"$DEV\"}" 0
expect_metric "no failure yet" "weir_daemon_reload_failures_total{interface=\"$DEV\"}" 0
expect_metric "enforcing" "weir_policy_enforcing{interface=\"$DEV\"}" 1
expect_metric "set size" "weir_set_elements{interface=\"$DEV\",set=\"blocked\"}" 2
grep -q "^weir_policy_info{interface=\"$DEV\",policy=\"daemon-a\",source_hash=\"$(status_field "$DEV" source_hash)\"" "$TMP/out" \
    && ok || bad "policy info with the pinned source hash"
get /healthz
grep -q '^ok$' "$TMP/out" && ok || bad "healthz: $(cat "$TMP/out")"
get /nosuch
head -1 "$TMP/out" | grep -q " 404 " && ok || bad "unknown path is not 404"

# --- the program's own cost: the daemon holds the kernel's run-time statistics on ---
P="interface=\"$DEV\",prog_id=\"$(status_field "$DEV" prog_id)\""
positive() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }
# ns/packet is over the daemon's last second: probes keep arriving until a second had some.
_cost_shown() { udp_probes 20 9997; get /metrics && [[ -n $(metric "weir_program_run_seconds_per_packet{$P}") ]]; }
wait_until 30 _cost_shown && ok || bad "no weir_program_run_seconds_per_packet{$P} in 30 s"
positive "$(metric "weir_program_run_seconds_per_packet{$P}")" && ok || bad "ns/packet: $(metric "weir_program_run_seconds_per_packet{$P}")"
positive "$(metric "weir_program_packets_per_second{$P}")" || [[ $(metric "weir_program_packets_per_second{$P}") == 0 ]] \
    && ok || bad "packets per second: '$(metric "weir_program_packets_per_second{$P}")'"
[[ $(metric "weir_program_runs_total{$P}") -ge 27 ]] && ok || bad "runs: $(metric "weir_program_runs_total{$P}")"
positive "$(metric "weir_program_run_seconds_total{$P}")" && ok || bad "run seconds: $(metric "weir_program_run_seconds_total{$P}")"
[[ $(metric "weir_program_instructions{$P}") -gt 0 ]] && ok || bad "instructions: $(metric "weir_program_instructions{$P}")"
[[ $(metric "weir_program_jited_bytes{$P}") -gt 0 ]] && ok || bad "JIT bytes: $(metric "weir_program_jited_bytes{$P}")"

# --- an in-place edit reloads ---
policy daemon-b 'ssh: drop if tcp.dport == 22' >"$TMP/cm/edge.weir"
wait_event reloaded 1
grep '"event":"reloaded"' "$TMP/events" | python3 -c '
import json,sys; e=json.loads(sys.stdin.readline())
assert e["policy"]=="daemon-b" and e["replaced"]=="daemon-a" and e["interface"]==sys.argv[1] and e["swap_ms"]>0, e' "$DEV" \
    && ok || bad "reloaded event fields: $(grep '"event":"reloaded"' "$TMP/events")"
expect_status "edit swapped" "$DEV" policy daemon-b
expect_status "edit swapped" "$DEV" swaps 1
get /metrics
expect_metric "daemon reload counted" "weir_daemon_reloads_total{interface=\"$DEV\"}" 1
expect_metric "kept rule kept its counter" "weir_rule_packets_total{interface=\"$DEV\",policy=\"daemon-b\",rule=\"probe\",action=\"count\"}" 7

# --- a broken file: reload_failed, the old policy keeps enforcing ---
printf 'policy daemon-broken default pass {\n    ping: count if udp.dprot == 9999\n}\n' >"$TMP/cm/edge.weir"
wait_event reload_failed 1
grep '"event":"reload_failed"' "$TMP/events" | python3 -c '
import json,sys; e=json.loads(sys.stdin.readline())
assert e["step"]=="compile" and e["kind"]=="policy" and e["running"]=="daemon-b", e
assert "udp.dprot" in e["diagnostics"] and "kept" in e["message"], e' && ok || bad "reload_failed fields"
# The daemon handles changes in order: whatever the first edit caused came before this event.
[[ $(events reloaded) -eq 1 ]] && ok || bad "one edit, $(events reloaded) reloads (debounce)"
expect_status "broken file" "$DEV" policy daemon-b
expect_status "broken file" "$DEV" swaps 1
udp_probes 3 9999
wait_metric "old policy still counts" "weir_rule_packets_total{interface=\"$DEV\",policy=\"daemon-b\",rule=\"probe\",action=\"count\"}" 10
expect_metric "failure counted" "weir_daemon_reload_failures_total{interface=\"$DEV\"}" 1
expect_metric "last attempt failed" "weir_daemon_last_reload_success{interface=\"$DEV\"}" 0

# --- the file replaced by a symlink into a ConfigMap-style layout ---
cd "$TMP/cm"
mkdir ..v1 && policy daemon-c >..v1/edge.weir
ln -s ..v1 ..data
ln -s ..data/edge.weir edge.tmp && mv -T edge.tmp edge.weir
cd "$ROOT"
wait_event reloaded 2
expect_status "file -> symlink" "$DEV" policy daemon-c
expect_status "file -> symlink" "$DEV" swaps 2

# --- ConfigMap update: a new ..data renamed into place ---
cd "$TMP/cm"
mkdir ..v2 && policy daemon-d 'web: count if tcp.dport == 443' >..v2/edge.weir
ln -s ..v2 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..v1
cd "$ROOT"
wait_event reloaded 3
expect_status "..data swap" "$DEV" policy daemon-d
expect_status "..data swap" "$DEV" swaps 3
grep '"event":"reloaded"' "$TMP/events" | tail -1 | grep -q '"reason":"change"' && ok || bad "reload reason"
# The same content again: no swap. SIGHUP then compares the file with what is pinned as a change
# does (same code), and its `unchanged` event comes after anything the ..data swap caused.
cd "$TMP/cm"
mkdir ..v3 && cp ..v2/edge.weir ..v3/ && ln -s ..v3 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..v2
cd "$ROOT"
kill -HUP "$DPID"
wait_event unchanged 1
[[ $(events reloaded) -eq 3 ]] && ok || bad "identical ConfigMap content reloaded"
expect_status "identical content" "$DEV" swaps 3
# An edit inside the new ..data target is seen too (the watch followed the symlinks).
policy daemon-e >"$TMP/cm/..v3/edge.weir"
wait_event reloaded 4
expect_status "edit behind symlinks" "$DEV" policy daemon-e

# --- SIGHUP: reload all (nothing changed) ---
kill -HUP "$DPID"
wait_event unchanged 2
[[ $(events reloaded) -eq 4 ]] && ok || bad "SIGHUP with nothing changed reloaded"
expect_status "SIGHUP" "$DEV" swaps 4

# --- SIGTERM leaves enforcement pinned; a restart adopts ---
stop_daemon
grep -q '"event":"stopped"' "$TMP/events" && ok || bad "no stopped event"
expect_status "after SIGTERM" "$DEV" policy daemon-e
expect_status "after SIGTERM" "$DEV" enforcing True
ip link show "$DEV" | grep -q xdp && ok || bad "no XDP program after SIGTERM"
udp_probes 2 9999
wait_rule_packets "policy enforcing after SIGTERM" probe 12
start_daemon --detach-on-exit
wait_event adopted 1
[[ $(events loaded) -eq 0 && $(events reloaded) -eq 0 ]] && ok || bad "restart reloaded"
expect_status "restart adopted" "$DEV" swaps 4
get /metrics
expect_metric "adoption is not a reload" "weir_daemon_reloads_total{interface=\"$DEV\"}" 0

# --- --detach-on-exit unloads ---
stop_daemon
wait_event detached 1
expect_rc "no policy after --detach-on-exit" 2 "$WEIR" status --dev "$DEV"
ip link show "$DEV" | grep -q xdp && bad "XDP program left after --detach-on-exit" || ok

echo "daemon_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
