#!/usr/bin/env bash
# Follower latency and the driver's cost of followers: a run's step prints 2,000,000 lines while
# 0, 1 and 10 followers read the run's socket, as `tollgate follow` does.
#
#   bench/follow_latency.sh                          # 2,000,000 lines; 0, 1, 10 followers; 5 runs
#   RUNS=7 FOLLOWERS=1,10 LINES=2000000 bench/follow_latency.sh
#
# `examples/follow_latency.rs` (release) starts the release `tollgate run --headless` on a
# one-step runbook whose step is the example binary itself (`follow_latency gen N`): it waits
# until the followers have their `hello`, then prints N numbered lines, every EVERY-th one
# stamped with the time it was printed (CLOCK_REALTIME). Each follower is a thread of the
# example with its own connection to STATE/runs/ID/follow.sock; it decodes every JSON line with
# serde_json (the wire's `ToFollower`, a `tollgate::protocol::Event` inside) and takes
# receive time - stamp for each stamped line: the latency to the follower's decoded event (the
# interface then draws at most 60 frames a second on top, ui/mod.rs FRAME). Every follower's
# lines are checked off by number (missing, repeats, `Resent`), the driver's headless output is
# checked (exactly N lines of the step). The driver's wall time runs from the followers being
# connected (the go file) to tollgate's exit; its CPU is tollgate's and the step's.
#
# Settings (environment): LINES (2000000), EVERY (1000), RUNS (5), FOLLOWERS (1,10; a run with
# none is always the baseline), DIR (state and output; default /dev/shm when there is one),
# CARGO_TARGET_DIR (default /tmp/tg-bench).
set -euo pipefail

LINES=${LINES:-2000000}
EVERY=${EVERY:-1000}
RUNS=${RUNS:-5}
FOLLOWERS=${FOLLOWERS:-1,10}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}

# One build, so the binary and the example share the same dependencies' features.
(cd "$root" && cargo build --release --quiet --bin tollgate --example follow_latency)
bin=$CARGO_TARGET_DIR/release/tollgate
example=$CARGO_TARGET_DIR/release/examples/follow_latency
[[ -x $bin && -x $example ]] || { echo "no $bin or $example" >&2; exit 2; }

dir_args=()
[[ -n ${DIR:-} ]] && dir_args=(--dir "$DIR")

echo "# machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$example" bench --tollgate "$bin" --lines "$LINES" --every "$EVERY" --runs "$RUNS" \
    --followers "$FOLLOWERS" "${dir_args[@]}"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
