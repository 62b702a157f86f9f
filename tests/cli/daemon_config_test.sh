#!/usr/bin/env bash
# weir daemon: what daemon_test.sh does not cover. Config: duplicate interfaces, per-interface
# `policy`, `mode` and `include_dirs` (beside the top-level `include_dirs`); --once exit codes
# (0, 1 for a policy failure, 2 for an environment one, 2 when both); `"listen": "off"` and
# `--listen off` (no HTTP socket); a metrics address that cannot be bound (exit 2 before
# anything is loaded); /healthz 503 while the main loop is stuck (the interface lock held by
# the test during a reload) and 200 again after; and a value for every metric family the other
# scripts do not assert (timestamps, policy info, swaps, set edits, default and verdict bytes,
# errors, log ring drops, alert thresholds). A veth pair with its peer in a private namespace
# (198.19.0.0/16 only); root only (exit 77, ctest's skip, otherwise).
# Usage: daemon_config_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_live_test "$@"
DPID= LPID= HOLD=
extra_cleanup() {
    local p
    for p in $DPID $LPID $HOLD; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
}
peer_in_netns dcfg 198.19

# config FILE BODY-OF-INTERFACES [TOP-LEVEL KEYS]: a daemon config in $TMP.
config() {
    printf '{\n  %s\n  "debounce_ms": 100,\n  "interfaces": [ %s ]\n}\n' "${3:-}" "$2" >"$TMP/$1"
}
# start_daemon CONFIG [ARGS...]: runs the daemon, events into $TMP/events.
start_daemon() {
    # Emptied here, not by the background shell: waits must not see the last daemon's events.
    : >"$TMP/events"
    "$WEIR" daemon --config "$TMP/$1" "${@:2}" >"$TMP/events" 2>"$TMP/stderr" &
    DPID=$!
}
# listening: waits for the `listening` event, sets PORT.
listening() {
    wait_event listening 1 || return 1
    PORT=$(grep '"event":"listening"' "$TMP/events" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])')
}
stop_daemon() {
    kill -TERM "$DPID"
    wait "$DPID"
    local rc=$?
    DPID=
    if [[ $rc -eq 0 ]]; then ok; else bad "daemon exit $rc after SIGTERM"; sed 's/^/    /' "$TMP/stderr"; fi
}
# event_field EVENT KEY: KEY of the last EVENT in $TMP/events (or of $TMP/out with a third argument).
event_field() {
    grep "\"event\":\"$1\"" "${3:-$TMP/events}" | tail -1 |
        python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$2" 2>/dev/null
}
# sockets PID: the TCP sockets PID listens on.
sockets() { ss -Htlnp 2>/dev/null | grep -c "pid=$1," ; }
# wait_until SECONDS CMD...: until CMD succeeds; false after SECONDS.
wait_until() {
    local t=$1
    shift
    for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done
    return 1
}
healthz_is() { get /healthz && grep -q "^HTTP/1.[01] $1 " "$TMP/out"; }

mkdir -p "$TMP/top" "$TMP/own"
printf 'const dns = 53\n' >"$TMP/top/top.weir"
printf 'const probe-port = 9999\n' >"$TMP/own/own.weir"
cat >"$TMP/two.weir" <<'WEIR'
include "top.weir"
include "own.weir"

set blocked : ip4 = { 198.19.250.0/24 }

policy dc-a default pass {
    probe: count if udp.dport == $probe-port
}

policy dc-b default pass {
    probe:   count if udp.dport == $probe-port
    dns:     drop if udp.dport == $dns
    blocked: drop if ip.src in @blocked
    logged:  log snap 256 if udp.dport == 9997
}

alert probes on dc-b when rate(probe, bytes) > 2kbytes/s for 5s severity info "probe bytes"
WEIR
printf 'policy broken default pass {\n    r: drop if udp.dprot == 1\n}\n' >"$TMP/broken.weir"
NOIF=wd$$nx

# ---- config: duplicates ----
config dup.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\"}, {\"interface\": \"$DEV\", \"file\": \"broken.weir\"}"
expect_rc "an interface configured twice" 2 "$WEIR" daemon --config "$TMP/dup.json" --once
expect_out "says which" "interfaces[1]: interface '$DEV' is configured twice"
[[ -z $(status_field "$DEV" policy) ]] && ok || bad "a bad config loaded something"

# ---- config: only a regular file; allowed_dirs confine policies, includes and set files ----
mkfifo "$TMP/fifo.json"
expect_rc "a FIFO as config: an error, not a wait" 2 timeout 20 "$WEIR" daemon --config "$TMP/fifo.json" --once
expect_out "says what it is" "it is a FIFO, not a regular file"
config outside.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\"}" '"allowed_dirs": ["own"],'
expect_rc "a policy outside allowed_dirs" 2 "$WEIR" daemon --config "$TMP/outside.json" --once
expect_out "names the key" "interfaces[0].file '$TMP/two.weir' is outside \"allowed_dirs\""
printf 'set s : ip = file "secret.txt"\npolicy p default pass {\n    r: drop if ip.src in @s\n}\n' >"$TMP/own/leak.weir"
printf 'token: s3cr3t\n' >"$TMP/secret.txt"
ln -s "$TMP/secret.txt" "$TMP/own/secret.txt"
config link.json "{\"interface\": \"$DEV\", \"file\": \"own/leak.weir\"}" '"allowed_dirs": ["own"],'
expect_rc "a set file that links out of allowed_dirs" 1 "$WEIR" daemon --config "$TMP/link.json" --once
expect_out "is refused" "it is outside the folders policies may be read from"
grep -q s3cr3t "$TMP/out" && bad "the secret was echoed" || ok

# ---- --once exit codes ----
config env.json "{\"interface\": \"$NOIF\", \"file\": \"two.weir\", \"policy\": \"dc-a\", \"include_dirs\": [\"top\", \"own\"]}"
expect_rc "--once, no such interface: environment" 2 "$WEIR" daemon --config "$TMP/env.json" --once
[[ $(event_field reload_failed kind "$TMP/out") == environment ]] && ok || bad "--once: kind is not environment"
[[ $(event_field reload_failed retry_in_s "$TMP/out") == None ]] && ok || bad "--once schedules no retry"
config pol.json "{\"interface\": \"$DEV\", \"file\": \"broken.weir\"}"
expect_rc "--once, a policy that does not compile" 1 "$WEIR" daemon --config "$TMP/pol.json" --once
[[ $(event_field reload_failed kind "$TMP/out") == policy ]] && ok || bad "--once: kind is not policy"
config both.json "{\"interface\": \"$DEV\", \"file\": \"broken.weir\"}, {\"interface\": \"$NOIF\", \"file\": \"two.weir\", \"policy\": \"dc-a\", \"include_dirs\": [\"top\", \"own\"]}"
expect_rc "--once, both kinds: 2" 2 "$WEIR" daemon --config "$TMP/both.json" --once
[[ $(grep -c '"event":"reload_failed"' "$TMP/out") -eq 2 ]] && ok || bad "--once did not try every interface"

# ---- per-interface policy, mode, include_dirs ----
config nopolicy.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"include_dirs\": [\"own\"]}" '"include_dirs": ["top"],'
expect_rc "--once, two policies and no \"policy\"" 1 "$WEIR" daemon --config "$TMP/nopolicy.json" --once
expect_out "names the choices" "has 2 policies (dc-a, dc-b): choose one with \\\"policy\\\""
config noinc.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"policy\": \"dc-b\"}" '"include_dirs": ["top"],'
expect_rc "--once without the interface's include_dirs" 1 "$WEIR" daemon --config "$TMP/noinc.json" --once
expect_out "own.weir is not found" "cannot find included file 'own.weir'"
config missing.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"policy\": \"dc-z\", \"include_dirs\": [\"own\"]}" '"include_dirs": ["top"],'
expect_rc "--once, no such policy" 1 "$WEIR" daemon --config "$TMP/missing.json" --once
expect_out "says so" "no policy named 'dc-z' in $TMP/two.weir (it has: dc-a, dc-b)"
config gen.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"policy\": \"dc-b\", \"mode\": \"generic\", \"include_dirs\": [\"own\"]}" '"include_dirs": ["top"],'
expect_rc "--once with policy, mode generic, both include_dirs" 0 "$WEIR" daemon --config "$TMP/gen.json" --once
[[ $(event_field loaded mode "$TMP/out") == generic ]] && ok || bad "loaded event mode is not generic"
expect_status "the configured policy" "$DEV" policy dc-b
expect_status "the configured mode" "$DEV" mode generic
config native.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"policy\": \"dc-b\", \"mode\": \"native\", \"include_dirs\": [\"own\"]}" '"include_dirs": ["top"],'
expect_rc "--once asking native over a generic attachment" 2 "$WEIR" daemon --config "$TMP/native.json" --once
[[ $(event_field reload_failed running "$TMP/out") == dc-b ]] && ok || bad "the refusal does not name the running policy"
[[ $(event_field reload_failed step "$TMP/out") == mode && $(event_field reload_failed kind "$TMP/out") == environment ]] \
    && ok || bad "the mode refusal is not step mode, kind environment"
expect_status "still generic" "$DEV" mode generic
config auto.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"policy\": \"dc-b\", \"mode\": \"auto\", \"include_dirs\": [\"own\"]}" '"include_dirs": ["top"],'
expect_rc "--once with mode auto adopts the generic attachment" 0 "$WEIR" daemon --config "$TMP/auto.json" --once
expect_out "adopted" '"event":"adopted"'
expect_rc "unload" 0 "$WEIR" unload --dev "$DEV"

# ---- a metrics address that cannot be bound: exit 2, nothing loaded ----
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(120)' >"$TMP/busy" &
LPID=$!
wait_until 10 test -s "$TMP/busy" || bad "the port holder did not start"
BUSY=$(cat "$TMP/busy")
config cfg.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"policy\": \"dc-b\", \"include_dirs\": [\"own\"]}" '"include_dirs": ["top"], "listen": "127.0.0.1:0",'
expect_rc "--listen on a port in use" 2 "$WEIR" daemon --config "$TMP/cfg.json" --listen "127.0.0.1:$BUSY"
expect_out "fatal event" '"event":"fatal"'
expect_out "names the address" "cannot listen on 127.0.0.1:$BUSY"
if grep -qE '"event":"(loaded|adopted|reloaded)"' "$TMP/out"; then bad "loaded before failing to listen"; else ok; fi
[[ -z $(status_field "$DEV" policy) ]] && ok || bad "a daemon that could not listen loaded a policy"
kill "$LPID"; wait "$LPID" 2>/dev/null; LPID=
config far.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"policy\": \"dc-b\", \"include_dirs\": [\"own\"]}" '"include_dirs": ["top"], "listen": "198.19.255.254:9464",'
expect_rc "\"listen\" on an address this host lacks" 2 "$WEIR" daemon --config "$TMP/far.json"
expect_out "names the address" "cannot listen on 198.19.255.254:9464"
[[ -z $(status_field "$DEV" policy) ]] && ok || bad "a daemon that could not listen loaded a policy"

# ---- "listen": "off" and --listen off ----
config off.json "{\"interface\": \"$DEV\", \"file\": \"two.weir\", \"policy\": \"dc-b\", \"include_dirs\": [\"own\"]}" '"include_dirs": ["top"], "listen": "off",'
start_daemon off.json
wait_event loaded 1
[[ $(events listening) -eq 0 ]] && ok || bad "\"listen\": \"off\" still listens"
[[ $(sockets "$DPID") -eq 0 ]] && ok || bad "\"listen\": \"off\": the daemon has a listening socket"
expect_status "loaded without HTTP" "$DEV" policy dc-b
stop_daemon
start_daemon cfg.json --listen off
wait_event adopted 1
[[ $(events listening) -eq 0 && $(sockets "$DPID") -eq 0 ]] && ok || bad "--listen off still listens"
stop_daemon

# ---- metrics: a value for every family ----
T0=$(date +%s)
start_daemon cfg.json
listening || exit 1
wait_event adopted 1
T1=$(date +%s)
[[ $(sockets "$DPID") -eq 1 ]] && ok || bad "the daemon listens on $(sockets "$DPID") sockets, not 1"
# in_range NAME VALUE LO HI: LO <= VALUE <= HI (numbers).
in_range() {
    if python3 -c 'import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(0 if lo <= v <= hi else 1)' "$2" "$3" "$4" 2>/dev/null; then
        ok
    else
        bad "$1 is '$2', not in [$3, $4]"
    fi
}
# Traffic: 4 probes (count, then the default passes them), 3 to dns (dropped), 2 from nowhere
# the policy names (default). Then wait until the verdict counters show all 9: drained.
udp_probes 4 9999
udp_probes 3 53
udp_probes 2 7
drained() { [[ $("$WEIR" stats --dev "$DEV" --json | python3 -c 'import json,sys; v=json.load(sys.stdin)[0]["verdicts"]; print(v["pass"]["packets"] + v["drop"]["packets"])') -ge 9 ]]; }
wait_until 20 drained || bad "the 9 probes were not all counted in 20 s"
"$WEIR" set add --dev "$DEV" blocked 198.19.251.1 >/dev/null || bad "set add"
get /metrics
L="interface=\"$DEV\""
expect_metric "up" "weir_up" 1
in_range "start time" "$(metric weir_daemon_start_time_seconds)" "$T0" "$T1"
in_range "last reload (the adoption)" "$(metric "weir_daemon_last_reload_timestamp_seconds{$L}")" "$T0" "$T1"
expect_metric "policy info" "weir_policy_info{$L,policy=\"dc-b\",source_hash=\"$(status_field "$DEV" source_hash)\",mode=\"$(status_field "$DEV" mode)\",prog_id=\"$(status_field "$DEV" prog_id)\"}" 1
expect_metric "swaps" "weir_policy_swaps_total{$L}" "$(status_field "$DEV" swaps)"
LOADED=$(date -d "$(status_field "$DEV" loaded_at)" +%s)
expect_metric "loaded at" "weir_policy_loaded_timestamp_seconds{$L}" "$LOADED"
expect_metric "one live edit of the set's IPv4 table" "weir_set_live_edits{$L,set=\"blocked\",kind=\"v4\"}" 1
expect_metric "set elements after the edit" "weir_set_elements{$L,set=\"blocked\"}" 2
expect_metric "default packets" "weir_default_packets_total{$L,policy=\"dc-b\",verdict=\"pass\"}" 6
expect_metric "default bytes" "weir_default_bytes_total{$L,policy=\"dc-b\",verdict=\"pass\"}" 360
expect_metric "pass bytes" "weir_verdict_bytes_total{$L,verdict=\"pass\"}" 360
expect_metric "drop bytes" "weir_verdict_bytes_total{$L,verdict=\"drop\"}" 180
expect_metric "count rule bytes" "weir_rule_bytes_total{$L,policy=\"dc-b\",rule=\"probe\",action=\"count\"}" 240
expect_metric "no errors" "weir_error_packets_total{$L}" 0
expect_metric "no log drops yet" "weir_log_ring_drops_total{$L}" 0
expect_metric "alert threshold in bytes per second" "weir_alert_threshold{alert=\"probes\",policy=\"dc-b\",$L}" 2000
# The log ring (256 KiB, 296-byte records: under 900 fit) overflows: nobody reads it here.
udp_probes 1200 9997
drops() { "$WEIR" stats --dev "$DEV" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["log_drops"]["packets"])'; }
wait_until 20 test "$(drops)" -ge 300 || bad "the log ring did not overflow: $(drops) drops"
get /metrics
expect_metric "log ring drops as weir stats counts them" "weir_log_ring_drops_total{$L}" "$(drops)"

# ---- /healthz: 503 while the main loop is stuck, 200 again after ----
healthz_is 200 && ok || bad "/healthz is not 200: $(head -1 "$TMP/out")"
expect_out "healthz body" "ok"
# Hold the interface lock, then change the file: the reload blocks on the lock in the main loop.
# (The holder is the process with the lock's descriptor: killing it releases the lock.)
bash -c 'exec 9>>"$1" && flock 9 && exec sleep 300' _ "$WEIR_RUN_DIR/$DEV.lock" &
HOLD=$!
wait_until 10 bash -c '! flock -n "$1" true' _ "$WEIR_RUN_DIR/$DEV.lock" || bad "the test could not take the lock"
printf '\n# a change\n' >>"$TMP/two.weir"
wait_until 30 healthz_is 503 && ok || bad "/healthz never went 503 with the main loop stuck"
expect_out "503 says why" "main loop stalled"
kill "$HOLD"; wait "$HOLD" 2>/dev/null; HOLD=
wait_until 30 healthz_is 200 && ok || bad "/healthz did not come back to 200"
wait_event reloaded 1
in_range "last reload (the swap)" "$(get /metrics; metric "weir_daemon_last_reload_timestamp_seconds{$L}")" "$T1" "$(date +%s)"
get /metrics
expect_metric "the daemon's reload counted" "weir_daemon_reloads_total{$L}" 1
expect_metric "the swap counted" "weir_policy_swaps_total{$L}" "$(status_field "$DEV" swaps)"
# The swap kept the set's declaration: its live contents and edit count carry over.
expect_metric "a swap keeping the set keeps its live edits" "weir_set_live_edits{$L,set=\"blocked\",kind=\"v4\"}" 1
expect_metric "and its elements" "weir_set_elements{$L,set=\"blocked\"}" 2
stop_daemon

echo "daemon config: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
