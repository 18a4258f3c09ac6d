#!/usr/bin/env bash
# The terminal interface: time to the first frame, frame times with a full scrollback, and a
# 2,000,000-line step in the interface against the same step headless.
#
#   bench/tui.sh                        # all three parts
#   RUNS=21 BIG_RUNS=7 bench/tui.sh
#
# 1. First frame of a 500-step runbook (50 phases of 10 steps, gates, checklists), two ways:
#    in process (`examples/tui_bench.rs`: load + App::new + the first render into a 160x45
#    TestBackend), and the real binary in a 160x45 tmux pane: from just before `tmux new-window`
#    starts it until `capture-pane -p`, polled without pause, shows the banner; against the same
#    measure of `sh -c 'printf …'` printing the banner's text (tmux, process start and polling
#    overhead). RUNS runs each, interleaved.
# 2. Frame times at 200x60 with 100,000 lines of scrollback (`examples/tui_bench.rs`, FRAMES
#    frames per case).
# 3. A one-step runbook whose step is `seq 1 LINES_N`, in the interface (tmux pane) and headless
#    (stdout to a file), interleaved, BIG_RUNS runs each. Wall time: from just before the start
#    until the run's journal holds `"event":"run_finished"`, polled every POLL_S seconds in the
#    same way for both. Peak RSS: GNU time's %M for both; for the interface also VmHWM from
#    /proc/PID/status read just before `q` is sent. The interface's screen is checked after
#    each run: 100,000 lines kept, the rest counted as dropped, the last line LINES_N shown.
#
# Settings (environment): PARTS (default "inproc tmux lines": parts 1 and 2 in process, part 1
# in tmux, part 3), RUNS (default 11), BIG_RUNS (≥ 5, default 7), LINES_N (2000000), FRAMES
# (2000), POLL_S (0.005), BIN (another tollgate binary to time in tmux, e.g. an older build),
# GNU_TIME, CARGO_TARGET_DIR (default /tmp/tg-bench), TMPDIR.
# Needs: cargo, tmux, GNU time at /usr/bin/time, seq. Uses a private tmux socket, killed at the
# end with everything the script made.
set -euo pipefail

PARTS=${PARTS:-inproc tmux lines}
RUNS=${RUNS:-11}
BIG_RUNS=${BIG_RUNS:-7}
LINES_N=${LINES_N:-2000000}
FRAMES=${FRAMES:-2000}
POLL_S=${POLL_S:-0.005}
GNU_TIME=${GNU_TIME:-/usr/bin/time}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}

if ! "$GNU_TIME" -f %M -o /dev/null true 2>/dev/null; then
    echo "GNU time not found at $GNU_TIME (Debian/Ubuntu: apt-get install time)" >&2
    exit 2
fi
command -v tmux >/dev/null || { echo "tmux not found (apt-get install tmux)" >&2; exit 2; }
if (( BIG_RUNS < 5 )); then
    echo "BIG_RUNS must be at least 5" >&2
    exit 2
fi

(cd "$root" && cargo build --release --quiet --bin tollgate --example tui_bench)
bin=${BIN:-$CARGO_TARGET_DIR/release/tollgate}
example=$CARGO_TARGET_DIR/release/examples/tui_bench
[[ -x $bin && -x $example ]] || { echo "no binaries under $CARGO_TARGET_DIR/release" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-tui-bench.XXXXXX")
# Journals on tmpfs where there is one, as in headless_lines.sh: its fsyncs then do not wait for
# the headless output file written to the same disk.
if [[ -d /dev/shm && -w /dev/shm ]]; then
    state=$(mktemp -d /dev/shm/tg-tui-bench.XXXXXX)
else
    state=$work/state
fi
sock=tg-tui-bench-$$
tm() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() {
    tm kill-server 2>/dev/null || true
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
    rm -rf "$work" "$state"
}
trap cleanup EXIT

want() { [[ " $PARTS " == *" $1 "* ]]; }
# Microseconds since the epoch.
now() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%d\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { sort -n | head -n1; }
maximum() { sort -n | tail -n1; }
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
fail() {
    echo "$1" >&2
    [[ -n ${2:-} ]] && tm capture-pane -p -t "$2" >&2
    exit 1
}

# Polls the pane's screen, without pause, until it shows TEXT (20 s at most).
wait_screen() {
    local pane=$1 text=$2 until=$(($(now) + 20000000)) screen
    while :; do
        screen=$(tm capture-pane -p -t "$pane")
        [[ $screen == *"$text"* ]] && return 0
        (($(now) < until)) || fail "timed out waiting for '$text' on the screen" "$pane"
    done
}

# Polls every POLL_S until a journal under STATE_DIR has finished its run (60 s at most).
wait_finished() {
    local dir=$1 until=$(($(now) + 60000000))
    while ! grep -qsF '"event":"run_finished"' "$dir"/runs/*/journal.jsonl; do
        (($(now) < until)) || fail "timed out waiting for run_finished in $dir"
        sleep "$POLL_S"
    done
}

# Polls until the pane's process has exited (remain-on-exit keeps the pane).
wait_dead() {
    local pane=$1 until=$(($(now) + 20000000))
    until [[ $(tm display -p -t "$pane" '#{pane_dead}') == 1 ]]; do
        (($(now) < until)) || fail "the pane's process did not exit" "$pane"
        sleep "$POLL_S"
    done
}

# Polls until PID is gone.
wait_gone() {
    local pid=$1 until=$(($(now) + 20000000))
    while kill -0 "$pid" 2>/dev/null; do
        (($(now) < until)) || fail "process $pid did not exit"
        sleep "$POLL_S"
    done
}

# A placeholder window keeps the server up; new windows take the session's 160x45.
tm new-session -d -s bench -x 160 -y 45 cat
tm set-option -g remain-on-exit on
new_pane() { tm new-window -d -P -F '#{pane_id}' -t bench: "$@"; }

model=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: //')
echo "machine: $(nproc) CPUs, $model; $(uname -sr); $(rustc --version); $(tmux -V)"
echo "state dirs (journals): $state ($(df -T "$state" | awk 'NR == 2 { print $2 }')); temp dir: $work ($(df -T "$work" | awk 'NR == 2 { print $2 }'))"
echo

# ---- 1 and 2: in process -------------------------------------------------------------------
rb=$work/bench-500.yaml
"$example" --write-runbook "$rb"
"$bin" check "$rb" >/dev/null || fail "the generated runbook does not check"
banner=$(grep -m1 '^name: ' "$rb" | sed 's/^name: //')

if want inproc; then
    "$example" --runbook "$rb" --frames "$FRAMES"
    echo
fi

# ---- 1: first frame of the real binary in tmux ---------------------------------------------
if want tmux; then
    : >"$work/ff.tg"
    : >"$work/ff.printf"
    # Warm-up, untimed: binary, runbook and page cache.
    pane=$(new_pane "$bin" --state-dir "$state/ff-warm" run "$rb")
    wait_screen "$pane" "$banner"
    pid=$(tm display -p -t "$pane" '#{pane_pid}')
    tm kill-pane -t "$pane"
    wait_gone "$pid"
    for ((i = 1; i <= RUNS; i++)); do
        t0=$(now)
        pane=$(new_pane "$bin" --state-dir "$state/ff-$i" run "$rb")
        wait_screen "$pane" "$banner"
        t1=$(now)
        echo $((t1 - t0)) >>"$work/ff.tg"
        pid=$(tm display -p -t "$pane" '#{pane_pid}')
        # The window closing hangs up the terminal: tollgate pauses the run and exits.
        tm kill-pane -t "$pane"
        wait_gone "$pid"
        rm -rf "$state/ff-$i"

        # A pane whose process has exited may lose its last output, so the baseline stays: sh's
        # builtin printf, then `cat` waiting on the terminal.
        t0=$(now)
        pane=$(new_pane sh -c 'printf "%s\n" "$0"; exec cat' "$banner")
        wait_screen "$pane" "$banner"
        t1=$(now)
        echo $((t1 - t0)) >>"$work/ff.printf"
        pid=$(tm display -p -t "$pane" '#{pane_pid}')
        tm kill-pane -t "$pane"
        wait_gone "$pid"
    done
    ff_tg=$(median <"$work/ff.tg")
    ff_pf=$(median <"$work/ff.printf")
    echo "first frame in tmux, 500-step runbook, 160x45, $RUNS runs each, interleaved (ms):"
    echo
    echo "| program | median | min | max |"
    echo "|---|---:|---:|---:|"
    echo "| tollgate run (banner on screen) | $(ms "$ff_tg") | $(ms "$(minimum <"$work/ff.tg")") | $(ms "$(maximum <"$work/ff.tg")") |"
    echo "| \`sh -c 'printf …'\` of the banner text | $(ms "$ff_pf") | $(ms "$(minimum <"$work/ff.printf")") | $(ms "$(maximum <"$work/ff.printf")") |"
    diff_us=$((ff_tg - ff_pf))
    echo "| difference (tollgate's own time to its first frame) | **$(ms "$diff_us")** | | |"
    echo
    echo "first frame, tollgate less printf: $(ms "$diff_us") ms (target ≤ 50 ms: $( ((diff_us <= 50000)) && echo met || echo MISSED))"
    echo
fi

# ---- 3: a 2,000,000-line step, interface against headless ----------------------------------
big=$work/lines.yaml
cat >"$big" <<EOF
name: tui lines
phases:
  - id: bench
    title: Bench
    steps:
      - id: gen
        title: seq 1 $LINES_N
        run: seq 1 $LINES_N
EOF
kept=100000
dropped=$((LINES_N - kept))
(( dropped > 0 )) || fail "LINES_N must be above the 100,000 lines kept"

tui_run() {
    local n=$1 dir=$state/tui-$1 t0 t1 pane ppid pid hwm
    t0=$(now)
    pane=$(new_pane "$GNU_TIME" -f %M -o "$work/tui.rss.tmp" "$bin" --state-dir "$dir" run "$big")
    wait_finished "$dir"
    t1=$(now)
    # The last frame: the newest 100,000 lines kept, the rest counted, the last line shown.
    wait_screen "$pane" "output: gen · $kept lines, $dropped older dropped"
    wait_screen "$pane" "run succeeded"
    [[ $(tm capture-pane -p -t "$pane") =~ [│┃]$LINES_N[[:space:]] ]] ||
        fail "the last line ($LINES_N) is not on the screen" "$pane"
    ppid=$(tm display -p -t "$pane" '#{pane_pid}')
    pid=$(pgrep -P "$ppid" -x tollgate) || fail "no tollgate process under $ppid"
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
    tm send-keys -t "$pane" q
    wait_dead "$pane"
    tm kill-pane -t "$pane"
    [[ $n == warm ]] && return 0
    echo $((t1 - t0)) >>"$work/tui.wall"
    tail -n1 "$work/tui.rss.tmp" >>"$work/tui.rss"
    echo "$hwm" >>"$work/tui.hwm"
    rm -rf "$dir"
}

headless_run() {
    local n=$1 dir=$state/headless-$1 t0 t1 pid count
    rm -f "$work/headless.out"
    t0=$(now)
    "$GNU_TIME" -f %M -o "$work/headless.rss.tmp" "$bin" --state-dir "$dir" run "$big" \
        --headless --approve-all >"$work/headless.out" &
    pid=$!
    wait_finished "$dir"
    t1=$(now)
    wait "$pid" || fail "headless run failed"
    count=$(grep -cF ' gen | ' "$work/headless.out" || true)
    [[ $count == "$LINES_N" ]] || fail "headless: $count lines of the step, not $LINES_N"
    [[ $n == warm ]] && return 0
    echo $((t1 - t0)) >>"$work/headless.wall"
    tail -n1 "$work/headless.rss.tmp" >>"$work/headless.rss"
    rm -rf "$dir"
}

if want lines; then
    : >"$work/tui.wall"
    : >"$work/headless.wall"
    tui_run warm
    headless_run warm
    for ((i = 1; i <= BIG_RUNS; i++)); do
        tui_run "$i"
        headless_run "$i"
    done
    rm -f "$work/headless.out"

    tw=$(median <"$work/tui.wall")
    hw=$(median <"$work/headless.wall")
    ratio=$(awk -v a="$tw" -v b="$hw" 'BEGIN { printf "%.2f", a / b }')
    echo "seq 1 $LINES_N, $BIG_RUNS runs each, interleaved; wall until run_finished is in the journal:"
    echo
    echo "| view | wall median (ms) | min | max | peak RSS, GNU time %M, max (MiB) | VmHWM before q, max (MiB) |"
    echo "|---|---:|---:|---:|---:|---:|"
    echo "| interface (tmux 160x45) | $(ms "$tw") | $(ms "$(minimum <"$work/tui.wall")") | $(ms "$(maximum <"$work/tui.wall")") | $(mib "$(maximum <"$work/tui.rss")") | $(mib "$(maximum <"$work/tui.hwm")") |"
    echo "| headless, stdout to a file | $(ms "$hw") | $(ms "$(minimum <"$work/headless.wall")") | $(ms "$(maximum <"$work/headless.wall")") | $(mib "$(maximum <"$work/headless.rss")") | |"
    echo
    echo "interface / headless wall: $ratio (target ≤ 1.3: $(awk -v r="$ratio" 'BEGIN { print (r <= 1.3) ? "met" : "MISSED" }'))"
    echo "interface runs' wall times (ms): $(awk '{ printf "%.1f ", $1 / 1000 }' "$work/tui.wall")"
    echo "headless runs' wall times (ms): $(awk '{ printf "%.1f ", $1 / 1000 }' "$work/headless.wall")"
fi
