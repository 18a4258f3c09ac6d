#!/usr/bin/env bash
# Headless output throughput and memory: tollgate running a one-step runbook whose step is
# `seq 1 N`, headless, stdout redirected to a file, against `sh -c 'seq 1 N > FILE'`.
#
#   bench/headless_lines.sh                  # N = 200000 2000000 20000000, 11 runs each
#   RUNS=5 SIZES="2000000" bench/headless_lines.sh
#
# Wall time: bash's $EPOCHREALTIME around each command; the two commands alternate, run by
# run, and each table cell is the median. Peak RSS: GNU time's %M (the largest resident set
# of the command and the children it waited for), the highest over the runs.
# Every tollgate run is checked: exactly N lines of the step (` gen | `), the last one N; the
# last run of each N is also compared line by line with seq's own output.
# Settings (environment): RUNS (≥ 5), SIZES, PRIMARY (the N the ratio target applies to),
# BOUND_MIB (the output past which peak RSS should be flat; 4), GNU_TIME, CARGO_TARGET_DIR (default $TMPDIR/tg-bench), TMPDIR (where output files go).
# Needs: cargo, GNU time at /usr/bin/time (Debian/Ubuntu: apt-get install time), seq, sh.
set -euo pipefail

RUNS=${RUNS:-11}
SIZES=${SIZES:-"200000 2000000 20000000"}
PRIMARY=${PRIMARY:-2000000}
GNU_TIME=${GNU_TIME:-/usr/bin/time}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lines_runbook.sh
source "$root/bench/lines_runbook.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/tg-bench}

# Microseconds since the epoch.
now() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }

if ! "$GNU_TIME" -f %M -o /dev/null true 2>/dev/null; then
    echo "GNU time not found at $GNU_TIME (Debian/Ubuntu: apt-get install time)" >&2
    exit 2
fi
if (( RUNS < 5 )); then
    echo "RUNS must be at least 5" >&2
    exit 2
fi

(cd "$root" && cargo build --release --quiet)

bin=$CARGO_TARGET_DIR/release/tollgate
[[ -x $bin ]] || { echo "no binary at $bin" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-headless-lines.XXXXXX")
# The journal is fsync'ed at every step transition. On the same ext4 filesystem as a freshly
# written multi-megabyte output file, that fsync also waits for the output's data to reach the
# disk (ordered journalling), which is the filesystem's cost, not tollgate's streaming. JOURNAL
# picks where the journal goes: `tmpfs` (default when /dev/shm exists) or `beside` the output.
JOURNAL=${JOURNAL:-$([[ -d /dev/shm && -w /dev/shm ]] && echo tmpfs || echo beside)}
if [[ $JOURNAL == tmpfs ]]; then
    state_root=$(mktemp -d /dev/shm/tg-headless-lines.XXXXXX)
else
    state_root=$work
fi
state=$state_root/state
trap 'rm -rf "$work" "$state_root"' EXIT

# CPU seconds all CPUs spent busy (/proc/stat), less the CPU seconds of this script's children
# (`times`, run in this shell): what other work on the machine took while the benchmark ran.
hz=$(getconf CLK_TCK)
busy() { awk -v hz="$hz" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }
own() { awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$1"; }
busy_start=$(busy)
times >"$work/times.start"
wall_start=$(now)

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max() { sort -n | tail -n1; }

# Runs CMD with stdout to OUT; appends wall microseconds to NAME.wall and peak RSS (KiB) to
# NAME.rss. Usage: timed NAME OUT CMD...
timed() {
    local name=$1 out=$2
    shift 2
    local start end
    start=$(now)
    "$GNU_TIME" -f %M -o "$work/rss.tmp" "$@" >"$out"
    end=$(now)
    echo $((end - start)) >>"$work/$name.wall"
    tail -n1 "$work/rss.tmp" >>"$work/$name.rss"
}

# Checks a tollgate output file: exactly N lines of step `gen`, the last one N.
check_lines() {
    local file=$1 n=$2 count last
    count=$(grep -cF ' gen | ' "$file" || true)
    # The step's last line comes just before the closing `<< step` / `==` lines.
    last=$(tail -c 65536 "$file" | grep -F ' gen | ' | tail -n1 | sed 's/^.* gen | //')
    echo "$count $last" >>"$work/lines.$n"
    if [[ $count != "$n" || $last != "$n" ]]; then
        echo "LOST LINES at N=$n: $count lines of the step, last one '$last'" >&2
        exit 1
    fi
}

ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

rows=()
for n in $SIZES; do
    rb=$work/lines-$n.yaml
    lines_runbook "$n" "$rb"
    tg=("$bin" --state-dir "$state" run "$rb" --headless --approve-all)
    base=(sh -c "seq 1 $n > $work/base.out")
    # Warm-up, untimed: binary, runbook and caches.
    "${tg[@]}" >"$work/tg.out"
    "${base[@]}"
    for ((i = 1; i <= RUNS; i++)); do
        rm -f "$work/tg.out"
        timed "tg.$n" "$work/tg.out" "${tg[@]}"
        check_lines "$work/tg.out" "$n"
        rm -f "$work/base.out"
        timed "base.$n" /dev/null "${base[@]}"
        rm -rf "$state"
    done
    # The last run, line by line: the step's text is seq's output, in order.
    if ! grep -F ' gen | ' "$work/tg.out" | sed 's/^.* gen | //' | cmp -s - "$work/base.out"; then
        echo "OUTPUT DIFFERS from seq's at N=$n" >&2
        exit 1
    fi
    out_bytes=$(stat -c %s "$work/base.out")
    rm -f "$work/tg.out" "$work/base.out"

    tg_ms=$(median <"$work/tg.$n.wall")
    base_ms=$(median <"$work/base.$n.wall")
    ratio=$(awk -v a="$tg_ms" -v b="$base_ms" 'BEGIN { printf "%.2f", a / b }')
    tg_rss=$(max <"$work/tg.$n.rss")
    base_rss=$(max <"$work/base.$n.rss")
    echo "$n $tg_rss $out_bytes" >>"$work/rss.all"
    [[ $n == "$PRIMARY" ]] && echo "$ratio" >"$work/primary"
    read -r count last <"$work/lines.$n"
    same=$(sort -u "$work/lines.$n" | wc -l)
    [[ $same == 1 ]] && runs_note="in all $RUNS runs" || runs_note="varies"
    rows+=("| $n | $(ms "$tg_ms") | $(ms "$base_ms") | **$ratio** | $(mib "$tg_rss") | $(mib "$base_rss") \
| $count, last \`$last\` ($runs_note) | identical |")
done

times >"$work/times.end"
other=$(awk -v b0="$busy_start" -v b1="$(busy)" -v o0="$(own "$work/times.start")" -v o1="$(own "$work/times.end")" \
    'BEGIN { x = (b1 - b0) - (o1 - o0); printf "%.1f", (x < 0) ? 0 : x }')
wall_all=$(awk -v us=$(($(now) - wall_start)) 'BEGIN { printf "%.1f", us / 1e6 }')
model=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: //')
echo "machine: $(nproc) CPUs, $model; $(uname -sr); $(rustc --version)"
echo "journal: $JOURNAL ($state_root); temp dir: $work ($(df -T "$work" | awk 'NR == 2 { print $2 }')); $RUNS runs per size, interleaved"
echo "other work on the machine meanwhile: ${other} CPU-s in ${wall_all} s (near 0 for trustworthy wall times)"
echo
echo "| lines (N) | tollgate wall, median (ms) | \`sh -c 'seq 1 N > FILE'\` wall, median (ms) | ratio | tollgate peak RSS (MiB) | baseline peak RSS (MiB) | step lines counted | text vs seq |"
echo "|---:|---:|---:|---:|---:|---:|---|---|"
printf '%s\n' "${rows[@]}"
echo
if [[ -f $work/primary ]]; then
    p=$(cat "$work/primary")
    verdict=$(awk -v r="$p" 'BEGIN { print (r <= 1.5) ? "met" : "MISSED" }')
    echo "wall ratio at N=$PRIMARY: $p (target ≤ 1.5: $verdict)"
fi
# RSS against line count: the largest N against the smallest (sizes in the order given). A run
# holds a step's newest output up to fixed bounds (4 MiB for followers joining late, as much
# waiting to be kept): memory grows with the output until a step prints that much, and should
# not grow past it. So the verdict compares the sizes whose output is past BOUND_MIB (when two
# are), and the first line says the growth from the smallest size too.
BOUND_MIB=${BOUND_MIB:-4}
read -r n_lo rss_lo _ < <(head -n1 "$work/rss.all")
read -r n_hi rss_hi _ < <(tail -n1 "$work/rss.all")
if [[ $n_lo != "$n_hi" ]]; then
    awk -v a="$n_lo" -v ra="$rss_lo" -v b="$n_hi" -v rb="$rss_hi" 'BEGIN {
        printf "tollgate peak RSS: %.1f MiB at N=%d, %.1f MiB at N=%d (%g× the lines): ×%.2f\n",
            ra / 1024, a, rb / 1024, b, b / a, rb / ra
    }'
    awk -v bound=$((BOUND_MIB << 20)) '$3 > bound' "$work/rss.all" >"$work/rss.past"
    if (($(wc -l <"$work/rss.past") >= 2)); then
        read -r p_lo rp_lo _ < <(head -n1 "$work/rss.past")
        awk -v a="$p_lo" -v ra="$rp_lo" -v b="$n_hi" -v rb="$rss_hi" -v m="$BOUND_MIB" 'BEGIN {
            f = rb / ra
            printf "past the %d MiB bounds (N=%d, output over %d MiB) to N=%d (%g× the lines): ×%.2f (%s: target flat, ≤ ×1.15)\n",
                m, a, m, b, b / a, f, (f <= 1.15) ? "flat" : "GROWS"
        }'
    else
        awk -v ra="$rss_lo" -v rb="$rss_hi" 'BEGIN {
            f = rb / ra
            printf "fewer than two sizes print past the bounds: ×%.2f over all (%s: target flat, ≤ ×1.15)\n",
                f, (f <= 1.15) ? "flat" : "GROWS"
        }'
    fi
fi
