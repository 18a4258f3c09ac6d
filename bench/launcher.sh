#!/usr/bin/env bash
# The launcher's first frame (`tollgate` alone, `tollgate open DIR`) over 200 generated
# runbooks (20 systems of 10) and 20 runs, in process (`examples/launcher_bench.rs`: the
# runbooks found and checked, the runs read, the list built, one render at 160x45), against
# the baseline of the same run: `catalog::discover` alone, what `tollgate find` reads. The two
# alternate, RUNS runs each; medians, worst, their ratio, and a key typed in the filter.
#
#   bench/launcher.sh
#   RUNS=21 bench/launcher.sh
#
# Settings (environment): RUNS (default 11), CARGO_TARGET_DIR (default /tmp/tg-bench).
# Target: the first frame under 100 ms.
set -euo pipefail

RUNS=${RUNS:-11}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}

(cd "$root" && cargo build --release --quiet --example launcher_bench)
"$CARGO_TARGET_DIR/release/examples/launcher_bench" --runs "$RUNS"
