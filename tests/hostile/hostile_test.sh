#!/usr/bin/env bash
# Hostile and careless input (docs/security.md): each case is a reproducer of an input that once
# crashed, hung, leaked or overwrote, and must now get a clear error, bounded time and memory, or
# the safe behaviour. `timeout` only bounds how long a hang takes to show; nothing here depends on
# speed. Cases kept elsewhere (run by the same suite): control characters and cut lines in
# excerpts (tests/golden), capture through a planted symlink (tests/cli/events_test.sh), a FIFO
# daemon config and allowed_dirs (tests/cli/daemon_config_test.sh), slowloris on the HTTP server
# itself (tests/unit/test_http_server.cpp), the compile worker's limits (codegen_fault_test.sh).
# Root only (a foreign-owned pin root, a live daemon under slowloris); exit 77 otherwise.
# Usage: hostile_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
begin_live_test "$@"
DPID=
FOREIGN=
extra_cleanup() {
    [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    [[ -n $FOREIGN ]] && rm -rf "$FOREIGN" "$FOREIGN-link"
}
peer_in_netns hostile 198.19
H=$TMP/h
mkdir -p "$H"
rule='policy p default pass {\n    r: drop if udp.dport == 9\n}\n'

# ---- crashes and hangs ----
{ printf 'policy p default pass {\n    r: drop if '; printf '(%.0s' $(seq 10000); printf 'tcp.dport == 1'; printf ')%.0s' $(seq 10000); printf '\n}\n'; } >"$H/deep.weir"
expect_rc "10,000 nested parentheses: an error, not a stack overflow" 1 timeout 60 "$WEIR" check "$H/deep.weir"
expect_out "nesting-too-deep" "nest"
{ printf 'policy p default pass {\n    r: drop if '; printf 'not %.0s' $(seq 10000); printf 'tcp.dport == 1\n}\n'; } >"$H/nots.weir"
expect_rc "10,000 nested nots" 1 timeout 60 "$WEIR" check "$H/nots.weir"

expect_rc "/dev/zero as the policy (unreadable: 2)" 2 timeout 30 "$WEIR" check /dev/zero
expect_out "refused" "it is a character device, not a regular file"
printf 'include "/dev/zero"\n'"$rule" >"$H/inc-zero.weir"
expect_rc "/dev/zero included" 1 timeout 30 "$WEIR" check "$H/inc-zero.weir"
expect_out "refused" "character device"
printf 'set s : ip = file "/dev/zero"\npolicy p default pass {\n    r: drop if ip.src in @s\n}\n' >"$H/set-zero.weir"
expect_rc "/dev/zero as a set file" 1 timeout 30 "$WEIR" check "$H/set-zero.weir"
expect_out "refused" "character device"

mkfifo "$H/fifo.weir" "$H/fifo.txt"
expect_rc "a FIFO as the policy: no wait" 2 timeout 30 "$WEIR" check "$H/fifo.weir"
expect_out "refused" "it is a FIFO"
printf 'include "fifo.weir"\n'"$rule" >"$H/inc-fifo.weir"
expect_rc "a FIFO included" 1 timeout 30 "$WEIR" check "$H/inc-fifo.weir"
printf 'set s : ip = file "fifo.txt"\npolicy p default pass {\n    r: drop if ip.src in @s\n}\n' >"$H/set-fifo.weir"
expect_rc "a FIFO as a set file" 1 timeout 30 "$WEIR" check "$H/set-fifo.weir"
expect_out "refused" "it is a FIFO"

mkdir -p "$H/dir.weir" "$H/allowdir"
expect_rc "a directory as the policy: not an empty policy" 2 "$WEIR" check "$H/dir.weir"
expect_out "refused" "it is a directory"
printf 'set allow : ip = file "allowdir"\npolicy p default pass {\n    r: drop if ip.src not in @allow\n}\n' >"$H/set-dir.weir"
expect_rc "a directory as a set file: not an empty set" 1 "$WEIR" check "$H/set-dir.weir"
expect_out "refused" "it is a directory"

python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(2_000_000):
        f.write("10.%d.%d.%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255))' "$H/2m.txt"
printf 'set big : ip = file "2m.txt"\npolicy p default pass {\n    r: drop if ip.src in @big\n}\n' >"$H/big.weir"
# Read whole in linear time, then refused as a policy error: more entries than a set table holds.
expect_rc "a 2,000,000-line set file: read, then over the table capacity" 1 timeout 120 "$WEIR" check "$H/big.weir"
expect_out "a located policy error" "needs more than 1,048,576 set table entries"

# ---- no content leaks ----
printf 'db_password = hunter2-secret\napi_token: 7f3a9c1e\n' >"$H/secret.conf"
chmod 600 "$H/secret.conf"
printf 'set s : ip = file "secret.conf"\npolicy p default pass {\n    r: drop if ip.src in @s\n}\n' >"$H/leak.weir"
for fmt in text json; do
    expect_rc "a secret as a set file ($fmt)" 1 "$WEIR" check --format "$fmt" "$H/leak.weir"
    grep -qE 'hunter2|7f3a9c1e' "$TMP/out" && bad "the secret leaked in $fmt diagnostics" || ok
done
expect_out "reported once, by line number" "the first bad lines: 1, 2"

printf 'policy p default pass {\n    r: drop if tcp.dport == 1 \033]52;c;ZXZpbA==\007\n}\n' >"$H/ctl.weir"
expect_rc "control characters in an excerpt" 1 "$WEIR" check --color never "$H/ctl.weir"
grep -q $'\033' "$TMP/out" && bad "ESC reached the terminal raw" || ok
expect_out "shown escaped" '\x1b'
python3 -c 'import sys; open(sys.argv[1], "w").write("policy p default pass {\n    r: drop if tcp.dport == " + "9" * 10_000_000 + "\n}\n")' "$H/long.weir"
expect_rc "a 10 MB line" 1 timeout 60 "$WEIR" check "$H/long.weir"
(($(wc -c <"$TMP/out") < 10000)) && ok || bad "a 10 MB line was echoed: $(wc -c <"$TMP/out") bytes of output"

# ---- safe file writes ----
printf 'policy p default pass {\nr: drop if udp.dport == 9\n}\n' >"$H/target.weir"
ln -s target.weir "$H/link.weir"
expect_rc "fmt --write through a symlink" 0 "$WEIR" fmt --write "$H/link.weir"
[[ -L $H/link.weir ]] && ok || bad "fmt --write replaced the symlink with a file"
grep -q '^    r: drop' "$H/target.weir" && ok || bad "fmt --write did not format the link's target"

# ---- owned state ----
FOREIGN=/sys/fs/bpf/weir-hostile-foreign-$$
mkdir -p "$FOREIGN"
chown 65534:65534 "$FOREIGN"
printf "$rule" >"$H/ok.weir"
WEIR_PIN_ROOT=$FOREIGN expect_rc "a pin root owned by someone else" 2 "$WEIR" load --dev "$DEV" "$H/ok.weir"
expect_out "refused, naming the owner" "owned by uid 65534"
[[ -z $(status_field "$DEV" policy) ]] && ok || bad "a load with a foreign pin root attached something"
ln -s "$FOREIGN" "$FOREIGN-link"
chown -h 0:0 "$FOREIGN-link"
chown 0:0 "$FOREIGN"
WEIR_PIN_ROOT=$FOREIGN-link expect_rc "a pin root that is a symlink" 2 "$WEIR" load --dev "$DEV" "$H/ok.weir"
expect_out "refused" "is a symbolic link"
rm -rf "$FOREIGN" "$FOREIGN-link"

# ---- a set edit killed midway ----
printf 'set bl : ip4 = { 198.18.250.0/24 }\npolicy p default pass {\n    r: drop if ip.src in @bl\n}\n' >"$H/set.weir"
expect_rc "load a policy with a set" 0 "$WEIR" load --dev "$DEV" "$H/set.weir"
for point in set-after-entries set-after-meta; do
    WEIR_INJECT_KILL=$point expect_rc "weir set add killed at $point" 137 \
        "$WEIR" set add --dev "$DEV" bl 198.18.251.1 198.18.252.0/25 198.18.253.7-198.18.253.9
    [[ -f $WEIR_RUN_DIR/$DEV.set-journal ]] && ok || bad "no set journal after a kill at $point"
    if [[ $point == set-after-entries ]]; then
        expect_rc "the next command (status) rolls it back" 0 "$WEIR" status --dev "$DEV"
    else
        expect_rc "the next command (set list) rolls it back" 0 "$WEIR" set list --dev "$DEV" bl
    fi
    expect_out "it says so" "rolled back an interrupted set edit of @bl (add, 3 elements)"
    expect_rc "set list after the rollback" 0 "$WEIR" set list --dev "$DEV" bl
    [[ $(grep -c . "$TMP/out") == 1 ]] && expect_out "the old contents, exactly" "198.18.250.0/24" ||
        bad "set list after a rollback: $(cat "$TMP/out")"
    [[ ! -e $WEIR_RUN_DIR/$DEV.set-journal ]] && ok || bad "the journal outlived its rollback"
done
expect_rc "the same add, not killed" 0 "$WEIR" set add --dev "$DEV" bl 198.18.251.1 198.18.252.0/25 198.18.253.7-198.18.253.9
expect_rc "del of an address inside a stored prefix" 1 "$WEIR" set del --dev "$DEV" bl 198.18.250.7
expect_out "a policy error, nothing deleted" "is not in set 'bl'"
"$WEIR" unload --dev "$DEV" >/dev/null 2>&1

# ---- a daemon a stranger cannot stall ----
printf '{"listen": "127.0.0.1:0", "interfaces": [{"interface": "%s", "file": "%s"}]}\n' "$DEV" "$H/ok.weir" >"$H/d.json"
"$WEIR" daemon --config "$H/d.json" >"$TMP/events" 2>"$TMP/stderr" &
DPID=$!
wait_event listening 1
PORT=$(grep '"event":"listening"' "$TMP/events" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])')
wait_event loaded 1
# 500 connections that send a partial request and hold it, then scrapes with a 1 s deadline.
python3 - "$PORT" >"$TMP/slowloris" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(500):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
    held.append(s)
def scrape(path):
    s = socket.create_connection(("127.0.0.1", port), timeout=1.0)
    s.sendall(b"GET " + path + b" HTTP/1.1\r\n\r\n")
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "timeout"
    return data.split(b"\r\n")[0].decode()
print(scrape(b"/healthz"))
print(scrape(b"/metrics"))
PY
[[ $(sed -n 1p "$TMP/slowloris") == "HTTP/1.1 200 OK" ]] && ok || bad "/healthz under slowloris: $(cat "$TMP/slowloris")"
[[ $(sed -n 2p "$TMP/slowloris") == "HTTP/1.1 200 OK" ]] && ok || bad "/metrics under slowloris: $(cat "$TMP/slowloris")"
kill -TERM "$DPID"
wait "$DPID" && ok || bad "daemon exit after SIGTERM"
DPID=
"$WEIR" unload --dev "$DEV" >/dev/null 2>&1

# A policy file replaced again and again while the daemon reloads it: every load is of the text
# that was checked (no false reload_failed, each event's source_hash is that of the policy it
# names), and the daemon ends on the last version.
F=$H/swapped.weir
# Two thousand rules each, so that a compile takes long enough for the file to change under it.
for v in 1 2; do
    { echo "policy pv$v default pass {"
      for ((r = 0; r < 2000; r++)); do echo "    r$r: drop if ip.src == 198.18.$((r / 250)).$((r % 250 + v)) and udp.dport == $((1000 + r))"; done
      echo "}"; } >"$H/v$v"
done
cp "$H/v1" "$F"
printf '{"listen": "127.0.0.1:0", "debounce_ms": 0, "interfaces": [{"interface": "%s", "file": "%s"}]}\n' "$DEV" "$F" >"$H/d.json"
: >"$TMP/events"
"$WEIR" daemon --config "$H/d.json" >"$TMP/events" 2>"$TMP/stderr" &
DPID=$!
wait_event loaded 1
end=$((SECONDS + 4))
for ((i = 0; SECONDS < end; i++)); do
    cp "$H/v$((i % 2 + 1))" "$H/next" && mv -f "$H/next" "$F"
done
cp "$H/v2" "$H/next" && mv -f "$H/next" "$F"
hash_of() { python3 -c 'import hashlib,sys; t=open(sys.argv[2],"rb").read(); print(hashlib.sha256(sys.argv[1].encode()+b"\0"+str(len(t)).encode()+b"\0"+t).hexdigest())' "$F" "$1"; }
H1=$(hash_of "$H/v1")
H2=$(hash_of "$H/v2")
_settled() { [[ $(status_field "$DEV" policy) == pv2 && $(status_field "$DEV" source_hash) == "$H2" ]]; }
wait_until 30 _settled && ok || bad "after the swaps: status is $(status_field "$DEV" policy) $(status_field "$DEV" source_hash), wanted pv2 $H2"
echo "  $(events reloaded) reloads, $(events unchanged) unchanged while the file was swapped"
[[ $(events reloaded) -ge 1 ]] && ok || bad "no reload while the file was swapped"
[[ $(events reload_failed) == 0 ]] && ok || bad "false reload_failed while the file was swapped: $(grep reload_failed "$TMP/events" | head -3)"
python3 - "$TMP/events" "$H1" "$H2" <<'PY' && ok || bad "an event names one policy and the source_hash of another"
import json, sys
want = {"pv1": sys.argv[2], "pv2": sys.argv[3]}
bad = [e for e in map(json.loads, open(sys.argv[1])) if e.get("event") in ("loaded", "reloaded", "unchanged", "adopted")
       and want.get(e.get("policy")) != e.get("source_hash")]
for e in bad: print(e, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
kill -TERM "$DPID"
wait "$DPID" && ok || bad "daemon exit after SIGTERM"
DPID=
"$WEIR" unload --dev "$DEV" >/dev/null 2>&1

echo "hostile: $passed passed, $failed failed"
((failed == 0))
