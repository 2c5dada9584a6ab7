#!/usr/bin/env bash
# bench/sip/run.sh - SIP Plug-and-Play: answers per second and SUBSCRIBE -> NOTIFY time
# (p50/p99) of provisiond's SIP face under a bounded boot storm, in two private namespaces.
#
# Usage (as root, from anywhere):  bench/sip/run.sh [SECONDS]     (default 10 per point)
#
# What one run does:
#   1. builds provisiond (npm run build; SKIP_BUILD=1 to skip);
#   2. creates pbs-srv (10.68.0.1/24) and pbs-cli (20 source addresses 10.68.0.10-29) joined by
#      a veth pair, no route out: all traffic stays on the pair;
#   3. starts the real daemon in pbs-srv: one keyed tenant, phones enabled with autoprovision
#      oui (every phone is a fresh Grandstream MAC, answered by its OUI), the SIP face on the
#      veth with its per-source rate limit OFF (20 sources play thousands of phones), log level
#      info (the product default: two info lines per answer, written to a file);
#   4. runs dist/bench/sip/load.js in pbs-cli: open loop at RATES SUBSCRIBEs/s, then closed loop
#      with WINDOW phones outstanding, then open loop at UNDER_RATE (100) while wrk saturates the
#      HTTP face with one phone's rendered file, SECONDS each (at most 60 s of load in all); each
#      phone checks its NOTIFY's URL and answers it with 200;
#   5. prints one line per point and the face's counters (SIGUSR1), and writes them to
#      .bench-results/sip/.
# There is no other PnP responder to compare with (sip-phones.md 2.7: single-purpose scripts,
# none packaged); the figures are provisiond's alone.
#
# Cleanup: the daemon is stopped by PID; the namespaces are deleted at exit (also on error).
set -euo pipefail

SECONDS_PER="${1:-10}"
RATES="${RATES:-100 500 1000}"
WINDOW="${WINDOW:-64}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
OUT="${OUT_DIR:-$repo/.bench-results/sip}"
SRV=pbs-srv CLI=pbs-cli
KEY=Bn7dQ2fX9aB31mN0pQ4rS8tU
SCRATCH=$(mktemp -d /tmp/provd-bench-sip.XXXXXX)

[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)" >&2; exit 1; }
n_rates=$(echo "$RATES" | wc -w)
[ $(( (n_rates + 2) * SECONDS_PER )) -le 60 ] || { echo "at most 60 s of load: $(( (n_rates + 2) * SECONDS_PER )) s asked" >&2; exit 64; }

DAEMON_PID=""
WRK_PID=""
cleanup() {
    [ -z "$WRK_PID" ] || kill "$WRK_PID" 2>/dev/null || true
    if [ -n "$DAEMON_PID" ]; then
        kill "$DAEMON_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$DAEMON_PID" 2>/dev/null || true
    fi
    for ns in "$SRV" "$CLI"; do
        if ip netns list | grep -qw "$ns"; then
            [ -z "$(ip netns pids "$ns")" ] && ip netns del "$ns" || echo "left $ns: processes still inside" >&2
        fi
    done
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

for ns in "$SRV" "$CLI"; do
    if ip netns list | grep -qw "$ns"; then echo "$ns exists: another run? stop it first" >&2; exit 1; fi
done
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$repo" && npm run build >/dev/null)
mkdir -p "$OUT"

ip netns add "$SRV"; ip netns add "$CLI"
ip -n "$SRV" link set lo up; ip -n "$CLI" link set lo up
ip -n "$SRV" link add pbs0 type veth peer name pbc0 netns "$CLI"
ip -n "$SRV" addr add 10.68.0.1/24 dev pbs0; ip -n "$SRV" link set pbs0 up
IPS=()
for i in $(seq 10 29); do ip -n "$CLI" addr add "10.68.0.$i/24" dev pbc0; IPS+=("\"10.68.0.$i\""); done
ip -n "$CLI" link set pbc0 up
IPS_JSON="[$(IFS=,; echo "${IPS[*]}")]"

cat > "$SCRATCH/provisiond.yaml" <<EOF
{
  "http": { "host": "0.0.0.0", "port": 18680, "rateLimit": { "rate": 0, "burst": 1 } },
  "dhcp": { "enabled": false },
  "mdns": { "enabled": false },
  "log": { "level": "info" },
  "stateDir": "$SCRATCH/state",
  "provisioning": { "defaultDomain": "bench.example", "tenants": { "bench.example": { "auth": "url_key", "urlKey": "$KEY" } } },
  "phones": { "enabled": true, "autoprovision": "oui",
              "configs": [{ "id": "site", "role": "default", "raw": { "sip_proxy_ip": "10.68.0.1" } }],
              "devices": [{ "mac": "c0:74:ad:00:00:01", "profile": "grandstream", "model": "GRP2614" }] },
  "devices": { "maxNewPerSourcePerHour": 1000000 },
  "sip": { "enabled": true, "interfaces": ["pbs0"], "rateLimit": { "rate": 0, "burst": 1 } }
}
EOF
ip netns exec "$SRV" node "$repo/dist/src/main.js" run -c "$SCRATCH/provisiond.yaml" > "$SCRATCH/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 100); do grep -q 'SIP face serving' "$SCRATCH/daemon.log" && break; sleep 0.1; done
grep -q 'SIP face serving' "$SCRATCH/daemon.log" || { cat "$SCRATCH/daemon.log" >&2; exit 1; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
result="$OUT/$stamp.txt"
{
    echo "# bench/sip/run.sh $SECONDS_PER  ($(nproc) cores, node $(node --version), $(git -C "$repo" rev-parse --short HEAD))"
    printf '%-22s %8s %8s %6s %4s %10s %28s %28s\n' point sent answered lost bad 'answers/s' 'SUBSCRIBE->NOTIFY p50/p99/max' 'SUBSCRIBE->200 p50/p99/max'
} | tee "$result"
run_point() {
    local label="$1" spec="$2" line
    line=$(ip netns exec "$CLI" timeout $((SECONDS_PER + 15)) node "$repo/dist/bench/sip/load.js" "$spec")
    echo "$line" >> "$OUT/$stamp.jsonl"
    node -e '
      const r = JSON.parse(process.argv[1]);
      const f = (s) => `${s.p50}/${s.p99}/${s.max} ms`;
      console.log(`${process.argv[2].padEnd(22)} ${String(r.sent).padStart(8)} ${String(r.answered).padStart(8)} ${String(r.lost).padStart(6)} ${String(r.bad).padStart(4)} ${String(r.answersPerSecond).padStart(10)} ${f(r.notifyMs).padStart(28)} ${f(r.okMs).padStart(28)}`);
    ' "$line" "$label" | tee -a "$result"
}
base=0
for rate in $RATES; do
    run_point "open ${rate}/s" "{\"ips\":$IPS_JSON,\"mode\":\"open\",\"rate\":$rate,\"seconds\":$SECONDS_PER,\"macBase\":$base}"
    base=$((base + 1048576))
done
run_point "closed window $WINDOW" "{\"ips\":$IPS_JSON,\"mode\":\"closed\",\"window\":$WINDOW,\"seconds\":$SECONDS_PER,\"macBase\":$base}"
base=$((base + 1048576))
# Issue 15's question: does PnP keep answering while the HTTP face (same process, main thread,
# where the PnP decision is made) is saturated? wrk renders one phone's cfg<mac>.xml in a loop.
if command -v wrk >/dev/null; then
    ip netns exec "$CLI" timeout $((SECONDS_PER + 10)) wrk -t1 -c32 -d"$((SECONDS_PER + 2))s" \
        -H 'User-Agent: Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad000001' \
        "http://10.68.0.1:18680/$KEY/cfgc074ad000001.xml" > "$SCRATCH/wrk.txt" 2>&1 &
    WRK_PID=$!
    sleep 1
    run_point "open ${UNDER_RATE:-100}/s + HTTP wrk" "{\"ips\":$IPS_JSON,\"mode\":\"open\",\"rate\":${UNDER_RATE:-100},\"seconds\":$SECONDS_PER,\"macBase\":$base}"
    wait "$WRK_PID" || true
    echo "# wrk meanwhile: $(grep -E 'Requests/sec|Non-2xx' "$SCRATCH/wrk.txt" | tr -s ' ' | tr '\n' ' ')" | tee -a "$result"
else
    echo "# wrk not installed: no under-HTTP-load point" | tee -a "$result"
fi

kill -USR1 "$DAEMON_PID"
for _ in $(seq 1 50); do grep -q '"msg":"counters"' "$SCRATCH/daemon.log" && break; sleep 0.1; done
echo "# the SIP face's counters after the run:" | tee -a "$result"
grep '"msg":"counters"' "$SCRATCH/daemon.log" | tail -1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=JSON.parse(s);console.log("# "+JSON.stringify(l.stats.sip))})' | tee -a "$result"
echo "# written to $result"
