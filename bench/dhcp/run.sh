#!/usr/bin/env bash
# bench/dhcp/run.sh - DHCPINFORM -> DHCPACK (option 224): provisiond against ISC dhcpd,
# same load, same box, same run.
#
# Usage (as root, from anywhere):
#   bench/dhcp/run.sh [quick|full] [pin|nopin]        defaults: quick nopin
#     quick  1 round; closed loop 2 s per window, open loop 2 s per rate
#            (~2 min on a quiet box)
#     full   3 rounds; closed loop 5 s per window, open loop 10 s per rate
#            (~8 min on a quiet box; noisy runs are repeated, at most ~25 min in all)
#     pin    servers on CPU 1, load generator on CPU 0 (taskset); nopin: scheduler's choice
#
# What one run does:
#   1. checks prerequisites (prints the missing Debian packages and stops; installs nothing),
#      builds provisiond (npm run build) and compiles the shared load generator
#      ($SHARED_BENCH/dhcp-inform-load.c) into .bench-results/dhcp/bin/;
#   2. creates two private network namespaces joined by a veth pair (pdb-srv 10.67.9.1/24,
#      pdb-cli 10.67.9.2/24; no route out, so all traffic stays on the pair);
#   3. per round, in alternating order, for each server (ISC dhcpd, provisiond):
#      starts it in pdb-srv, proves it answers (round 1: decoded ACK, tshark capture,
#      broadcast INFORM), sweeps closed-loop windows ($WINDOWS) and open-loop rates ($RATES)
#      from pdb-cli, and stops it by PID;
#   4. runs provisiond once more with its DEFAULT per-source rate limit (closed loop w=64,
#      and open loop 1000/s; one attempt each) to show what a single-source flood gets;
#   5. prints the side-by-side table (medians, min-max, ratios) and writes it, with the raw
#      log, to .bench-results/dhcp/.
#
# provisiond runs with dhcp.rateLimit.rate: 0 (per-source flood limit OFF) in step 3:
# the load generator is one source sending up to ~100k INFORMs/s, which the default
# limit (20/s, burst 40 per source) would refuse. Step 4 shows the limit at work.
#
# Noise: every load run is wrapped in the shared cpuwatch.py; a run during which processes
# outside this script's tree used more than NOISE_MAX % CPU (default 15; 100 = one core)
# is logged as noisy and repeated: at most 3 attempts per point, each repeat after waiting
# up to QUIET_WAIT s for a quiet second, and no repeats at all once the run is RETRY_BUDGET
# s old (20 min in full mode, 5 min in quick mode), so a busy box cannot stretch a run much
# beyond that. The summary uses the quiet runs only (a point with no quiet run uses its
# noisy runs and is marked *).
#
# Environment (all optional):
#   SHARED_BENCH  the shared lab folder (default: <repo>/../shared/bench); only read from
#   OUT_DIR       results folder (default: <repo>/.bench-results/dhcp; git-ignored)
#   NOISE_MAX     foreign CPU % above which a run is repeated (default 15)
#   QUIET_WAIT    before repeating a noisy run, wait up to this many s for the box to be
#                 quiet (default 30)
#   WINDOWS       closed-loop windows (default "4 16 64 256")
#   RATES         open-loop rates per s (default "1000 10000")
#   SKIP_BUILD=1  do not run npm run build (use the dist/ that is there)
#
# Cleanup: the servers and the tshark capture it started are stopped by PID (TERM, then KILL
# after 5 s); the two namespaces are deleted at exit, also on error or Ctrl-C. Every wait is
# bounded, and so is every load run (-d seconds, -n packets).
set -euo pipefail

MODE="${1:-quick}"
PIN="${2:-nopin}"
case "$MODE" in quick|full) ;; *) echo "usage: $0 [quick|full] [pin|nopin]" >&2; exit 64 ;; esac
case "$PIN" in pin|nopin) ;; *) echo "usage: $0 [quick|full] [pin|nopin]" >&2; exit 64 ;; esac

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
SHARED="${SHARED_BENCH:-$repo/../shared/bench}"
OUT="${OUT_DIR:-$repo/.bench-results/dhcp}"
NOISE_MAX="${NOISE_MAX:-15}"
QUIET_WAIT="${QUIET_WAIT:-30}"
WINDOWS="${WINDOWS:-4 16 64 256}"
RATES="${RATES:-1000 10000}"

NS_SRV=pdb-srv NS_CLI=pdb-cli IF_SRV=pdb-srv0 IF_CLI=pdb-cli0
SRV_IP=10.67.9.1 CLI_IP=10.67.9.2 NET=10.67.9.0 MASK=255.255.255.0
URL='https://prov.example.test/prov?user=${username}&pass=${password}&os=${osname}'
SCRATCH=/tmp/provd-bench-dhcp

# RETRY_BUDGET: after this many seconds of the run, noisy runs are no longer repeated
if [ "$MODE" = full ]; then ROUNDS=3 CL_DUR=5 OL_DUR=10 RETRY_BUDGET=1200; else ROUNDS=1 CL_DUR=2 OL_DUR=2 RETRY_BUDGET=300; fi
BUDGET_SAID=0
WARM=1 MAX_ATTEMPTS=3 TIMEOUT_MS=1000
RL_WINDOW=64 RL_RATE=1000 RL_DUR=5   # the rate-limit-on figures
# hard caps per load run: packets (the generator's -n) and wall time (timeout(1))
MAX_PKTS=20000000

die() { echo "bench/dhcp: $*" >&2; exit 1; }
say() { echo "bench/dhcp: $*" >&2; }

# ---------------------------------------------------------------- prerequisites
[ "$(id -u)" = 0 ] || die "needs root (ip netns, taskset); run it with sudo"
missing_pkgs="" missing_other=""
need_cmd() { # command debian-package
    command -v "$1" >/dev/null 2>&1 || missing_pkgs="$missing_pkgs $2"
}
need_cmd dhcpd isc-dhcp-server
need_cmd tshark tshark
need_cmd gcc gcc
need_cmd ip iproute2
need_cmd ss iproute2
need_cmd taskset util-linux
need_cmd flock util-linux
need_cmd timeout coreutils
need_cmd pgrep procps
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3 || true)"
[ -n "$PY" ] || missing_pkgs="$missing_pkgs python3"
command -v node >/dev/null 2>&1 || missing_other="$missing_other node(>=20)"
command -v npm >/dev/null 2>&1 || missing_other="$missing_other npm"
for f in dhcp-inform-load.c cpuwatch.py; do
    [ -r "$SHARED/$f" ] || missing_other="$missing_other $SHARED/$f"
done
if [ -n "$missing_pkgs$missing_other" ]; then
    pkgs="$(printf '%s\n' $missing_pkgs | sort -u | paste -sd' ')"
    [ -n "$pkgs" ] && say "missing Debian packages: $pkgs" && say "  install them with: apt-get install -y $pkgs"
    [ -n "$missing_other" ] && say "also missing:$missing_other (set SHARED_BENCH to the shared bench folder)"
    die "prerequisites missing; nothing was installed or started"
fi
SHARED="$(cd "$SHARED" && pwd -P)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "needs Node.js >= 20 (found $(node --version))"
if [ "$PIN" = pin ] && [ "$(nproc)" -lt 2 ]; then die "pin needs at least 2 CPUs"; fi

mkdir -p "$SCRATCH" "$OUT/bin"
exec 9> "$SCRATCH/lock"
flock -n 9 || die "another bench/dhcp run holds $SCRATCH/lock"

# ---------------------------------------------------------------- cleanup
SRV_PID="" TS_PID="" NS_MADE=0
stop_pid() { # pid: TERM its children and it, wait up to 5 s, then KILL
    local p="$1" kids k
    [ -n "$p" ] || return 0
    kids="$(pgrep -P "$p" 2>/dev/null || true)"
    for k in $kids; do kill "$k" 2>/dev/null || true; done
    if kill -0 "$p" 2>/dev/null; then
        kill "$p" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
    for k in $kids; do kill -0 "$k" 2>/dev/null && kill -9 "$k" 2>/dev/null || true; done
    return 0
}
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
lab_down() {
    local ns pids
    for ns in "$NS_SRV" "$NS_CLI"; do
        ns_exists "$ns" || continue
        pids="$(ip netns pids "$ns" 2>/dev/null || true)"
        if [ -n "$pids" ]; then
            say "warning: processes still in $ns ($pids); not killed (not started by this run?), namespace left in place"
            continue
        fi
        ip netns del "$ns" 2>/dev/null || true
    done
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$TS_PID"; TS_PID=""
    stop_pid "$SRV_PID"; SRV_PID=""
    [ "$NS_MADE" = 1 ] && lab_down
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building provisiond (npm run build)"
    (cd "$repo" && npm run build --silent) >&2 || die "npm run build failed"
fi
[ -f "$repo/dist/src/main.js" ] || die "$repo/dist/src/main.js is missing (build first)"
LOADGEN="$OUT/bin/dhcp-inform-load"
gcc -O2 -Wall -Wextra -o "$LOADGEN.tmp" "$SHARED/dhcp-inform-load.c" -lm || die "cannot compile $SHARED/dhcp-inform-load.c"
mv -f "$LOADGEN.tmp" "$LOADGEN"

# ---------------------------------------------------------------- lab
for ns in "$NS_SRV" "$NS_CLI"; do
    if ns_exists "$ns"; then
        [ -z "$(ip netns pids "$ns" 2>/dev/null || true)" ] || die "namespace $ns exists and has processes in it; is another run going on?"
        ip netns del "$ns"   # stale, empty: left over from an interrupted run
    fi
done
NS_MADE=1
ip netns add "$NS_SRV"
ip netns add "$NS_CLI"
ip link add "$IF_SRV" netns "$NS_SRV" type veth peer name "$IF_CLI" netns "$NS_CLI"
ip -n "$NS_SRV" link set lo up
ip -n "$NS_CLI" link set lo up
ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$IF_SRV"
ip -n "$NS_CLI" addr add "$CLI_IP/24" dev "$IF_CLI"
ip -n "$NS_SRV" link set "$IF_SRV" up
ip -n "$NS_CLI" link set "$IF_CLI" up
for _ in $(seq 1 50); do
    ip -n "$NS_CLI" link show "$IF_CLI" | grep -q 'state UP' && ip -n "$NS_SRV" link show "$IF_SRV" | grep -q 'state UP' && break
    sleep 0.1
done

# ---------------------------------------------------------------- configs
rm -rf "${SCRATCH:?}/run"
W="$SCRATCH/run"
mkdir -p "$W/state"
cat > "$W/dhcpd.conf" <<EOF
# INFORM only, no range (as in Jitsi's provisioning sample and the shared anchor)
option provisioning-url code 224 = text;
authoritative;
ddns-update-style none;
subnet $NET netmask $MASK {
  option provisioning-url "$URL";
}
EOF
write_provd_conf() { # file, rate-limit block (empty = the defaults)
    cat > "$1" <<EOF
dhcp:
  url: '$URL'
  interfaces: [$IF_SRV]
$2
mdns:
  enabled: false
log:
  level: warn
stateDir: $W/state
EOF
}
# the benchmark configuration: per-source flood limit OFF (one source sends ~100k/s)
write_provd_conf "$W/provisiond.yaml" "  rateLimit:
    rate: 0"
# the shipped defaults: per-source flood limit ON (dhcp.rateLimit 20/s, burst 40)
write_provd_conf "$W/provisiond-ratelimit.yaml" ""

SRV_PIN=() CLI_PIN=()
if [ "$PIN" = pin ]; then SRV_PIN=(taskset -c 1) CLI_PIN=(taskset -c 0); fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="$OUT/dhcp-$STAMP-$MODE-$PIN.log"
SUMMARY="$OUT/dhcp-$STAMP-$MODE-$PIN.md"
: > "$LOG"
{
    echo "#meta date: $(date -u +'%Y-%m-%d %H:%M UTC')"
    echo "#meta command: bench/dhcp/run.sh $MODE $PIN"
    echo "#meta mode: $MODE ($ROUNDS round(s); closed loop ${CL_DUR} s + ${WARM} s warm-up per window; open loop ${OL_DUR} s + ${WARM} s warm-up per rate)"
    echo "#meta pin: $PIN"
    echo "#meta machine: $(nproc) vCPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, Linux $(uname -r)"
    echo "#meta software: node $(node --version); provisiond $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$repo" && git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ has uncommitted changes)')"
    echo "#meta dhcpd: $(dhcpd --version 2>&1 | head -1) (dhcpd -p 6767 -f -d; /dev/log $( [ -e /dev/log ] && echo present: dhcpd pays for syslog || echo absent: syslog costs ~nothing))"
    echo "#meta lab: veth pair between namespaces $NS_SRV ($SRV_IP) and $NS_CLI ($CLI_IP); load generator $SHARED/dhcp-inform-load.c"
    echo "#meta rmem: rmem_default=$(cat /proc/sys/net/core/rmem_default) rmem_max=$(cat /proc/sys/net/core/rmem_max)"
    echo "#meta noise_max: $NOISE_MAX"
    } >> "$LOG"

# ---------------------------------------------------------------- servers
udp6767_bound() { [ -n "$(ip netns exec "$NS_SRV" ss -Hlun 'sport = :6767' 2>/dev/null)" ]; }
start_server() { # name
    local name="$1"
    udp6767_bound && die "UDP 6767 is already bound in $NS_SRV"
    case "$name" in
    dhcpd)
        : > "$W/dhcpd.leases"
        dhcpd -t -4 -cf "$W/dhcpd.conf" > "$W/dhcpd-check.out" 2>&1 || { cat "$W/dhcpd-check.out" >&2; die "dhcpd rejects $W/dhcpd.conf"; }
        # -d: its 2 log lines per request go to stderr, discarded as in the shared anchor
        # (writing them to a file halves its throughput); syslog(3) fails fast without /dev/log
        ip netns exec "$NS_SRV" "${SRV_PIN[@]}" dhcpd -p 6767 -f -d -4 -cf "$W/dhcpd.conf" \
            -lf "$W/dhcpd.leases" -pf "$W/dhcpd.pid" "$IF_SRV" > /dev/null 2>&1 &
        SRV_PID=$!
        ;;
    provisiond|provisiond-ratelimit)
        local conf="$W/provisiond.yaml"
        [ "$name" = provisiond-ratelimit ] && conf="$W/provisiond-ratelimit.yaml"
        (cd "$repo" && exec ip netns exec "$NS_SRV" "${SRV_PIN[@]}" node dist/src/main.js run -c "$conf") \
            > "$W/$name.out" 2>&1 &
        SRV_PID=$!
        ;;
    esac
    for _ in $(seq 1 200); do   # at most 20 s
        udp6767_bound && break
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! udp6767_bound || ! kill -0 "$SRV_PID" 2>/dev/null; then
        tail -n 20 "$W"/*.out 2>/dev/null >&2 || true
        die "$name did not start (nothing on UDP 6767 in $NS_SRV)"
    fi
    sleep 1
    echo "### server=$name pin=$PIN started pid=$SRV_PID $(date -u +%FT%TZ)" >> "$LOG"
}
stop_server() { # name
    local cpu
    cpu="$(awk '{print ($14 + $15)}' "/proc/$SRV_PID/stat" 2>/dev/null || echo '?')"
    echo "### server=$1 pin=$PIN stopping pid=$SRV_PID cpu_ticks=$cpu hz=$(getconf CLK_TCK)" >> "$LOG"
    stop_pid "$SRV_PID"
    SRV_PID=""
}

LOADCMD=(ip netns exec "$NS_CLI" "${CLI_PIN[@]}" "$LOADGEN" -s "$SRV_IP" -b "$CLI_IP" -n "$MAX_PKTS")
# wait_quiet: after a noisy attempt, wait (at most QUIET_WAIT s) until other processes use
# less than NOISE_MAX % CPU over one second, so that the repeat has a chance to be quiet
wait_quiet() {
    local t0=$SECONDS f
    while :; do
        f="$("$PY" "$SHARED/cpuwatch.py" $$ -- sleep 1 2>&1 | sed -n 's/^cpuwatch: foreign_cpu_pct=\([0-9.]*\).*/\1/p')"
        awk -v f="${f:-999}" -v m="$NOISE_MAX" 'BEGIN { exit !(f <= m) }' && return 0
        [ $((SECONDS - t0)) -ge "$QUIET_WAIT" ] && return 0
    done
}
# one measured point: repeat until one quiet run, at most MAX_ATTEMPTS attempts
point() { # server round mode param duration loadgen-args...
    local server="$1" round="$2" mode="$3" param="$4" dur="$5" attempt=0 out f noisy
    shift 5
    while [ "$attempt" -lt "$MAX_ATTEMPTS" ]; do
        attempt=$((attempt + 1))
        out="$(timeout $((dur + WARM + 30)) "$PY" "$SHARED/cpuwatch.py" $$ -- "${LOADCMD[@]}" -d "$dur" -W "$WARM" -t "$TIMEOUT_MS" "$@" 2>&1)" || true
        f="$(printf '%s\n' "$out" | sed -n 's/^cpuwatch: foreign_cpu_pct=\([0-9.]*\).*/\1/p')"
        noisy=0
        awk -v f="${f:-999}" -v m="$NOISE_MAX" 'BEGIN { exit !(f > m) }' && noisy=1
        echo "### server=$server pin=$PIN mode=$mode param=$param round=$round attempt=$attempt noisy=$noisy foreign=${f:-?}" >> "$LOG"
        printf '%s\n' "$out" >> "$LOG"
        printf '  %-22s %-6s %-6s %s%s\n' "$server" "$mode" "$param" \
            "$(printf '%s\n' "$out" | sed -n 's/^done: //p')" "$([ "$noisy" = 1 ] && echo "  [noisy: foreign CPU ${f:-?}%, repeating]")" >&2
        [ "$noisy" = 0 ] && break
        if [ "$SECONDS" -ge "$RETRY_BUDGET" ]; then
            [ "$BUDGET_SAID" = 1 ] || say "retry budget (${RETRY_BUDGET} s) used up: noisy runs are no longer repeated"
            BUDGET_SAID=1
            break
        fi
        wait_quiet
    done
    sleep 0.5
}

proof() { # server
    local s="$1" ok=1
    {
        echo "### proof server=$s"
        ip netns exec "$NS_CLI" timeout 10 tshark -q -i "$IF_CLI" -c 2 -f 'udp port 6767 or udp port 6768' \
            -w "$W/proof-$s.pcap" > /dev/null 2>&1 &
        TS_PID=$!
        for _ in $(seq 1 50); do [ -s "$W/proof-$s.pcap" ] && break; sleep 0.1; done   # tshark has opened its file
        sleep 0.5
        "${LOADCMD[@]}" -w 1 -d 0.5 -n 1 -v || ok=0
        wait "$TS_PID" 2>/dev/null || true
        TS_PID=""
        echo "### proof: tshark decode of that exchange"
        tshark -r "$W/proof-$s.pcap" -d udp.port==6767,dhcp -d udp.port==6768,dhcp -V 2>/dev/null \
            | grep -E 'Src: [0-9]|Message type|Transaction ID|Option: \((53|224)\)|Value:' || echo "(no capture)"
        echo "### proof: broadcast INFORM to 255.255.255.255:6767, as Jitsi's client sends it"
        ip netns exec "$NS_CLI" "$LOADGEN" -s 255.255.255.255 -B -b "$CLI_IP" -w 1 -d 0.5 -n 1 -v || echo "broadcast INFORM: no valid ACK"
    } >> "$LOG" 2>&1
    [ "$ok" = 1 ] || die "$s did not answer a single INFORM with a valid DHCPACK + option 224 (see $LOG)"
    say "$s: proof OK (valid DHCPACK with option 224; tshark capture in the log)"
}

measure() { # server round
    local s="$1" r="$2" w rate
    start_server "$s"
    [ "$r" = 1 ] && proof "$s"
    for w in $WINDOWS; do point "$s" "$r" closed "$w" "$CL_DUR" -w "$w"; done
    for rate in $RATES; do point "$s" "$r" open "$rate" "$OL_DUR" -r "$rate"; done
    stop_server "$s"
}

say "mode=$MODE pin=$PIN rounds=$ROUNDS windows=[$WINDOWS] rates=[$RATES]; raw log: $LOG"
say "provisiond runs with dhcp.rateLimit.rate: 0 (per-source flood limit OFF) except in the last, rate-limited run"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="dhcpd provisiond"; else order="provisiond dhcpd"; fi
    say "round $r/$ROUNDS: $order"
    for s in $order; do measure "$s" "$r"; done
done

# The rate-limited figures are bound by the configured rate, not by CPU: one attempt each,
# and the daemon's "flood" warnings are counted per run.
say "provisiond with its default per-source rate limit (closed loop w=$RL_WINDOW; open loop $RL_RATE/s)"
MAX_ATTEMPTS=1
start_server provisiond-ratelimit
rl_point() { # mode param loadgen-args...
    local before after
    before="$(grep -c 'rate-limiting' "$W/provisiond-ratelimit.out" || true)"
    point provisiond-ratelimit 1 "$1" "$2" "$RL_DUR" "${@:3}"
    after="$(grep -c 'rate-limiting' "$W/provisiond-ratelimit.out" || true)"
    echo "### rl-warn mode=$1 param=$2 lines=$((after - before)) seconds=$((RL_DUR + WARM))" >> "$LOG"
}
rl_point closed "$RL_WINDOW" -w "$RL_WINDOW"
rl_point open "$RL_RATE" -r "$RL_RATE"
stop_server provisiond-ratelimit
{
    echo "### provisiond-ratelimit daemon log (warn level), first 2 of $(wc -l < "$W/provisiond-ratelimit.out") lines:"
    head -n 2 "$W/provisiond-ratelimit.out"
} >> "$LOG"

"$PY" "$here/compare.py" "$LOG" | tee "$SUMMARY"
say "summary: $SUMMARY"
say "raw log: $LOG"
