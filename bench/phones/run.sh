#!/usr/bin/env bash
# bench/phones/run.sh - the 10 000-phone boot storm against provisiond and nginx, in one run.
#
# Usage: bench/phones/run.sh [--phones N] [--rounds R] [--concurrency C] [--workers W]
#                            [--conn phone|request] [--default-limits] [--one-source]
#                            [--cases provisiond,nginx] [--timeout S]          (as root)
#
# The lab (setup.ts, lab.ts): N phones (default 10 000, at most 20 000) of seven vendors in turn
# (Yealink, Polycom, Snom, Grandstream, Cisco SPA, Fanvil, Gigaset), each with a MAC in its
# vendor's OUI, a model of the vendor's profile, the vendor's User-Agent and its own user (SIP
# username and password), declared in phones.devices of a generated provisiond.yaml with one
# keyed tenant (auth: url_key; on a keyed tenant the password window does not apply: the key is
# what guards the secrets, as with wazo-provd). setup.js seeds the store and renders every file
# once with PhoneService into a docroot /<key>/<file> for nginx: what wazo-provd does at
# configure time.
# Cases, on the loopback of a network namespace of our own (pphones-bench; the shared lab's
# plab-* namespaces are left alone), both servers running side by side:
#   provisiond  GET /<key>/<file> rendered on request (http.workers W, default 1)
#   nginx       the same files from disk (worker_processes W: the same count), access_log off
# The storm (storm.ts): each phone connects from its own loopback address (127.10.x.y; or all
# from 127.0.0.1 with --one-source) with its own connection (--conn phone: one keep-alive
# connection per phone; request: one per file), at most C phones at once (default 200), and
# fetches its boot sequence; every answer is validated (status, body sha256, the per-device
# file's line-1 SIP username and password). Settings turned off for provisiond unless
# --default-limits: http.rateLimit (rate 0), http.maxConnectionsPerSource (0 = no cap) and bans
# (maxRetry 0), since with --one-source one address is the whole storm. log.level warn.
# Round 0 is the first storm after the servers started (each server's caches cold), reported
# apart; rounds 1..R alternate the order of the cases. Each storm is wrapped in
# ../shared/bench/cpuwatch.py; one during which other processes used more than NOISE_MAX % CPU
# (default 15) is marked noisy and repeated (at most 2 more attempts) and left out of the medians.
# Output: .bench-results/phones/runs-STAMP.jsonl (raw), summary-STAMP.md (tables and the ratio
# provisiond / nginx), proof-STAMP.txt (one per-device file from each server, headers included).
# Needs: nginx, curl, python3, node; npm run build. PROVISIOND=path/to/main.js runs another build;
# PROVISIOND_NODE_ARGS gives the daemon node flags (--cpu-prof --cpu-prof-dir=DIR: a CPU profile).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
SHARED="${SHARED:-$(cd "$root/../shared/bench" && pwd)}"
NS=pphones-bench
W=/tmp/pphones
RES="$root/.bench-results/phones"
PHONES=10000 ROUNDS=2 C=200 WORKERS=1 CONN=phone TIMEOUT=300 SETUP_FLAGS=() STORM_FLAGS=() CASES=(provisiond nginx)
NOISE_MAX="${NOISE_MAX:-15}"
P_PORT=8090 N_PORT=8091
# PROVISIOND: the daemon's entry point (default: this tree's build)
PROVISIOND="${PROVISIOND:-$root/dist/src/main.js}"
# PROVISIOND_NODE_ARGS: node flags for the daemon, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
read -r -a NODE_ARGS <<< "${PROVISIOND_NODE_ARGS:-}"
while [ $# -gt 0 ]; do
    case "$1" in
    --phones) PHONES="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --concurrency) C="$2"; shift ;;
    --workers) WORKERS="$2"; shift ;;
    --conn) CONN="$2"; shift ;;
    --timeout) TIMEOUT="$2"; shift ;;
    --default-limits) SETUP_FLAGS+=(--default-limits) ;;
    --one-source) STORM_FLAGS+=(--one-source) ;;
    --cases) IFS=, read -r -a CASES <<< "$2"; shift ;;
    *) awk 'NR > 1 && /^set -e/ { exit } NR > 1' "$0"; exit 64 ;;
    esac
    shift
done
[ "$PHONES" -ge 1 ] && [ "$PHONES" -le 20000 ] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 10 ] && [ "$C" -ge 1 ] && [ "$C" -le 5000 ] \
    && [ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 8 ] && [ "$TIMEOUT" -ge 1 ] && [ "$TIMEOUT" -le 600 ] \
    || { echo "bounded: --phones 1..20000, --rounds 1..10, --concurrency 1..5000, --workers 1..8, --timeout 1..600" >&2; exit 64; }
[ "$(id -u)" = 0 ] || { echo "run as root (ip netns)" >&2; exit 1; }
for t in nginx curl python3 node ip; do command -v "$t" > /dev/null || { echo "missing: $t" >&2; exit 1; }; done
[ -f "$PROVISIOND" ] && [ -f "$root/dist/bench/phones/storm.js" ] || { echo "run 'npm run build' first" >&2; exit 1; }

# The namespace, PIDS and the cleanup at exit.
. "$root/bench/lib/netns.sh"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUNS="$RES/runs-$STAMP.jsonl"
rm -rf "$W"
mkdir -p "$W/tmp" "$RES"
: > "$RUNS"

echo "building the lab: $PHONES phones (setup.js renders every file once with PhoneService)..." >&2
node "$root/dist/bench/phones/setup.js" "$W" "$PHONES" "$P_PORT" "$WORKERS" "${SETUP_FLAGS[@]}"
chmod 755 "$W" "$W/www" "$W/www"/*
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$W/manifest.json")
read -r FIRST_FILE FIRST_UA < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["phones"][0]; print(p["deviceFile"], p["ua"])' "$W/manifest.json")

cat > "$W/nginx.conf" <<CONF
worker_processes $WORKERS;
pid $W/nginx.pid;
error_log $W/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    types { text/plain cfg boot txt; application/xml xml; text/html htm; }
    default_type application/octet-stream;
    client_body_temp_path $W/tmp/body;
    fastcgi_temp_path $W/tmp/fastcgi;
    proxy_temp_path $W/tmp/proxy;
    uwsgi_temp_path $W/tmp/uwsgi;
    scgi_temp_path $W/tmp/scgi;
    server {
        listen 127.0.0.1:$N_PORT backlog=4096;
        root $W/www;
        location / { }
    }
}
CONF

"${IN[@]}" nginx -c "$W/nginx.conf" -g 'daemon off;' > "$W/nginx.out" 2>&1 &
PIDS+=($!)
NGINX_PID=$!
PROV_PID=0
if [[ " ${CASES[*]} " == *" provisiond "* ]]; then
    "${IN[@]}" node "${NODE_ARGS[@]}" "$PROVISIOND" run --config "$W/provisiond.yaml" > "$W/provisiond.log" 2>&1 &
    PIDS+=($!)
    PROV_PID=$!
fi

status_of() { # PORT: the status of the first phone's per-device file
    "${IN[@]}" curl -s -o /dev/null -w '%{http_code}' -A "$FIRST_UA" "http://127.0.0.1:$1/$KEY/$FIRST_FILE" 2>/dev/null || true
}
wait_200() { # PORT NAME: up to 60 s (provisiond seeds N devices at start)
    local s=""
    for _ in $(seq 1 600); do
        s=$(status_of "$1")
        [ "$s" = 200 ] && return 0
        [ -n "$s" ] && [ "$s" != 000 ] && break
        sleep 0.1
    done
    echo "$2 on port $1 answers '${s:-nothing}' for /<key>/$FIRST_FILE (expected 200): does it serve phone files?" >&2
    [ "$2" = provisiond ] && tail -5 "$W/provisiond.log" >&2
    return 1
}
wait_200 "$N_PORT" nginx
[ "$PROV_PID" = 0 ] || wait_200 "$P_PORT" provisiond
{
    for port in $([ "$PROV_PID" = 0 ] || echo "$P_PORT") "$N_PORT"; do
        echo "### GET /<key>/$FIRST_FILE from port $port (User-Agent: $FIRST_UA)"
        "${IN[@]}" curl -s -i -A "$FIRST_UA" "http://127.0.0.1:$port/$KEY/$FIRST_FILE" | sed "s/$KEY/<key>/g" | head -30
        echo
    done
} > "$RES/proof-$STAMP.txt"

port_of() { [ "$1" = provisiond ] && echo "$P_PORT" || echo "$N_PORT"; }
pid_of() { [ "$1" = provisiond ] && echo "$PROV_PID" || echo "$NGINX_PID"; }
tree_ticks() { # PID: user+system clock ticks of the process and its children
    local t=0 p
    for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
        [ -r "/proc/$p/stat" ] && t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$t"
}
HZ=$(getconf CLK_TCK)
tcp_counters() { # the namespace's listen-queue overflows and drops, SYN/segment retransmissions
    "${IN[@]}" cat /proc/net/netstat /proc/net/snmp | awk '
        $1 == "TcpExt:" && !h1 { for (i = 2; i <= NF; i++) n1[i] = $i; h1 = 1; next }
        $1 == "TcpExt:" && h1 == 1 { for (i = 2; i <= NF; i++) if (n1[i] == "ListenOverflows" || n1[i] == "ListenDrops" || n1[i] == "TCPTimeouts") v[n1[i]] = $i; h1 = 2; next }
        $1 == "Tcp:" && !h2 { for (i = 2; i <= NF; i++) n2[i] = $i; h2 = 1; next }
        $1 == "Tcp:" && h2 == 1 { for (i = 2; i <= NF; i++) if (n2[i] == "RetransSegs" || n2[i] == "AttemptFails") v[n2[i]] = $i; h2 = 2; next }
        END { printf "%d %d %d %d %d", v["ListenOverflows"], v["ListenDrops"], v["TCPTimeouts"], v["RetransSegs"], v["AttemptFails"] }'
}

storm() { # CASE ROUND ATTEMPT
    local c="$1" round="$2" attempt="$3" port pid t0 t1 out f noisy=0 result k0 k1
    port=$(port_of "$c"); pid=$(pid_of "$c")
    read -r -a k0 < <(tcp_counters)
    t0=$(tree_ticks "$pid")
    out=$(python3 "$SHARED/cpuwatch.py" $$ -- "${IN[@]}" node "$root/dist/bench/phones/storm.js" --manifest "$W/manifest.json" \
        --url "http://127.0.0.1:$port" --label "$c" --concurrency "$C" --conn "$CONN" --timeout "$TIMEOUT" "${STORM_FLAGS[@]}" 2>&1) || true
    t1=$(tree_ticks "$pid")
    read -r -a k1 < <(tcp_counters)
    f=$(printf '%s\n' "$out" | sed -n 's/^cpuwatch: foreign_cpu_pct=\([0-9.]*\).*/\1/p')
    awk -v f="${f:-999}" -v m="$NOISE_MAX" 'BEGIN { exit !(f > m) }' && noisy=1
    result=$(printf '%s\n' "$out" | sed -n 's/^RESULT //p')
    printf '%s\n' "$out" | grep -v '^RESULT ' >&2 || true
    if [ -z "$result" ]; then echo "the storm client printed no RESULT" >&2; return 1; fi
    printf '{"case":"%s","round":%d,"attempt":%d,"noisy":%s,"foreign":%s,"serverCpuMs":%d,"tcp":{"listenOverflows":%d,"listenDrops":%d,"timeouts":%d,"retransSegs":%d,"attemptFails":%d},"result":%s}\n' \
        "$c" "$round" "$attempt" "$([ $noisy = 1 ] && echo true || echo false)" "${f:-999}" $(( (t1 - t0) * 1000 / HZ )) \
        $((k1[0] - k0[0])) $((k1[1] - k0[1])) $((k1[2] - k0[2])) $((k1[3] - k0[3])) $((k1[4] - k0[4])) "$result" >> "$RUNS"
    return $noisy
}

echo "round 0: the first storm after start, each server's caches cold (reported apart)" >&2
for c in "${CASES[@]}"; do storm "$c" 0 1 || true; sleep 2; done
for round in $(seq 1 "$ROUNDS"); do
    order=("${CASES[@]}")
    if [ $((round % 2)) = 0 ]; then order=(); for ((i = ${#CASES[@]} - 1; i >= 0; i--)); do order+=("${CASES[$i]}"); done; fi
    echo "round $round: ${order[*]}" >&2
    for c in "${order[@]}"; do
        for attempt in 1 2 3; do
            storm "$c" "$round" "$attempt" && break
            echo "  (noisy: foreign CPU above $NOISE_MAX %, repeated)" >&2
            sleep 3
        done
        sleep 2
    done
done

echo
node "$root/dist/bench/phones/summary.js" "$RUNS" | tee "$RES/summary-$STAMP.md"
echo
[ "$PROV_PID" = 0 ] && exit 0
kill -USR1 "$PROV_PID" 2>/dev/null || true
sleep 2
echo "provisiond counters: $(grep '"msg":"counters"' "$W/provisiond.log" | tail -1 | grep -o '"http":{[^}]*}' || echo '(none logged)')"
echo "provisiond warnings/errors logged: $(grep -c '"level":[45]0' "$W/provisiond.log" || true)"
echo "raw: $RUNS"
