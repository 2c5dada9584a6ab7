#!/usr/bin/env bash
# bench/tftp/run.sh - provisiond's TFTP face next to Debian's tftpd-hpa, same bytes, same run.
#
# Usage (as root): bench/tftp/run.sh [--phones N] [--concurrency C] [--seconds S] [--big-mb M]
#                  defaults: 200 phones, 32 clients at once, 8 s of small-file load per server,
#                  a 32 MiB firmware file
#
# The lab, in a network namespace of its own (ptftp-bench: loopback, and a veth pair inside it so
# that tftpd-hpa finds an IPv4 address; all traffic is on loopback):
#   - provisiond with N Yealink phones declared (phones.devices), serving each phone's rendered
#     <mac>.cfg over TFTP on 127.0.0.1:69 (and HTTP on 8667, used once to fetch the files);
#     the firmware file in its site profile's yealink/files/;
#   - tftpd-hpa (`in.tftpd --foreground --listen --address 127.0.0.1:6969 -s ROOT`) serving the
#     same bytes: every <mac>.cfg as provisiond renders it (fetched over HTTP), and the firmware.
# The load (dist/bench/tftp/load.js, the same client for both): C clients at once, each transfer
# from a socket of its own and a source address of its own (127.1.x.y, N of them), every body
# compared byte for byte with the file on disk:
#   small   each client fetches phones' <mac>.cfg in turn for S seconds (octet, no options)
#   big     one client fetches the firmware with blksize 1468, then with blksize 1468 + windowsize 16
#           (tftpd-hpa 5.2 has no windowsize: it leaves the option out of its OACK and the
#           transfer runs lock-step; the ratio shows what RFC 7440 buys)
# Printed: transfers/s, p50/p99 ms, errors and timeouts per server, MB/s for the big file, and
# the ratios provisiond / tftpd-hpa. Load in all: about 2 x S + the big transfers (< 60 s).
# Defaults turned off for provisiond: tftp.rateLimit (rate 0: the per-source request limit, 20/s)
# and http.rateLimit; tftp.maxTransfersPerSource stays at its default (8), log.level warn.
# Cleanup: both servers are stopped by PID and the namespace deleted at exit (bench/lib/netns.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
NS=ptftp-bench
W=/tmp/ptftp-bench
PHONES=200 C=32 SECS=8 BIG_MB=32
while [ $# -gt 0 ]; do
    case "$1" in
    --phones) PHONES="$2"; shift ;;
    --concurrency) C="$2"; shift ;;
    --seconds) SECS="$2"; shift ;;
    --big-mb) BIG_MB="$2"; shift ;;
    *) awk 'NR > 1 && /^set -e/ { exit } NR > 1' "$0"; exit 64 ;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || { echo "run as root (network namespace, port 69)" >&2; exit 1; }
[ "$SECS" -le 25 ] || { echo "--seconds is at most 25 (the whole run stays under 60 s of load)" >&2; exit 64; }
for t in /usr/sbin/in.tftpd curl node; do command -v "$t" >/dev/null || { echo "missing $t (Debian: tftpd-hpa, curl, nodejs)" >&2; exit 1; }; done
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$root" && npm run build >/dev/null)

source "$root/bench/lib/netns.sh"
# tftpd-hpa resolves its --address with AI_ADDRCONFIG, which fails in a namespace that has only
# loopback (exit 66): a veth pair inside the namespace gives it one IPv4 address (no traffic uses it).
ip -n "$NS" link add pt0 type veth peer name pt1
ip -n "$NS" addr add 10.69.0.1/24 dev pt0
ip -n "$NS" link set pt0 up
ip -n "$NS" link set pt1 up
rm -rf "$W"
mkdir -p "$W/tftproot" "$W/profiles/yealink/files" "$W/state"
chmod 755 "$W" "$W/tftproot"

# The firmware: deterministic bytes, the same file for both servers.
node -e '
const fs = require("fs"); const n = Number(process.argv[1]) * 1048576; const b = Buffer.alloc(1 << 20);
const fd = fs.openSync(process.argv[2], "w");
for (let off = 0; off < n; off += b.length) { for (let i = 0; i < b.length; i += 4) b.writeUInt32BE(((off + i) * 2654435761) >>> 0, i); fs.writeSync(fd, b, 0, Math.min(b.length, n - off)); }
fs.closeSync(fd);' "$BIG_MB" "$W/profiles/yealink/files/fw.rom"
cp "$W/profiles/yealink/files/fw.rom" "$W/tftproot/fw.rom"

{
    cat <<EOF
http: {host: 127.0.0.1, port: 8667, rateLimit: {rate: 0}}
dhcp: {enabled: false}
mdns: {enabled: false}
tftp: {enabled: true, port: 69, interfaces: [lo], rateLimit: {rate: 0}}
log: {level: warn}
stateDir: $W/state
provisioning:
  defaultDomain: lab.example
  tenants: {lab.example: {auth: none}}
phones:
  enabled: true
  profilesDir: $W/profiles
  baseUrl: http://192.0.2.1:8667/
  passwordWindow: 0
  configs:
    - {id: site, role: default, raw: {ntp_ip: 192.0.2.123, sip_proxy_ip: 192.0.2.10, timezone: Europe/Paris}}
  devices:
EOF
    for i in $(seq 1 "$PHONES"); do printf '    - {mac: "00:15:65:%02x:%02x:%02x", profile: yealink, model: T46S}\n' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)); done
} > "$W/provisiond.yaml"

"${IN[@]}" node "$root/dist/src/main.js" run --config "$W/provisiond.yaml" > "$W/provisiond.log" 2>&1 &
PIDS+=($!)
"${IN[@]}" /usr/sbin/in.tftpd --foreground --listen --address 127.0.0.1:6969 -s "$W/tftproot" > "$W/tftpd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    "${IN[@]}" curl -s -o /dev/null --max-time 1 http://127.0.0.1:8667/y000000000000.boot && break
    sleep 0.1
done

# Every phone's file as provisiond renders it, into tftpd-hpa's root (and the list of names).
: > "$W/files.txt"
for i in $(seq 1 "$PHONES"); do
    f=$(printf '001565%02x%02x%02x.cfg' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))
    "${IN[@]}" curl -sS --fail -o "$W/tftproot/$f" "http://127.0.0.1:8667/$f"
    echo "$f" >> "$W/files.txt"
done
chmod 644 "$W/tftproot/"*

LOAD=(node "$root/dist/bench/tftp/load.js" --host 127.0.0.1 --dir "$W/tftproot")
run() { # server port label args...
    local server="$1" port="$2" label="$3"; shift 3
    local out
    out=$("${IN[@]}" "${LOAD[@]}" --port "$port" "$@")
    echo "{\"server\":\"$server\",\"case\":\"$label\",\"result\":$out}" | tee -a "$W/results.jsonl"
}
: > "$W/results.jsonl"
echo "# box: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at start; $PHONES phones, $C clients, $SECS s, ${BIG_MB} MiB firmware"
for s in tftpd-hpa:6969 provisiond:69; do
    name="${s%%:*}" port="${s##*:}"
    run "$name" "$port" small --list "$W/files.txt" --concurrency "$C" --seconds "$SECS" --sources "$PHONES"
    run "$name" "$port" big-1468 --files fw.rom --concurrency 1 --count 1 --seconds 25 --blksize 1468
    run "$name" "$port" big-1468-w16 --files fw.rom --concurrency 1 --count 1 --seconds 25 --blksize 1468 --windowsize 16
done
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
const get = (s, c) => rows.find((r) => r.server === s && r.case === c).result;
const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) : "n/a");
const p = get("provisiond", "small"), t = get("tftpd-hpa", "small");
console.log("\n| case | tftpd-hpa | provisiond | ratio (provisiond / tftpd-hpa) |\n|---|---|---|---|");
console.log(`| small files: transfers/s | ${t.tps} | ${p.tps} | ${ratio(p.tps, t.tps)} |`);
console.log(`| small files: p50 / p99 ms | ${t.p50} / ${t.p99} | ${p.p50} / ${p.p99} | ${ratio(p.p50, t.p50)} / ${ratio(p.p99, t.p99)} |`);
console.log(`| small files: errors / timeouts | ${t.errors} / ${t.timeouts} | ${p.errors} / ${p.timeouts} | |`);
for (const c of ["big-1468", "big-1468-w16"]) {
  const a = get("provisiond", c), b = get("tftpd-hpa", c);
  console.log(`| ${c}: MB/s (s) | ${b.mbps} (${b.seconds}) | ${a.mbps} (${a.seconds}) | ${ratio(a.mbps, b.mbps)} |`);
}' "$W/results.jsonl"
