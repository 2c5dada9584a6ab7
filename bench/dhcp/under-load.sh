#!/usr/bin/env bash
# bench/dhcp/under-load.sh - the DHCP face's answer time while the HTTP face is saturated.
#
# Usage: bench/dhcp/under-load.sh [TREE]     (TREE: a built provisiond checkout; default this one)
#
# One provisiond (http.workers: 1, the default) on loopback with the HTTP benchmark's
# configuration (bench/http/setup.ts: USERS users, cacheTtl 0, so every POST /jitsi runs scrypt
# at the product's cost) and the DHCP face on lo (dhcp.rateLimit and relayRateLimit off: one
# source sends every INFORM). rtt.ts sends RATE INFORMs/s and reports p50/p99/max, first with
# the daemon idle (5 s), then while wrk -t2 -c50 posts the form (DUR s). Run it on the tree
# before issue 15 (the face on the main event loop) and after (the face in its own thread) to
# compare. Loopback of the root namespace, ports PORT_BASE..+2 (default 28667, 26767, 26768).
# Needs wrk and curl; npm run build in this tree (setup.js, rtt.js) and in TREE.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
TREE="${1:-$root}"
DUR="${DUR:-10}" USERS="${USERS:-50}" RATE="${RATE:-50}" CACHE_TTL="${CACHE_TTL:-0}"
HTTP_PORT="${HTTP_PORT:-28667}" DHCP_PORT="${DHCP_PORT:-26767}" REPLY_PORT="${REPLY_PORT:-26768}"
[ "$DUR" -le 30 ] && [ "$RATE" -le 1000 ] || { echo "bounded: DUR <= 30, RATE <= 1000" >&2; exit 64; }
for t in wrk curl node; do command -v "$t" > /dev/null || { echo "missing: $t" >&2; exit 1; }; done
[ -f "$TREE/dist/src/main.js" ] && [ -f "$root/dist/bench/dhcp/rtt.js" ] || { echo "run 'npm run build' first (here and in $TREE)" >&2; exit 1; }
W="$(mktemp -d /tmp/pdhcp-load.XXXXXX)"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null; rm -rf "$W"; }
trap cleanup EXIT
node "$root/dist/bench/http/setup.js" "$W/p.yaml" "$W/state" "$HTTP_PORT" "$USERS" "$CACHE_TTL" 1
sed -i "s|^dhcp: {enabled: false}|dhcp: {port: $DHCP_PORT, replyPort: $REPLY_PORT, interfaces: [lo], rateLimit: {rate: 0}, relayRateLimit: {rate: 0}}|; s|^log: {level: info}|log: {level: warn}|" "$W/p.yaml"
node "$TREE/dist/src/main.js" run --config "$W/p.yaml" > "$W/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break; sleep 0.1; done
rtt() { node "$root/dist/bench/dhcp/rtt.js" 127.0.0.1 "$DHCP_PORT" "$REPLY_PORT" "$RATE" "$1"; }
echo "tree: $TREE ($(git -C "$TREE" log -1 --format=%h 2> /dev/null || echo '?'))"
echo "idle:   $(rtt 5)"
USERS=$USERS wrk -t2 -c50 -d"${DUR}s" --timeout 10s --latency -s "$here/../http/users.lua" "http://127.0.0.1:$HTTP_PORT/jitsi" > "$W/wrk.txt" &
wrk_pid=$!
sleep 1
echo "loaded: $(rtt $((DUR - 2)))"
wait "$wrk_pid"
echo "wrk:    $(grep -E 'Requests/sec' "$W/wrk.txt" | tr -s ' ') p99 $(grep -E '^ +99%' "$W/wrk.txt" | tr -s ' ' | cut -d' ' -f3)"
