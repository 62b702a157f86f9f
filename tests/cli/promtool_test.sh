#!/usr/bin/env bash
# `promtool check metrics` (Debian package prometheus, installed by scripts/setup) on the daemon's
# /metrics with every kind of series present: a policy on a veth pair whose peer is in a private
# namespace (root only; exit 77, ctest's skip, otherwise), datagrams counted by a rule, the
# verdict and default totals, a named set, an alert with a rate, and a shadow rollout running
# with a transition counted, the program's run time per packet. promtool must accept the scrape with no complaint at all (parse
# errors and lint: counters ending in _total, HELP and TYPE, units). A bad family appended to the
# same scrape must make it complain, so the check is not vacuous. Every metric deploy/grafana/
# weir.json queries must be in the scrape, and its queries must parse (promtool check rules).
# Usage: promtool_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
command -v promtool >/dev/null || { echo "FAIL: promtool missing: run scripts/setup (package prometheus)"; exit 1; }
DPID=
extra_cleanup() { [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; }
peer_in_netns promtool 198.19

# policy NAME [RULE]: counts port 9999, passes port 7000; RULE goes before the pass rule.
policy() {
    printf 'set blocked : ip4 = { 198.19.250.0/24 }\n\npolicy %s default pass {\n    probe: count if udp.dport == 9999\n    blocked: drop if ip.src in @blocked\n    %s\n    web: pass if udp.dport == 7000\n}\n\n%s\n' \
        "$1" "${2:-}" 'alert probe-rate when rate(probe) > 1000/s for 5s severity warning "probes"'
}
policy prom-a >"$TMP/edge.weir"
# A long shadow window: the rollout is still running when the test scrapes.
cat >"$TMP/daemon.json" <<EOF
{ "listen": "127.0.0.1:0", "debounce_ms": 100,
  "interfaces": [ { "interface": "$DEV", "file": "edge.weir", "shadow_seconds": 600 } ] }
EOF
start_weir_daemon "$TMP/daemon.json" || exit 1
wait_event loaded 1

L="interface=\"$DEV\",policy=\"prom-a\",rule=\"probe\",action=\"count\""
udp_probes 5 9999
wait_metric "rule counter" "weir_rule_packets_total{$L}" 5
# Two evaluations apart, the alert has a rate.
has_alert_value() { get /metrics && [[ -n $(metric "weir_alert_value{alert=\"probe-rate\",policy=\"prom-a\",interface=\"$DEV\"}") ]]; }
wait_until 30 has_alert_value && ok || bad "no weir_alert_value after 30 s"

# A change rolled out through shadow: datagrams to port 7000 would now be dropped.
policy prom-b 'block: drop if udp.dport == 7000' >"$TMP/edge.weir.new" && mv "$TMP/edge.weir.new" "$TMP/edge.weir"
wait_event shadow_started 1
udp_probes 3 7000
wait_metric "shadow transition" "weir_shadow_packets_total{interface=\"$DEV\",from_rule=\"web\",to_rule=\"block\"}" 3

# The program's per-packet run time is over the daemon's last second: probes until one had some.
cost_shown() { udp_probes 10 9998; get /metrics && grep -q '^weir_program_run_seconds_per_packet{' "$TMP/out"; }
wait_until 30 cost_shown && ok || { bad "no weir_program_run_seconds_per_packet in 30 s; events, stderr, last scrape:"
    tail -n 5 "$TMP/events" "$TMP/stderr" "$TMP/out" | sed 's/^/    /'; }
metrics_body >"$TMP/metrics.txt"
for family in weir_up weir_daemon_reloads_total weir_policy_info weir_set_elements weir_rule_packets_total \
    weir_rule_bytes_total weir_default_packets_total weir_verdict_packets_total weir_alert_state \
    weir_alert_value weir_alert_threshold weir_alert_firings_total weir_shadow_packets_total; do
    grep -q "^$family[{ ]" "$TMP/metrics.txt" && ok || bad "the scrape has no sample of $family"
done

expect_rc "promtool check metrics accepts the scrape" 0 promtool check metrics <"$TMP/metrics.txt"
[[ ! -s $TMP/out ]] && ok || { bad "promtool complained:"; sed 's/^/    /' "$TMP/out"; }

# deploy/grafana/weir.json: every metric it queries is in this scrape, every query is PromQL.
expect_rc "the dashboard's metrics are scraped" 0 python3 "$ROOT/tests/cli/dashboard_check.py" \
    "$ROOT/deploy/grafana/weir.json" "$TMP/metrics.txt" "$TMP/dashboard-rules.yml"
expect_rc "the dashboard's queries parse" 0 promtool check rules "$TMP/dashboard-rules.yml"

# The same scrape with a counter named without _total and a family without HELP.
{ cat "$TMP/metrics.txt"; printf '# HELP weir_bad_packets A counter.\n# TYPE weir_bad_packets counter\nweir_bad_packets 1\n# TYPE weir_nohelp gauge\nweir_nohelp 1\n'; } >"$TMP/bad.txt"
promtool check metrics <"$TMP/bad.txt" >"$TMP/out" 2>&1 && bad "promtool accepted a bad scrape" || ok
expect_out "promtool names the counter" "weir_bad_packets"
expect_out "promtool names the family without HELP" "weir_nohelp"

echo "promtool_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
