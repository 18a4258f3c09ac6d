#!/usr/bin/env bash
# A 100-replica Argo Rollouts canary stepping through four weights (10, 25, 50, 75, then 100 %),
# time per step, beside a baseline in the same run: a Deployment of the same replicas rolled with
# the same maxSurge (25) and maxUnavailable (0), per 25 replicas replaced
# (examples/rollout_bench.rs; the sandbox runs inside the example, one per rollout, same settings).
#
#   bench/rollout.sh
#   RUNS=5 SPEED=200 bench/rollout.sh
#
# A canary step is timed from the moment the rollout is asked to move (the image change for 10 %,
# the plugin's promote patch `{"status":{"pauseConditions":null}}` after each pause) until the
# rollout is paused at the next pause with its ReplicaSets at Argo's counts and ready (at 100 %:
# Healthy, the old ReplicaSet at 0); the moment the ReplicaSets alone were there is shown too, the rest
# of the step is the Rollout's status catching up. The pauses have no duration, so no pause time is measured.
# The Deployment is timed from its image change until every new replica is ready and the old
# ReplicaSet is at 0, divided by REPLICAS / 25. Medians over RUNS runs (the order of the two
# alternates run by run); CPU is the example's (getrusage: sandbox, controllers, watching client).
#
# Settings (environment): RUNS (3), REPLICAS (100), SPEED (100), DEADLINE_S (300, per rollout),
# CARGO_TARGET_DIR (default /tmp/tg-bench), TMPDIR, BENCH_EXAMPLE (run this binary, build
# nothing). The example is stopped by its PID (SIGTERM, then SIGKILL after 10 s) if the script
# ends before it; the temporary directory is removed.
set -euo pipefail

RUNS=${RUNS:-3}
REPLICAS=${REPLICAS:-100}
SPEED=${SPEED:-100}
DEADLINE_S=${DEADLINE_S:-300}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}

if [[ -n ${BENCH_EXAMPLE:-} ]]; then
    example=$BENCH_EXAMPLE
else
    (cd "$root" && cargo build --release --quiet --example rollout_bench)
    example=$CARGO_TARGET_DIR/release/examples/rollout_bench
fi
[[ -x $example ]] || { echo "no binary: $example" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq is needed to print the table" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-rollout-bench.XXXXXX")
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local end=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.05; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

machine_cpu() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }

echo "# machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr)"
echo "# $example --replicas $REPLICAS --speed $SPEED --runs $RUNS"
busy0=$(machine_cpu)
times >"$work/times0"
t0=$EPOCHREALTIME
"$example" --replicas "$REPLICAS" --speed "$SPEED" --runs "$RUNS" --deadline-secs "$DEADLINE_S" \
    >"$work/out.jsonl" &
pid=$!
status=0
wait "$pid" || status=$?
pid=
t1=$EPOCHREALTIME
busy1=$(machine_cpu)
times >"$work/times1"
cat "$work/out.jsonl"
((status == 0)) || { echo "rollout_bench failed ($status)" >&2; exit 1; }
child_cpu() {
    awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }; printf "%.2f\n", s }' "$1"
}
example_cpu=$(awk -v a="$(child_cpu "$work/times0")" -v b="$(child_cpu "$work/times1")" 'BEGIN { printf "%.2f", b - a }')
ours=$(jq -rs '[.[] | select(.metric == "canary" or .metric == "deployment") | .cpu_seconds] | add' "$work/out.jsonl")

echo
echo "| step | replicas replaced | canary, median (ms) | simulated (s) | of which ReplicaSets at counts (ms) | CPU (ms) | Deployment per 25 replicas (ms) | ratio | CPU ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
jq -rs '
    (map(select(.metric == "deployment_median")) | first) as $b
    | .[] | select(.metric == "canary_step_median")
    | "| \(if .weight == 10 then "image change → 10 %" else "promote → \(.weight) %" end) | \(.replaced) | \(.seconds * 1000 | round) | \(.simulated_seconds * 10 | round / 10) | \(.replica_sets_seconds * 1000 | round) | \(.cpu_seconds * 1000 | round) | \($b.seconds_per_25 * 1000 | round) (\($b.simulated_seconds_per_25 * 10 | round / 10) s sim., \($b.cpu_seconds_per_25 * 1000 | round) ms CPU) | **\(.ratio)** | \(.cpu_ratio) |"
' "$work/out.jsonl"
awk -v b0="$busy0" -v b1="$busy1" -v e="$example_cpu" -v o="$ours" -v t0="$t0" -v t1="$t1" 'BEGIN {
    printf "\n# CPU during the run: machine %.1f s, the example %.1f s (of which the timed rollouts %.1f s), other processes %.1f s, over %.1f s wall\n",
        b1 - b0, e, o, (b1 - b0) - e, t1 - t0
}'
