#!/usr/bin/env bash
# The sandbox under load: 5,000 pods in one namespace with 10 concurrent watchers.
#
#   bench/sandbox.sh                          # both passes
#   PASSES=api bench/sandbox.sh               # only the API pass
#   PODS=2000 WRITES=300 bench/sandbox.sh     # other sizes
#
# Pass "api": `tollgate sandbox --no-controllers --port 0` on 127.0.0.1 with a temporary state dir;
# `examples/sandbox_bench.rs load` creates PODS pods in namespace `bench` (CONCURRENCY in flight)
# and SMALL pods in namespace `small` (the baseline); `sandbox_bench measure` times lists (full,
# paged, and the small namespace's list as the baseline), event fan-out of WRITES replaces to 1
# and to WATCHERS watchers (ROUNDS rounds, alternating), and a list during a burst of BURST writes
# to the WATCHERS watchers (BURST_CONCURRENCY in flight), alone and while full lists run back to
# back; then CHURN more writes with no watcher. The sandbox's VmRSS and VmHWM (/proc/PID/status)
# are read empty, after loading, and after the measures (and by the example between its steps).
#
# Pass "controllers": `tollgate sandbox --speed 100 --port 0`; `sandbox_bench deploy` creates
# NODES ready nodes (110 pods each), then a Deployment of each BASELINE size (comma-separated) and
# one of REPLICAS replicas, each in its own namespace and watched until all replicas are updated,
# ready and available; the sandbox's CPU time (utime + stime from /proc/PID/stat) and RSS are read
# around each.
#
# Settings (environment): PASSES (default "api controllers"), PODS (5000), SMALL (50),
# CONCURRENCY (32), WATCHERS (10), WRITES (500), ROUNDS (2), LIST_RUNS (20), BURST (2000),
# BURST_CONCURRENCY (16), CHURN (20000), NODES (50), REPLICAS (5000), BASELINE (50,500), SPEED (100),
# DEADLINE_S (900, per rollout), CARGO_TARGET_DIR (default /tmp/tg-bench), TMPDIR, TOLLGATE_BIN and
# BENCH_EXAMPLE (both: run these binaries, build nothing).
# Every sandbox is stopped by its PID (SIGTERM, then SIGKILL after 10 s) when the script ends,
# whatever happens; the temporary directory is removed.
set -euo pipefail

PASSES=${PASSES:-api controllers}
PODS=${PODS:-5000}
SMALL=${SMALL:-50}
CONCURRENCY=${CONCURRENCY:-32}
WATCHERS=${WATCHERS:-10}
WRITES=${WRITES:-500}
ROUNDS=${ROUNDS:-2}
LIST_RUNS=${LIST_RUNS:-20}
BURST=${BURST:-2000}
BURST_CONCURRENCY=${BURST_CONCURRENCY:-16}
CHURN=${CHURN:-20000}
NODES=${NODES:-50}
REPLICAS=${REPLICAS:-5000}
BASELINE=${BASELINE:-50,500}
SPEED=${SPEED:-100}
DEADLINE_S=${DEADLINE_S:-900}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}

# TOLLGATE_BIN and BENCH_EXAMPLE run given builds instead (e.g. two builds compared on one machine);
# nothing is built then.
if [[ -n ${TOLLGATE_BIN:-} && -n ${BENCH_EXAMPLE:-} ]]; then
    bin=$TOLLGATE_BIN
    example=$BENCH_EXAMPLE
else
    (cd "$root" && cargo build --release --quiet --bin tollgate --example sandbox_bench)
    bin=$CARGO_TARGET_DIR/release/tollgate
    example=$CARGO_TARGET_DIR/release/examples/sandbox_bench
fi
[[ -x $bin && -x $example ]] || { echo "no binaries: $bin, $example" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-sandbox-bench.XXXXXX")
pid=

stop_sandbox() {
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local end=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.05; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "sandbox $pid did not stop on SIGTERM within 10 s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    pid=
}
cleanup() {
    stop_sandbox
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start a sandbox with the given flags; sets $pid and $url. Waits (up to 20 s) for the line
# `sandbox: Kubernetes API on URL` on its stdout.
start_sandbox() {
    local name=$1
    shift
    mkdir -p "$work/$name"
    # Created here, so that reading them cannot race with the child's redirections.
    : >"$work/$name/stdout"
    : >"$work/$name/stderr"
    "$bin" --state-dir "$work/$name/state" sandbox --port 0 --kubeconfig "$work/$name/kubeconfig" "$@" \
        >"$work/$name/stdout" 2>"$work/$name/stderr" &
    pid=$!
    url=
    local end=$((SECONDS + 20))
    while [[ -z $url ]]; do
        url=$(sed -n 's/^sandbox: Kubernetes API on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$work/$name/stdout" || true)
        [[ -n $url ]] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "sandbox exited before serving:" >&2
            cat "$work/$name/stderr" >&2
            exit 1
        fi
        if ((SECONDS >= end)); then
            echo "sandbox did not print its URL within 20 s" >&2
            exit 1
        fi
        sleep 0.02
    done
    echo "# sandbox ($*) pid $pid on $url"
}

# VmRSS and VmHWM of the sandbox, in MiB, and its CPU time (utime + stime), in seconds.
proc_line() {
    local at=$1 hz rss hwm cpu
    hz=$(getconf CLK_TCK)
    rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
    # Fields after the command name: utime and stime are fields 14 and 15 of the line.
    cpu=$(sed 's/^.*) //' "/proc/$pid/stat" | awk -v hz="$hz" '{ printf "%.2f", ($12 + $13) / hz }')
    printf '{"metric":"sandbox_rss","at":"%s","vm_rss_mib":%s,"vm_hwm_mib":%s,"cpu_s":%s}\n' \
        "$at" "$rss" "$hwm" "$cpu"
}

want() { [[ " $PASSES " == *" $1 "* ]]; }

echo "# machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr)"
# CPU seconds used by the whole machine (/proc/stat) and by this script's children (the sandboxes,
# once waited for, and the examples): the difference is what other processes took meanwhile.
machine_cpu() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }
# `times` must run in this shell (a command substitution is a new process, without children):
# `record_times` writes it to a file, `children_cpu` reads the children's user + system seconds.
record_times() { times >"$work/times"; }
children_cpu() {
    awk 'NR == 2 {
        s = 0
        for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
        printf "%.2f\n", s
    }' "$work/times"
}
busy0=$(machine_cpu)
record_times
ours0=$(children_cpu)
t_start=$SECONDS

if want api; then
    echo "## pass api: $PODS pods, $WATCHERS watchers"
    start_sandbox api --no-controllers
    proc_line empty
    "$example" load "$url" --pods "$PODS" --small "$SMALL" --concurrency "$CONCURRENCY" --pid "$pid"
    proc_line after_load
    "$example" measure "$url" --pods "$PODS" --small "$SMALL" --watchers "$WATCHERS" \
        --writes "$WRITES" --rounds "$ROUNDS" --list-runs "$LIST_RUNS" --burst "$BURST" \
        --burst-concurrency "$BURST_CONCURRENCY" --churn "$CHURN" --pid "$pid"
    proc_line after_measure
    stop_sandbox
fi

if want controllers; then
    echo "## pass controllers: $NODES nodes, Deployments of $BASELINE then $REPLICAS replicas, --speed $SPEED"
    start_sandbox controllers --speed "$SPEED"
    proc_line empty
    "$example" deploy "$url" --nodes "$NODES" --replicas "$REPLICAS" --baseline "$BASELINE" \
        --deadline-secs "$DEADLINE_S" --pid "$pid"
    proc_line after_rollout
    stop_sandbox
fi

busy1=$(machine_cpu)
record_times
ours1=$(children_cpu)
awk -v b0="$busy0" -v b1="$busy1" -v o0="$ours0" -v o1="$ours1" -v w=$((SECONDS - t_start)) 'BEGIN {
    printf "# CPU during the run: machine %.1f s, sandboxes and examples %.1f s, other processes %.1f s, over %d s wall\n",
        b1 - b0, o1 - o0, (b1 - b0) - (o1 - o0), w
}'
