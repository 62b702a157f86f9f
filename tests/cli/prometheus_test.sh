#!/usr/bin/env bash
# A real Prometheus server (Debian package prometheus, installed by scripts/setup) scrapes the
# daemon: a policy on a veth pair whose peer is in a private namespace (root only; exit 77,
# ctest's skip, otherwise), Prometheus on loopback with its own config and storage in $TMP and a
# 1 s scrape interval. Its scrape target is up with no scrape error, and a PromQL query through
# its HTTP API returns the rule's counter: 0 before the traffic, then equal to the datagrams sent.
# Usage: prometheus_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
command -v prometheus >/dev/null || { echo "FAIL: prometheus missing: run scripts/setup (package prometheus)"; exit 1; }
DPID= PROM_PID=
extra_cleanup() {
    [[ -n $PROM_PID ]] && kill -KILL "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
    [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
}
peer_in_netns prometheus 198.18

printf 'policy scraped default pass {\n    probe: count if udp.dport == 9999\n}\n\n%s\n' \
    'alert probe-rate when rate(probe) > 1000/s for 5s severity warning "probes"' >"$TMP/edge.weir"
cat >"$TMP/daemon.json" <<EOF
{ "listen": "127.0.0.1:0", "debounce_ms": 100,
  "interfaces": [ { "interface": "$DEV", "file": "edge.weir" } ] }
EOF
start_weir_daemon "$TMP/daemon.json" || exit 1
wait_event loaded 1

# prom.py: the test's calls to Prometheus, each one python3 process that polls by itself.
#   port: a free loopback port (the kernel picks it; a clash shows as Prometheus not getting ready)
#   ready URL SECONDS: until /-/ready answers
#   wait URL SECONDS EXPR VALUE: until the instant query EXPR gives one series of value VALUE;
#     prints it as "LABELS VALUE"; on a timeout, what the query last gave, and exit 1
#   target URL SECONDS INSTANCE: until the scrape target INSTANCE is up with no scrape error
cat >"$TMP/prom.py" <<'PY'
import json, socket, sys, time, urllib.parse, urllib.request
cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "port":
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    sys.exit(0)
base, end = args[0], time.monotonic() + float(args[1])
def get(path):
    return json.load(urllib.request.urlopen(base + path, timeout=5))
last = None
while True:
    try:
        if cmd == "ready":
            urllib.request.urlopen(base + "/-/ready", timeout=5)
            sys.exit(0)
        if cmd == "wait":
            r = get("/api/v1/query?" + urllib.parse.urlencode({"query": args[2]}))
            last = [(s["metric"], s["value"][1]) for s in r["data"]["result"]]
            if len(last) == 1 and last[0][1] == args[3]:
                print(json.dumps(last[0][0], sort_keys=True), last[0][1])
                sys.exit(0)
        if cmd == "target":
            last = [t for t in get("/api/v1/targets")["data"]["activeTargets"]
                    if t["labels"]["instance"] == args[2]]
            if len(last) == 1 and last[0]["health"] == "up" and last[0]["lastError"] == "":
                sys.exit(0)
    except (OSError, ValueError) as e:
        last = e
    if time.monotonic() > end:
        print("timed out; last:", last)
        sys.exit(1)
    time.sleep(0.2)
PY
prom() { python3 "$TMP/prom.py" "$1" "http://127.0.0.1:$PROM_PORT" "${@:2}"; }

PROM_PORT=$(python3 "$TMP/prom.py" port)
cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: weir
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
EOF
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$TMP/prometheus.log" 2>&1 &
PROM_PID=$!
if ! prom ready 60 >"$TMP/out" 2>&1; then
    bad "Prometheus not ready in 60 s:"
    tail -20 "$TMP/prometheus.log" | sed 's/^/    /'
    echo "prometheus_test: $passed passed, $failed failed"
    exit 1
fi
ok

# One scrape before the traffic: the counter's zero is in Prometheus.
Q="weir_rule_packets_total{job=\"weir\",interface=\"$DEV\",policy=\"scraped\",rule=\"probe\"}"
expect_rc "$Q is 0 before the traffic" 0 prom wait 30 "$Q" 0
udp_probes 11 9999
expect_rc "$Q is the datagrams sent" 0 prom wait 30 "$Q" 11
expect_out "the series has the rule's labels" '"action": "count"'
expect_rc "the scrape target is up, no scrape error" 0 prom target 10 "127.0.0.1:$PORT"
expect_rc "up is 1" 0 prom wait 10 'up{job="weir"}' 1

echo "prometheus_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
