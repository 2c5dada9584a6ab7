#!/usr/bin/env bash
# bench/http/run.sh - provisiond's POST /jitsi against the HTTP anchors, in one run, on one box.
#
# Usage: bench/http/run.sh [--runs N] [--dur SECONDS] [--users N] [--cases a,b,...] [--overhead]   (as root)
#
# Cases, all measured with the anchor's wrk line (wrk -t2 -c50 --latency, unpinned) on the
# loopback of a network namespace of our own (phttp-bench; the shared lab's plab-* namespaces are
# left alone):
#   nginx-static         nginx serving the PHP script's output as a file (GET): the ceiling
#   nginx-fpm            ../shared/bench/http/prov.php under php-fpm + nginx (the PHP anchor,
#                        configured exactly as ../shared/bench/anchor-http.sh does), POST post.lua
#   provisiond-cached    provisiond (one process, the default http.workers: 1), authenticated +
#                        rule-rendered POST /jitsi with the anchor's own body (post.lua:
#                        username=alice&password=secret1&os=Linux); the verified password is in
#                        the credential cache after the first request
#   provisiond-w2-cached the same with http.workers: 2 (two HTTP worker processes, like the
#                        anchor's nginx workers + php-fpm children use both cores)
#   provisiond-w2-cached-users  http.workers: 2, cycling through USERS users (users.lua), cache warm
#   provisiond-uncached  one process, USERS users, cacheTtl 0: every request runs scrypt (ln=15),
#                        the KDF path (wrk --timeout 10s)
#   provisiond-cached-metrics  provisiond-cached with the admin listener on (admin.port 8672:
#                        metrics, health) and GET /metrics scraped every second during the run
#                        (provisiond-cached has admin.enabled: false). --overhead runs only these
#                        two and prints the ratio: the admin listener's cost on the provisioning path
#   provisiond-cached-v8 provisiond-cached with the V8 flags V8_FLAGS (default
#                        --min-semi-space-size=64 --max-semi-space-size=64: a young generation
#                        fixed at 4x V8's default, so 4x fewer scavenges; --max alone does not
#                        grow it when few objects survive)
# The servers run side by side and the cases are interleaved run by run, so drift hits all
# alike. Each wrk run is wrapped in ../shared/bench/cpuwatch.py; a run during which other
# processes used more than NOISE_MAX % CPU (default 15) is marked noisy=1 and repeated (at most
# 3*RUNS attempts per case); summarize.py leaves noisy runs out.
# Output: .bench-results/http/http-CASE-nopin.log (raw, anchor format), the median table, and the
# ratios. Needs: wrk, nginx, php-fpm (PHP_FPM, default php-fpm8.2), curl, python3; npm run build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
SHARED="${SHARED:-$(cd "$root/../shared/bench" && pwd)}"
NS=phttp-bench
W=/tmp/phttp
RES="$root/.bench-results/http"
RUNS=3 DUR=10 USERS=100 ONLY=()
NOISE_MAX="${NOISE_MAX:-15}"
PHP_FPM="${PHP_FPM:-php-fpm8.2}"
V8_FLAGS="${V8_FLAGS:---min-semi-space-size=64 --max-semi-space-size=64}"
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS="$2"; shift ;;
    --dur) DUR="$2"; shift ;;
    --users) USERS="$2"; shift ;;
    --cases) IFS=, read -r -a ONLY <<< "$2"; shift ;;
    --overhead) ONLY=(provisiond-cached provisiond-cached-metrics) ;;
    *) awk 'NR > 1 && /^set -e/ { exit } NR > 1' "$0"; exit 64 ;;
    esac
    shift
done
[ "$DUR" -le 60 ] && [ "$RUNS" -le 10 ] && [ "$USERS" -le 2000 ] || { echo "bounded: --dur <= 60, --runs <= 10, --users <= 2000" >&2; exit 64; }
[ "$(id -u)" = 0 ] || { echo "run as root (ip netns)" >&2; exit 1; }
for t in wrk nginx "$PHP_FPM" curl python3; do command -v "$t" > /dev/null || { echo "missing: $t" >&2; exit 1; }; done
[ -f "$root/dist/src/main.js" ] || { echo "run 'npm run build' first" >&2; exit 1; }

# The namespace, PIDS and the cleanup at exit.
. "$root/bench/lib/netns.sh"
rm -rf "$W"
mkdir -p "$W/www" "$W/php" "$W/tmp" "$RES"
chmod 755 "$W" "$W/www" "$W/php"
install -m 644 "$SHARED/http/prov.php" "$W/php/prov.php"

# The PHP anchor, configured as ../shared/bench/anchor-http.sh configures it.
cat > "$W/php-fpm.conf" <<CONF
[global]
pid = $W/php-fpm.pid
error_log = $W/php-fpm.log
daemonize = no
[www]
user = nobody
group = nogroup
listen = $W/fpm.sock
listen.mode = 0666
pm = dynamic
pm.max_children = 5
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
CONF
cat > "$W/nginx.conf" <<CONF
worker_processes auto;
pid $W/nginx.pid;
error_log $W/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type text/plain;
    client_body_temp_path $W/tmp/body;
    fastcgi_temp_path $W/tmp/fastcgi;
    proxy_temp_path $W/tmp/proxy;
    uwsgi_temp_path $W/tmp/uwsgi;
    scgi_temp_path $W/tmp/scgi;
    server {
        listen 127.0.0.1:8082;
        location = /prov.php {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $W/php/prov.php;
            fastcgi_pass unix:$W/fpm.sock;
        }
    }
    server {
        listen 127.0.0.1:8083;
        root $W/www;
        location / { }
    }
}
CONF

wait_url() { # URL [curl args]: up to 20 s
    local u="$1"; shift
    for _ in $(seq 1 200); do "${IN[@]}" curl -s -o /dev/null "$@" "$u" && return 0; sleep 0.1; done
    echo "server at $u did not come up" >&2; return 1
}

echo "generating provisiond configurations ($USERS users + alice/bob/carol, scrypt ln=15)..." >&2
node "$root/dist/bench/http/setup.js" "$W/cached.yaml" "$W/state-cached" 8667 "$USERS" 3600 1
node "$root/dist/bench/http/setup.js" "$W/uncached.yaml" "$W/state-uncached" 8668 "$USERS" 0 1
node "$root/dist/bench/http/setup.js" "$W/w2.yaml" "$W/state-w2" 8669 "$USERS" 3600 2
node "$root/dist/bench/http/setup.js" "$W/v8.yaml" "$W/state-v8" 8670 "$USERS" 3600 1
node "$root/dist/bench/http/setup.js" "$W/metrics.yaml" "$W/state-metrics" 8671 "$USERS" 3600 1 8672

"${IN[@]}" "$PHP_FPM" -F -y "$W/php-fpm.conf" > "$W/php-fpm.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$W/fpm.sock" ] && break; sleep 0.1; done
"${IN[@]}" nginx -c "$W/nginx.conf" -g 'daemon off;' > "$W/nginx.out" 2>&1 &
PIDS+=($!)
"${IN[@]}" node "$root/dist/src/main.js" run --config "$W/cached.yaml" > "$W/provisiond-cached.log" 2>&1 &
PIDS+=($!)
CACHED_PID=$!
"${IN[@]}" node "$root/dist/src/main.js" run --config "$W/uncached.yaml" > "$W/provisiond-uncached.log" 2>&1 &
PIDS+=($!)
"${IN[@]}" node "$root/dist/src/main.js" run --config "$W/w2.yaml" > "$W/provisiond-w2.log" 2>&1 &
PIDS+=($!)
W2_PID=$!
# shellcheck disable=SC2086 # V8_FLAGS is a list of flags
"${IN[@]}" node $V8_FLAGS "$root/dist/src/main.js" run --config "$W/v8.yaml" > "$W/provisiond-v8.log" 2>&1 &
PIDS+=($!)
"${IN[@]}" node "$root/dist/src/main.js" run --config "$W/metrics.yaml" > "$W/provisiond-metrics.log" 2>&1 &
PIDS+=($!)
BODY='username=alice&password=secret1&os=Linux'
wait_url http://127.0.0.1:8082/prov.php -d "$BODY"
"${IN[@]}" curl -s -d "$BODY" http://127.0.0.1:8082/prov.php > "$W/www/prov.properties"
chmod 644 "$W/www/prov.properties"
wait_url http://127.0.0.1:8083/prov.properties
wait_url http://127.0.0.1:8667/jitsi -d "$BODY"
wait_url http://127.0.0.1:8668/jitsi -d "$BODY"
wait_url http://127.0.0.1:8669/jitsi -d "$BODY"
wait_url http://127.0.0.1:8670/jitsi -d "$BODY"
wait_url http://127.0.0.1:8671/jitsi -d "$BODY"
wait_url http://127.0.0.1:8672/readyz

CASES=(nginx-static nginx-fpm provisiond-cached provisiond-cached-metrics provisiond-cached-v8 provisiond-w2-cached provisiond-w2-cached-users provisiond-uncached)
[ ${#ONLY[@]} -gt 0 ] && CASES=("${ONLY[@]}")
url_of() {
    case "$1" in
    nginx-static) echo http://127.0.0.1:8083/prov.properties ;;
    nginx-fpm) echo http://127.0.0.1:8082/prov.php ;;
    provisiond-cached) echo http://127.0.0.1:8667/jitsi ;;
    provisiond-cached-metrics) echo http://127.0.0.1:8671/jitsi ;;
    provisiond-cached-v8) echo http://127.0.0.1:8670/jitsi ;;
    provisiond-w2-cached|provisiond-w2-cached-users) echo http://127.0.0.1:8669/jitsi ;;
    provisiond-uncached) echo http://127.0.0.1:8668/jitsi ;;
    esac
}
script_of() {
    case "$1" in
    nginx-static) ;;
    nginx-fpm|provisiond-cached|provisiond-cached-metrics|provisiond-cached-v8|provisiond-w2-cached) echo "$SHARED/http/post.lua" ;;
    *) echo "$here/users.lua" ;;
    esac
}

for c in "${CASES[@]}"; do
    LOG="$RES/http-$c-nopin.log"
    : > "$LOG"
    u=$(url_of "$c")
    {
        echo "### proof case=$c: one request, headers and body"
        if [ "$c" = nginx-static ]; then
            "${IN[@]}" curl -s -i "$u"
        elif [ "$c" = provisiond-w2-cached-users ] || [ "$c" = provisiond-uncached ]; then
            "${IN[@]}" curl -s -i -A Jitsi/2.10.5550 -d 'username=user7&password=pw-user7&os=Linux' "$u"
        else
            "${IN[@]}" curl -s -i -d "$BODY" "$u"
            echo "--- wrong password:"
            "${IN[@]}" curl -s -i -d 'username=alice&password=nope' "$u" | head -1
        fi
    } >> "$LOG" 2>&1
done
# warm the credential caches of both workers for every user of users.lua: cluster hands new
# connections to the workers in turn, so two passes shifted by one request reach both
for pass in 1 2; do
    for i in $(seq 0 $((USERS - 1))); do echo "username=user$i&password=pw-user$i&os=Linux"; done |
        while read -r b; do "${IN[@]}" curl -s -o /dev/null -d "$b" http://127.0.0.1:8669/jitsi; done
    "${IN[@]}" curl -s -o /dev/null -d "$BODY" http://127.0.0.1:8669/jitsi
done
# warm-up (JIT, connection pools): 3 s of each case's own load, not recorded
for c in "${CASES[@]}"; do
    s=$(script_of "$c"); a=(); [ -n "$s" ] && a=(-s "$s")
    [ "$c" = provisiond-uncached ] && continue
    "${IN[@]}" env USERS="$USERS" wrk -t2 -c50 -d3s "${a[@]}" "$(url_of "$c")" > /dev/null 2>&1 || true
done

declare -A clean attempts
for c in "${CASES[@]}"; do clean[$c]=0; attempts[$c]=0; done
for round in $(seq 1 $((RUNS * 3))); do
    todo=0
    for c in "${CASES[@]}"; do
        [ "${clean[$c]}" -lt "$RUNS" ] || continue
        todo=1
        attempts[$c]=$((attempts[$c] + 1))
        u=$(url_of "$c"); s=$(script_of "$c")
        WRK=("${IN[@]}" env USERS="$USERS" wrk -t2 -c50 -d"${DUR}s" --latency)
        [ "$c" = provisiond-uncached ] && WRK+=(--timeout 10s)
        [ -n "$s" ] && WRK+=(-s "$s")
        t0=$(date +%s)
        scraper=
        if [ "$c" = provisiond-cached-metrics ]; then
            # what a Prometheus server does: GET /metrics every second, for the run's length
            ( for _ in $(seq 1 $((DUR + 2))); do "${IN[@]}" curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 http://127.0.0.1:8672/metrics >> "$W/scrapes.txt"; sleep 1; done ) &
            scraper=$!
            PIDS+=("$scraper")
        fi
        out=$(python3 "$SHARED/cpuwatch.py" $$ -- "${WRK[@]}" "$u" 2>&1) || true
        if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; fi
        f=$(printf '%s\n' "$out" | sed -n 's/^cpuwatch: foreign_cpu_pct=\([0-9.]*\).*/\1/p')
        noisy=0
        awk -v f="${f:-999}" -v m="$NOISE_MAX" 'BEGIN { exit !(f > m) }' && noisy=1
        [ "$noisy" = 0 ] && clean[$c]=$((clean[$c] + 1))
        echo "### case=$c pin=nopin attempt=${attempts[$c]} noisy=$noisy foreign=${f:-?} start=$t0" >> "$RES/http-$c-nopin.log"
        printf '%s\n' "$out" >> "$RES/http-$c-nopin.log"
        printf '%-26s attempt %d: %s req/s, p99 %s, foreign CPU %s%%%s\n' "$c" "${attempts[$c]}" \
            "$(printf '%s\n' "$out" | sed -n 's/^Requests\/sec:[[:space:]]*//p')" \
            "$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')" "${f:-?}" "$([ $noisy = 1 ] && echo ' (noisy, repeated)')" >&2
        sleep 1
    done
    [ "$todo" = 1 ] || break
done

echo
python3 "$SHARED/summarize.py" wrk $(for c in "${CASES[@]}"; do echo "$RES/http-$c-nopin.log"; done) | tee "$RES/summary.md"
echo
# Ratios from the medians of the table above (columns: case pin runs req/s p50 p99 ...).
python3 - "$RES/summary.md" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) > 5 and cells[0] and not cells[0].startswith(("case", "---")):
        try:
            rows[cells[0]] = (float(cells[3].split()[0]), float(cells[5].split()[0]))
        except ValueError:
            pass
def ratio(a, b):
    if a in rows and b in rows:
        ra, pa = rows[a]; rb, pb = rows[b]
        print(f"{a} / {b}: throughput x{ra / rb:.2f}, p99 {pa:.2f} ms vs {pb:.2f} ms (x{pa / pb:.2f})")
ratio("provisiond-cached", "nginx-fpm")
ratio("provisiond-cached-metrics", "provisiond-cached")
ratio("provisiond-cached-v8", "nginx-fpm")
ratio("provisiond-w2-cached", "nginx-fpm")
ratio("provisiond-w2-cached", "nginx-static")
ratio("provisiond-w2-cached-users", "nginx-fpm")
ratio("provisiond-uncached", "provisiond-cached")
ratio("provisiond-uncached", "nginx-fpm")
# issue 15's target: one process >= 1.5x PHP + php-fpm + nginx's req/s with a p99 no worse; two workers >= 2x.
for c, want, p99 in (("provisiond-cached", 1.5, True), ("provisiond-cached-v8", 1.5, True), ("provisiond-w2-cached", 2.0, False)):
    if c in rows and "nginx-fpm" in rows:
        ok = rows[c][0] >= want * rows["nginx-fpm"][0] and (not p99 or rows[c][1] <= rows["nginx-fpm"][1])
        print(f"target ({c} >= {want}x PHP+php-fpm+nginx req/s{' with p99 no worse' if p99 else ''}): {'MET' if ok else 'NOT MET'}")
PY
echo
kill -USR1 "$CACHED_PID" "$W2_PID" 2>/dev/null || true
sleep 2.5
[ -f "$W/scrapes.txt" ] && echo "GET /metrics during the provisiond-cached-metrics runs: $(grep -c '^200$' "$W/scrapes.txt") answered 200 of $(wc -l < "$W/scrapes.txt")"
echo "provisiond counters, one process: $(grep '"msg":"counters"' "$W/provisiond-cached.log" | tail -1 | grep -o '"http":{[^}]*}')"
echo "provisiond counters, 2 workers:   $(grep '"msg":"counters"' "$W/provisiond-w2.log" | tail -1 | grep -o '"http":{[^}]*}')"
