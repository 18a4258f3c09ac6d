#!/usr/bin/env bash
# `tollgate rehearse`: time from the command to its first frame in a 160x45 tmux pane, with
# LabelMint's cluster (runbooks/labelmint/cluster.yaml, 35 objects) loaded into the sandbox,
# against the same runbook rehearsed on an empty cluster, `tollgate run` of a runbook with no
# cluster at all, and `sh -c 'printf …'` of the same text (tmux, process start and polling).
# From just before `tmux new-window` starts it until `capture-pane -p`, polled without pause,
# shows the banner's REHEARSAL mark and the runbook's name. RUNS runs each, interleaved.
#
#   bench/rehearse.sh
#   RUNS=21 bench/rehearse.sh
#
# Settings: RUNS (default 11), CARGO_TARGET_DIR (default /tmp/tg-bench), TMPDIR.
# Needs: cargo, tmux. A private tmux socket, killed at the end with everything the script made.
set -euo pipefail

RUNS=${RUNS:-11}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}
command -v tmux >/dev/null || { echo "tmux not found (apt-get install tmux)" >&2; exit 2; }
(cd "$root" && cargo build --release --quiet --bin tollgate)
bin=$CARGO_TARGET_DIR/release/tollgate

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-rehearse-bench.XXXXXX")
sock=tg-rehearse-bench-$$
tm() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() {
    tm kill-server 2>/dev/null || true
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
    rm -rf "$work"
}
trap cleanup EXIT
now() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%d\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { sort -n | head -n1; }
maximum() { sort -n | tail -n1; }
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }
fail() {
    echo "$1" >&2
    [[ -n ${2:-} ]] && tm capture-pane -p -t "$2" >&2
    exit 1
}
wait_screen() {
    local pane=$1 until=$(($(now) + 20000000)) screen
    shift
    while :; do
        screen=$(tm capture-pane -p -t "$pane")
        local all=1
        for text in "$@"; do [[ $screen == *"$text"* ]] || all=0; done
        ((all)) && return 0
        (($(now) < until)) || fail "timed out waiting for '$*' on the screen" "$pane"
    done
}
wait_gone() {
    local pid=$1 until=$(($(now) + 20000000))
    while kill -0 "$pid" 2>/dev/null; do
        (($(now) < until)) || fail "process $pid did not exit"
        sleep 0.005
    done
}
tm new-session -d -s bench -x 160 -y 45 cat
tm set-option -g remain-on-exit on
new_pane() { tm new-window -d -P -F '#{pane_id}' -t bench: "$@"; }

name="LabelMint rehearsal bench"
write() { # FILE FIXTURES
    cat >"$1" <<YAML
name: $name
targets:
  kube: { context: "arn:aws:eks:us-east-1:288761728065:cluster/labelmint-production", namespace: labelmint-production }
  aws: { account: "288761728065", region: us-east-1 }
rehearsal:
  fixtures: $2
phases:
  - id: look
    gate: true
    steps:
      - id: pods
        run:
          kube.get: { resource: pods }
YAML
}
cp "$root/runbooks/labelmint/cluster.yaml" "$work/cluster.yaml"
write "$work/labelmint.yaml" '[cluster.yaml]'
write "$work/empty.yaml" '[]'
cat >"$work/plain.yaml" <<YAML
name: $name
phases:
  - id: look
    gate: true
    steps:
      - id: pods
        run: echo pods
YAML

# One timed start of the command after FILE until the banner shows everything in WANT;
# microseconds appended to FILE.
time_one() {
    local file=$1 t0 pane pid
    shift
    t0=$(now)
    pane=$(new_pane "$@")
    wait_screen "$pane" "${WANT[@]}"
    echo $(($(now) - t0)) >>"$file"
    pid=$(tm display -p -t "$pane" '#{pane_pid}')
    tm kill-pane -t "$pane"
    wait_gone "$pid"
}

for k in labelmint empty plain printf; do : >"$work/$k.us"; done
WANT=(REHEARSAL "$name")
# Warm-up, untimed.
time_one /dev/null "$bin" --state-dir "$work/s-warm" rehearse "$work/labelmint.yaml"
for ((i = 1; i <= RUNS; i++)); do
    WANT=(REHEARSAL "$name")
    time_one "$work/labelmint.us" "$bin" --state-dir "$work/s-$i-a" rehearse "$work/labelmint.yaml"
    time_one "$work/empty.us" "$bin" --state-dir "$work/s-$i-b" rehearse "$work/empty.yaml"
    time_one "$work/printf.us" sh -c 'printf "%s\n" "$0"; exec cat' "REHEARSAL $name"
    WANT=("$name")
    time_one "$work/plain.us" "$bin" --state-dir "$work/s-$i-c" run "$work/plain.yaml"
done

echo "machine: $(nproc) CPUs; $(uname -sr); $(tmux -V); $RUNS runs each, interleaved (ms)"
echo
echo "| to the first frame | median | min | max |"
echo "|---|---:|---:|---:|"
row() { echo "| $1 | $(ms "$(median <"$work/$2.us")") | $(ms "$(minimum <"$work/$2.us")") | $(ms "$(maximum <"$work/$2.us")") |"; }
row "tollgate rehearse, LabelMint's cluster loaded" labelmint
row "tollgate rehearse, empty cluster" empty
row "tollgate run, no cluster (no stand-ins)" plain
row "\`sh -c 'printf …'\` of the same text" printf
lm=$(median <"$work/labelmint.us")
pf=$(median <"$work/printf.us")
pl=$(median <"$work/plain.us")
echo
echo "rehearse with LabelMint's cluster less printf: $(ms $((lm - pf))) ms (goal < 300 ms: $( ((lm - pf < 300000)) && echo met || echo MISSED)); against run with no cluster: $(awk -v a="$lm" -v b="$pl" 'BEGIN { printf "%.2f", a / b }')x"
