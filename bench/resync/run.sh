#!/usr/bin/env bash
# bench/resync/run.sh [--phones N] [--concurrency C]… : `provisiond devices sync --all` against N
# scripted phones (test/fixtures/sip_phones.py, one Python process, each phone its own loopback
# address 127.0.x.y port 5060, answering 200) in a network namespace of its own; prints the wall
# time per concurrency. Needs root and a built tree (npm run build). About 10 s of load for 500.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=500
CONC=()
while [ $# -gt 0 ]; do
    case "$1" in
        --phones) N="$2"; shift 2 ;;
        --concurrency) CONC+=("$2"); shift 2 ;;
        *) echo "usage: $0 [--phones N] [--concurrency C]…" >&2; exit 2 ;;
    esac
done
[ ${#CONC[@]} -gt 0 ] || CONC=(1 32 256)
[ "$N" -ge 1 ] && [ "$N" -le 900 ] || { echo "--phones is 1 to 900 (one select() of the Python phones)" >&2; exit 2; }
NS="bresync$$"
# shellcheck source=../lib/netns.sh
. bench/lib/netns.sh
TMP=$(mktemp -d /tmp/bench-resync.XXXXXX)
trap 'cleanup; rm -rf "$TMP"' EXIT

addr() { echo "127.0.$(( 1 + $1 / 250 )).$(( 1 + $1 % 250 ))"; }
mac() { printf '00:15:65:00:%02x:%02x' $(( $1 / 256 )) $(( $1 % 256 )); }

{
    echo "http: { host: 127.0.0.1, port: 0 }"
    echo "dhcp: { enabled: false }"
    echo "mdns: { enabled: false }"
    echo "stateDir: $TMP/state"
    echo "provisioning: { defaultDomain: lab.example, tenants: { lab.example: { auth: none } } }"
    echo "phones:"
    echo "  enabled: true"
    echo "  devices:"
    for i in $(seq 0 $(( N - 1 ))); do echo "    - { mac: \"$(mac "$i")\", profile: yealink, model: T46S }"; done
} > "$TMP/provisiond.yaml"

SPEC=$(for i in $(seq 0 $(( N - 1 ))); do printf '{"name":"p%d","address":"%s","port":5060,"mode":"ok","events":["check-sync;reboot=false"]},' "$i" "$(addr "$i")"; done)
"${IN[@]}" /usr/bin/python3 test/fixtures/sip_phones.py "[${SPEC%,}]" > "$TMP/phones.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q ready "$TMP/phones.log" 2>/dev/null && break; sleep 0.1; done

node dist/src/main.js devices list --config "$TMP/provisiond.yaml" --kind phones > /dev/null
node -e '
const { openSqliteStore } = require("./dist/src/store/sqlite");
const [dir, n] = [process.argv[1], Number(process.argv[2])];
const s = openSqliteStore(dir);
const hex = (i) => "00:15:65:00:" + (i >> 8).toString(16).padStart(2, "0") + ":" + (i & 255).toString(16).padStart(2, "0");
s.phones.observeMany(Array.from({ length: n }, (_, i) => ({ mac: hex(i), seen: { ip: `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}` }, at: new Date().toISOString() })));
s.close();
' "$TMP/state" "$N"

printf 'phones  concurrency  seconds  accepted\n'
for c in "${CONC[@]}"; do
    t0=$(date +%s.%N)
    out=$("${IN[@]}" node dist/src/main.js devices sync --all --config "$TMP/provisiond.yaml" --concurrency "$c" --json || true)
    t1=$(date +%s.%N)
    acc=$(printf '%s' "$out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).summary.accepted))')
    printf '%6d  %11d  %7.2f  %8s\n' "$N" "$c" "$(echo "$t1 - $t0" | bc)" "$acc"
done
