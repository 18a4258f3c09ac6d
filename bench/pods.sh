#!/usr/bin/env bash
# The pods pane at 5,000 pods: time to the first list on screen, event-to-screen latency against
# a 50-pod baseline, frame times and memory. In process: `examples/pods_bench.rs` starts its own
# sandbox (no controllers) on 127.0.0.1 and stops it when it ends.
#
#   bench/pods.sh                               # 5,000 pods, 200 changes
#   PODS=20000 CHANGES=400 bench/pods.sh        # other sizes
#
# Settings (environment): PODS (5000), SMALL (50), CHANGES (200), FRAMES (500),
# CARGO_TARGET_DIR (default /tmp/tg-bench).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}

echo "# machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr)"
cd "$root"
cargo run --release --quiet --example pods_bench -- \
    --pods "${PODS:-5000}" --small "${SMALL:-50}" --changes "${CHANGES:-200}" --frames "${FRAMES:-500}"
