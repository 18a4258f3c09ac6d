#!/usr/bin/env bash
# A log tail feeding the logs pane: lines a second into the pane and memory, 1 pod (the
# baseline) against 20 pods writing as fast as the tail takes their lines.
#
#   bench/logs.sh                    # 1 pod, then 20, 5 s each after 1 s of warm-up
#   PODS=50 SECS=10 bench/logs.sh    # other sizes
#
# `examples/logs_bench.rs` (release) runs the sandbox in its own process: for each pod count a
# fresh sandbox with no periodic log lines, bare pods `app=bench`, one writer task per pod
# appending numbered lines straight into the sandbox's log hub (at most 4,000 ahead of the pane),
# `spawn_tail` on the selector `app=bench`, and a `LogsPane` fed from the tail's channel and drawn
# on a 200x50 test terminal at most 60 times a second. A gap or repeat in any pod's numbers fails
# the run. It prints one JSON object per pod count and the ratio; VmRSS / VmHWM are the whole
# process's (sandbox, its log hub and the writers included).
#
# Settings (environment): PODS (20), BASELINE (1), SECS (5), WARMUP_SECS (1),
# CARGO_TARGET_DIR (default /tmp/tg-bench).
set -euo pipefail

PODS=${PODS:-20}
BASELINE=${BASELINE:-1}
SECS=${SECS:-5}
WARMUP_SECS=${WARMUP_SECS:-1}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}

(cd "$root" && cargo build --release --quiet --example logs_bench)
example=$CARGO_TARGET_DIR/release/examples/logs_bench
[[ -x $example ]] || { echo "no $example" >&2; exit 2; }

echo "# machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr)"
"$example" --pods "$PODS" --baseline "$BASELINE" --secs "$SECS" --warmup-secs "$WARMUP_SECS"
