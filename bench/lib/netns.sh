# bench/lib/netns.sh - sourced by the benchmark scripts: a network namespace of the bench's own
# ($NS, loopback up) and the cleanup that stops every process the script started (the PIDS
# array, children first, by PID) and deletes the namespace when nothing is left inside.
# After sourcing: PIDS=() is ready, `cleanup` runs at EXIT, and IN=(ip netns exec "$NS").
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        for k in $(pgrep -P "$p" 2>/dev/null || true); do kill "$k" 2>/dev/null || true; done
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
    if ip netns list | grep -qw "$NS"; then
        [ -z "$(ip netns pids "$NS")" ] && ip netns del "$NS" || echo "left $NS: processes still inside" >&2
    fi
}
trap cleanup EXIT

if ip netns list | grep -qw "$NS"; then
    [ -z "$(ip netns pids "$NS")" ] || { echo "$NS is in use; stop that first" >&2; exit 1; }
else
    ip netns add "$NS"
fi
ip -n "$NS" link set lo up
IN=(ip netns exec "$NS")
