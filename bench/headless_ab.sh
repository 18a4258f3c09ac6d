#!/usr/bin/env bash
# Two tollgate binaries against each other and against `sh -c 'seq 1 N > FILE'`, on the
# one-step runbook of bench/headless_lines.sh (its step `seq 1 N`), run headless with stdout to
# a file, interleaved run by run (the three commands alternate, so drift in the machine's speed
# reaches all three alike); medians of wall time, and each binary's ratio to seq's.
#
#   bench/headless_ab.sh OLD_BINARY NEW_BINARY            # N = 2000000, 21 runs, one set
#   RUNS=21 SETS=6 N=2000000 bench/headless_ab.sh A B
#
# Build each binary first (e.g. `git checkout REV && cargo build --release && cp
# target/release/tollgate /tmp/tg-REV`). State on tmpfs (/dev/shm) where it exists, as
# headless_lines.sh's default; output files in TMPDIR.
set -euo pipefail

old=${1:?usage: headless_ab.sh OLD_BINARY NEW_BINARY}
new=${2:?usage: headless_ab.sh OLD_BINARY NEW_BINARY}
RUNS=${RUNS:-21}
SETS=${SETS:-1}
N=${N:-2000000}

now() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }
work=$(mktemp -d "${TMPDIR:-/tmp}/tg-headless-ab.XXXXXX")
state_root=$([[ -d /dev/shm && -w /dev/shm ]] && mktemp -d /dev/shm/tg-headless-ab.XXXXXX || mktemp -d "$work/state.XXXXXX")
trap 'rm -rf "$work" "$state_root"' EXIT
# shellcheck source=bench/lines_runbook.sh
source "$(dirname "${BASH_SOURCE[0]}")/lines_runbook.sh"
lines_runbook "$N" "$work/lines.yaml"

median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] / 1000 }'; }
echo "| set | old (ms) | new (ms) | \`seq > FILE\` (ms) | ratio old | ratio new |"
echo "|---:|---:|---:|---:|---:|---:|"
for ((set = 1; set <= SETS; set++)); do
    rm -f "$work"/*.wall
    for ((i = 0; i < RUNS; i++)); do
        for which in old new base; do
            rm -rf "$state_root/state" "$work/out"
            start=$(now)
            case $which in
                old) "$old" --state-dir "$state_root/state" run "$work/lines.yaml" --headless --approve-all >"$work/out" 2>/dev/null ;;
                new) "$new" --state-dir "$state_root/state" run "$work/lines.yaml" --headless --approve-all >"$work/out" 2>/dev/null ;;
                base) sh -c "seq 1 $N > $work/out" ;;
            esac
            end=$(now)
            echo $((end - start)) >>"$work/$which.wall"
            if [[ $which != base ]] && [[ $(grep -cF ' gen | ' "$work/out") != "$N" ]]; then
                echo "LOST LINES ($which)" >&2
                exit 1
            fi
        done
    done
    o=$(median <"$work/old.wall")
    n=$(median <"$work/new.wall")
    b=$(median <"$work/base.wall")
    awk -v s="$set" -v o="$o" -v n="$n" -v b="$b" \
        'BEGIN { printf "| %d | %.1f | %.1f | %.1f | %.2f | %.2f |\n", s, o, n, b, o / b, n / b }'
done
