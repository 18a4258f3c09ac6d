#!/usr/bin/env bash
# The README's pictures of the interface, from the real binary running `tollgate demo` (the
# built-in demo, rehearsed against the in-process sandbox and stand-ins) in a 160x45 tmux pane:
#
#   assets/tui-gate.png       the destructive deploy gate: checklist ticked, confirmation word
#   assets/tui-rollout.png    the rolling update: old and new pods in the pods pane, the new
#                             pods' lines streaming in the logs pane
#   assets/tui-crashloop.png  1.6.0 crash-looping (the demo injects it): the failed rollout's
#                             dialog offering the rollback, CrashLoopBackOff in the pods pane
#   assets/tui-presenter.png  the presenter theme, the run rolled back
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
# chromium fonts-dejavu-core); no cloud, no Docker, no cluster. Private tmux socket and
# temporary files, removed at the end.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}
OUT=${OUT:-$root/assets}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[[ -n $CHROMIUM ]] || { echo "chromium not found (apt-get install -y chromium)" >&2; exit 2; }
command -v tmux >/dev/null || { echo "tmux not found (apt-get install -y tmux)" >&2; exit 2; }

(cd "$root" && cargo build --release --quiet --bin tollgate)
bin=$CARGO_TARGET_DIR/release/tollgate
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
need() { shows "$1" "${2:-20000}" || fail "never on the screen: $1"; }

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

# The runs' folders are removed with the state folder (each rehearsal removes its own).
forget_runs() {
    rm -rf "$work/state"
}

# Starts the demo in a fresh pane and state folder: start THEME [ARGS...].
start() {
    local theme=$1
    shift
    tm kill-server 2>/dev/null || true
    forget_runs
    tm new-session -d -s shot -x 160 -y 45 -e TMPDIR="$work" -e LANG=C.UTF-8 \
        "$bin" --state-dir "$work/state" demo --theme "$theme" "$@"
    tm set-option -t shot remain-on-exit on
}

# The hash of web's ReplicaSet before the deploy (its pods' names are web-HASH-xxxxx).
old_hash=
# The build gate, once web's three pods run: note their ReplicaSet, approve.
through_build_gate() {
    need "GATE before phase build"
    shows_pods_running 3 || fail "web's three pods never ran"
    old_hash=$(screen | grep -o 'web-[a-z0-9]*-[a-z0-9]\{5\}' | head -1 | cut -d- -f2)
    decide a build
}
shows_pods_running() {
    local want=$1 until=$(($(now) + 20000 * 1000))
    while (($(now) < until)); do
        (($(screen | grep -c 'web-[a-z0-9]*-[a-z0-9]\{5\} .* Running') == want)) && return 0
        sleep 0.02
    done
    return 1
}

# At the deploy gate: tick the checklist, type the confirmation word, move to the buttons.
at_deploy_gate() {
    need "GATE before phase deploy"
    press_until Space "[x] Someone is watching"
    tm send-keys -t shot Tab
    need "▶ type \`demo\` to approve:"
    tm send-keys -t shot -l demo
    need "✓ matches"
    # A letter typed in the word or the note goes into it: the buttons take `a`.
    tm send-keys -t shot Tab
    need "▶ note:"
    tm send-keys -t shot Tab
    need "▶ [a] approve"
}

# Polls until the rolling update is mid-way: two pods of the new ReplicaSet and one of the old in
# the pods pane, and lines the new pods wrote in the logs pane.
rolling() {
    local until=$(($(now) + 20000 * 1000)) s
    while (($(now) < until)); do
        s=$(screen)
        if grep -q "web-$old_hash-" <<<"$s" &&
            (($(grep -o 'web-[a-z0-9]*-[a-z0-9]\{5\}' <<<"$s" | grep -cv "web-$old_hash-") >= 2)) &&
            grep -o '[a-z0-9]*-[a-z0-9]\{5\} web │ 20' <<<"$s" | grep -qv "^$old_hash-"; then
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# From the deploy gate to the failed rollout of 1.6.0 (the demo makes it crash-loop).
deploy_and_ship_next() {
    decide a deploy
    need "GATE before phase ship-next" 30000
    decide a ship-next
    need "CrashLoopBackOff"
    need "STEP FAILED rollout-next" 30000
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

# 1, 2 and 3: the destructive gate, the rolling update, the crash-loop's failure dialog.
start dark
through_build_gate
at_deploy_gate
shoot tui-gate
decide a deploy
rolling || fail "the rolling update never showed old and new pods with the new pods' logs"
shoot tui-rollout
need "GATE before phase ship-next" 30000
decide a ship-next
need "CrashLoopBackOff"
need "STEP FAILED rollout-next" 30000
need "[b] rollback"
shoot tui-crashloop

# 4: the presenter theme, the run rolled back.
start presenter
through_build_gate
at_deploy_gate
deploy_and_ship_next
decide b rollout-next
need "GATE before phase rollback"
decide a rollback
journal_has '"event":"run_finished"' || fail "the run never finished"
need "rolled back in"
shows_pods_running 3 || fail "web is not back to three pods"
# The crash-looping pod gone, and the logs pane streaming the good pods again.
settled() {
    local until=$(($(now) + 20000 * 1000)) s
    while (($(now) < until)); do
        s=$(screen)
        [[ $s != *Terminating* ]] && (($(grep -c ' web │ 20' <<<"$s") >= 12)) && return 0
        sleep 0.02
    done
    return 1
}
settled || fail "the rollback never settled"
shoot tui-presenter '#000000'
