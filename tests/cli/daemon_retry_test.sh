#!/usr/bin/env bash
# End-to-end test of the daemon's retries (docs/deploy.md "Retries"; root only, exit 77 otherwise):
# the config names a veth that does not exist yet, so the first load fails for an environment
# reason; the daemon retries by itself with a doubling backoff (reload_failed events with
# retry_in_s 1, then 2; weir_daemon_retries_total and weir_daemon_retry_backoff_seconds); the
# veth is created -- no file change, no SIGHUP -- and a retry attaches the policy, which then
# counts datagrams sent from a private namespace (198.19.0.0/16). A policy error is not retried:
# its reload_failed has retry_in_s null and no retry follows.
# Usage: daemon_retry_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
DPID=
extra_cleanup() { [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; }
peer_in_netns retry 198.19 later  # the veth is created further down, while the daemon runs

# event_with PYTHON-CONDITION: some event line `e` (a dict) satisfies the condition.
event_with() {
    python3 - "$TMP/events" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if eval(sys.argv[2]):
        sys.exit(0)
sys.exit(1)
PY
}
# wait_for PYTHON-CONDITION: until some event satisfies it (30 s at most).
wait_for() {
    wait_until 30 event_with "$1" && { ok; return 0; }
    bad "no event with $1 within 30 s; events:"
    sed 's/^/    /' "$TMP/events"
    return 1
}
# retry_metrics_agree: a scrape whose retries_total r and backoff b are those of the event of
# retry attempt r (retry_in_s b). Retries go on while the script reads, so it checks the pair
# wherever they are, and scrapes again while a retry is between counting and scheduling.
retry_metrics_agree() {
    get /metrics || return 1
    local r b
    r=$(metric "weir_daemon_retries_total{interface=\"$DEV\"}")
    b=$(metric "weir_daemon_retry_backoff_seconds{interface=\"$DEV\"}")
    [[ $r =~ ^[0-9]+$ && $r -ge 1 && $b =~ ^[0-9]+$ ]] &&
        event_with "e['event'] == 'reload_failed' and e.get('attempt') == $r and e['retry_in_s'] == $b"
}

# The policy in a folder of its own: the daemon watches it (events and scrapes go to $TMP).
mkdir -p "$TMP/cfg"
printf 'policy retry-a default pass {\n    probe: count if udp.dport == 9999\n}\n' >"$TMP/cfg/edge.weir"
cat >"$TMP/cfg/daemon.json" <<JSON
{ "listen": "127.0.0.1:0", "debounce_ms": 100,
  "interfaces": [ { "interface": "$DEV", "file": "edge.weir" } ] }
JSON
mtime=$(stat -c %Y.%N "$TMP/cfg/edge.weir")

# --- the interface does not exist: environment failures, retried with backoff ---
"$WEIR" daemon --config "$TMP/cfg/daemon.json" >"$TMP/events" 2>"$TMP/stderr" &
DPID=$!
wait_for 'e["event"] == "listening"'
PORT=$(grep '"event":"listening"' "$TMP/events" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])')
wait_for 'e["event"] == "reload_failed" and e["reason"] == "start" and e["kind"] == "environment" and e["retry_in_s"] == 1'
wait_for 'e["event"] == "reload_failed" and e["reason"] == "retry" and e["attempt"] == 1 and e["retry_in_s"] == 2'
wait_until 30 retry_metrics_agree && ok || bad "retries_total and retry_backoff_seconds match no retry event: $(grep retr "$TMP/out")"
expect_metric "nothing loaded yet" "weir_daemon_reloads_total{interface=\"$DEV\"}" 0

# --- the veth appears: a retry attaches the policy (no file change, no SIGHUP) ---
peer_veth
wait_for 'e["event"] == "loaded" and e["reason"] == "retry" and e["policy"] == "retry-a"'
[[ $(grep -c '"reason":"change"' "$TMP/events") -eq 0 ]] && ok || bad "a file change was seen"
[[ $(stat -c %Y.%N "$TMP/cfg/edge.weir") == "$mtime" ]] && ok || bad "the policy file changed"
[[ $(events sighup) -eq 0 ]] && ok || bad "a SIGHUP was seen"
[[ $("$WEIR" status --dev "$DEV" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["policy"])') == retry-a ]] &&
    ok || bad "status does not show retry-a on $DEV"
udp_probes 5 9999
wait_metric "the attached policy counts" "weir_rule_packets_total{interface=\"$DEV\",policy=\"retry-a\",rule=\"probe\",action=\"count\"}" 5
expect_metric "no retry scheduled" "weir_daemon_retry_backoff_seconds{interface=\"$DEV\"}" 0
expect_metric "loaded once" "weir_daemon_reloads_total{interface=\"$DEV\"}" 1
retries=$(metric "weir_daemon_retries_total{interface=\"$DEV\"}")
[[ $retries -ge 2 ]] && ok || bad "retries_total is '$retries', wanted at least 2"

# --- a policy error is not retried ---
printf 'policy retry-a default pass {\n    probe: count if udp.dport == 99999\n}\n' >"$TMP/cfg/edge.weir"
wait_for 'e["event"] == "reload_failed" and e["reason"] == "change" and e["kind"] == "policy" and e["retry_in_s"] is None'
# The daemon cancels the schedule before it prints the event: with backoff 0 no retry is due, so
# none can follow (no need to wait and watch for one).
get /metrics
expect_metric "no retry after a policy error" "weir_daemon_retry_backoff_seconds{interface=\"$DEV\"}" 0
expect_metric "no retry started" "weir_daemon_retries_total{interface=\"$DEV\"}" "$retries"

kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
[[ $rc -eq 0 ]] && ok || bad "daemon exit $rc after SIGTERM"

echo "daemon_retry_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
