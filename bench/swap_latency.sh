#!/usr/bin/env bash
# Swap latency of the example policies (docs/operations.md): each example is loaded onto a
# private veth end, then hot-swapped onto itself N times; per swap the step times `weir load`
# prints are collected and the median reported: the link update alone, the swap without compile
# (verify .. cleanup) and with it. Redirect targets of the examples (honey0, scrub0) are
# rewritten to the veth peer, which exists. Needs root.
# Usage: swap_latency.sh WEIR_BINARY REPO_ROOT [N]
set -euo pipefail
WEIR=$1 ROOT=$2 N=${3:-5}
TMP=$(mktemp -d)
DEV=wl$$a PEER=wl$$b
trap '"$WEIR" unload --dev "$DEV" >/dev/null 2>&1; ip link del "$DEV" 2>/dev/null; rm -rf "$TMP"' EXIT
ip link add "$DEV" type veth peer name "$PEER"
ip link set "$DEV" up && ip link set "$PEER" up
cp -r "$ROOT"/examples/* "$TMP"/
sed -i "s/\"honey0\"/\"$PEER\"/; s/\"scrub0\"/\"$PEER\"/" "$TMP"/*.weir
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '| policy | rules | link update (ms) | swap, compile excluded (ms) | compile (ms) | swap, compile included (ms) |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for f in "$TMP"/*.weir; do
    name=$(basename "$f" .weir)
    "$WEIR" load "$f" --dev "$DEV" >/dev/null
    : >"$TMP/swap" ; : >"$TMP/excl" ; : >"$TMP/comp" ; : >"$TMP/incl"
    for _ in $(seq "$N"); do
        out=$("$WEIR" load "$f" --dev "$DEV")
        echo "$out" | awk '$1=="swap"{print $2}' >>"$TMP/swap"
        echo "$out" | awk '$2 ~ /^[0-9.]+$/ && $3=="ms" && $1!="compile"{s+=$2} END{print s}' >>"$TMP/excl"
        echo "$out" | awk '$1=="compile"{print $2}' >>"$TMP/comp"
        echo "$out" | awk '$2 ~ /^[0-9.]+$/ && $3=="ms"{s+=$2} END{print s}' >>"$TMP/incl"
    done
    rules=$(echo "$out" | awk '$1=="compile"{print $4}')
    printf '| %s | %s | %.2f | %.1f | %.1f | %.1f |\n' "$name" "$rules" \
        "$(median <"$TMP/swap")" "$(median <"$TMP/excl")" "$(median <"$TMP/comp")" "$(median <"$TMP/incl")"
    "$WEIR" unload --dev "$DEV" >/dev/null
done
