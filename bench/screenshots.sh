#!/usr/bin/env bash
# The README's pictures of the interface, from the real binary running the demo runbook in a
# 160x45 tmux pane:
#
#   assets/tui-running.png    steps running, live output (the build phase compiling)
#   assets/tui-gate.png       the destructive deploy gate: confirmation word, checklist
#   assets/tui-failed.png     a failed step (--var break_verification=true)
#   assets/tui-presenter.png  the presenter theme, the run finished
#
#   bench/screenshots.sh            # all four, into assets/
#   OUT=/tmp/shots bench/screenshots.sh
#
# Each screen is captured with `tmux capture-pane -e -p`, turned into HTML by
# bench/ansi2html.py (DejaVu Sans Mono on the themes' dark background) and photographed by
# headless Chromium. The script drives the interface like a person: it presses keys and polls
# the screen, or the run's journal, until they took effect (a gate ignores keys for 300 ms
# after it opens, so a key is pressed again until the screen shows it worked).
# Needs: cargo, tmux, python3, chromium and fonts-dejavu-core (Debian: apt-get install -y
# chromium fonts-dejavu-core). Private tmux socket and temporary files, removed at the end.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}
OUT=${OUT:-$root/assets}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[[ -n $CHROMIUM ]] || { echo "chromium not found (apt-get install -y chromium)" >&2; exit 2; }
command -v tmux >/dev/null || { echo "tmux not found (apt-get install -y tmux)" >&2; exit 2; }

(cd "$root" && cargo build --release --quiet --bin tollgate)
bin=$CARGO_TARGET_DIR/release/tollgate
demo=$root/runbooks/demo/first-deploy.yaml
mkdir -p "$OUT"

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-shots.XXXXXX")
sock=tg-shots-$$
tm() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() {
    tm kill-server 2>/dev/null || true
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
    forget_runs
    rm -rf "$work"
}
trap cleanup EXIT

now() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }
fail() {
    echo "$1" >&2
    tm capture-pane -p -t shot >&2 || true
    exit 1
}
screen() { tm capture-pane -p -t shot; }

# Polls the screen until it shows TEXT, for up to MS milliseconds (default 20 s); returns 1 if
# it never does.
shows() {
    local text=$1 until=$(($(now) + ${2:-20000} * 1000))
    while (($(now) < until)); do
        [[ $(screen) == *"$text"* ]] && return 0
        sleep 0.02
    done
    return 1
}
need() { shows "$1" || fail "never on the screen: $1"; }

# Polls the run's journal until it holds TEXT, for up to MS milliseconds.
journal_has() {
    local text=$1 until=$(($(now) + ${2:-20000} * 1000))
    while (($(now) < until)); do
        grep -qsF -- "$text" "$work"/state/runs/*/journal.jsonl && return 0
        sleep 0.02
    done
    return 1
}

# Presses KEY (send-keys syntax) until the screen shows TEXT: a dialog that just opened
# ignores keys, so a key that changed nothing within 500 ms is pressed again.
press_until() {
    local key=$1 text=$2 tries=0
    until tm send-keys -t shot "$key" && shows "$text" 500; do
        ((++tries < 40)) || fail "pressing '$key' never showed: $text"
    done
}

# Presses KEY at the open gate GATE until the journal records its decision.
decide() {
    local key=$1 gate=$2 tries=0
    # A key chooses a button; Enter decides it.
    until tm send-keys -t shot "$key" Enter && journal_has "\"event\":\"gate_decided\",\"gate\":\"$gate\"" 500; do
        ((++tries < 40)) || fail "gate $gate was never decided"
    done
}

# The demo keeps its scratch folder at $TMPDIR/tollgate-demo-RUN_ID (the paths show on screen);
# the runs' folders are removed with the runs.
scratch=${TMPDIR:-/tmp}
forget_runs() {
    local run
    for run in "$work"/state/runs/*; do
        [[ -d $run ]] && rm -rf "$scratch/tollgate-demo-$(basename "$run")"
    done
    rm -rf "$work/state"
}

# Starts the demo in a fresh pane and state folder: start THEME [ARGS...].
start() {
    local theme=$1
    shift
    tm kill-server 2>/dev/null || true
    forget_runs
    tm new-session -d -s shot -x 160 -y 45 -e TMPDIR="$scratch" -e LANG=C.UTF-8 \
        "$bin" --state-dir "$work/state" run "$demo" --theme "$theme" "$@"
    tm set-option -t shot remain-on-exit on
}

# Preflight: tick both checklist items, approve. Build: approve.
through_build_gate() {
    need "GATE before phase preflight"
    press_until Space "[x] Change ticket approved"
    tm send-keys -t shot j
    press_until Space "[x] Scratch space is writable"
    decide a preflight
    need "GATE before phase build"
    decide a build
}

# At the deploy gate: type the confirmation word, move to the checklist.
at_deploy_gate() {
    need "GATE before phase deploy"
    press_until d "to approve: d"
    tm send-keys -t shot -l emo
    need "to approve: demo"
    tm send-keys -t shot Tab
    need "space  tick"
}

# Saves the screen as OUT/NAME.png, on the background BG (the terminal's, which the themes
# leave alone: dark grey, or black for the presenter theme).
shoot() {
    local name=$1 bg=${2:-#121212} size
    tm capture-pane -e -p -t shot >"$work/$name.ans"
    size=$(python3 "$root/bench/ansi2html.py" "$work/$name.ans" "$work/$name.html" \
        --title "$name" --bg "$bg")
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$(mktemp -d "$work/chromium.XXXXXX")" \
        --screenshot="$OUT/$name.png" --window-size="${size/ /,}" \
        "file://$work/$name.html" >/dev/null 2>&1
    [[ -s $OUT/$name.png ]] || fail "no picture made for $name"
    echo "$OUT/$name.png: $(stat -c %s "$OUT/$name.png") bytes"
}

# 1 and 2: the build compiling, then the destructive deploy gate.
start dark
through_build_gate
need "compiling module 5/8"
shoot tui-running
at_deploy_gate
shoot tui-gate

# 3: a failed validation step.
start dark --var break_verification=true
through_build_gate
at_deploy_gate
press_until Space "[x] Someone is watching"
decide a deploy
need "STEP FAILED smoke-test"
need "HTTP 503"
shoot tui-failed

# 4: the presenter theme, the run finished.
start presenter
through_build_gate
at_deploy_gate
press_until Space "[x] Someone is watching"
decide a deploy
journal_has '"event":"run_finished"' || fail "the run never finished"
need "8/8 steps · succeeded"
shoot tui-presenter '#000000'
