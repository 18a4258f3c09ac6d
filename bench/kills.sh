#!/usr/bin/env bash
# kill -9 a shell-only deploy (the demo before it was rehearsed, kept as
# tests/fixtures/runbooks/valid/shell-deploy.yaml) at a random moment, resume it, check; N times
# (default 30).
#
#   bench/kills.sh [N]        TOLLGATE=path/to/tollgate (default target/debug/tollgate)
#
# Each round: `run tests/fixtures/runbooks/valid/shell-deploy.yaml --headless` with the gates it needs, SIGKILL
# after a random 0–2 s (the run takes about 2 s), then `resume` until the run ends, adding `--kill-survivors` when resume
# asks for it and `--rerun STEP` for an interrupted step. While resumes run, a sampler reads
# /proc every few milliseconds for the run's step processes (TOLLGATE_RUN_ID and TOLLGATE_STEP in
# their environment) and notes any moment when one step has two process groups alive. Checked:
# every journal line parses; no step ran twice at once; no retry lost (the run succeeds; a kill in
# the retry delay of `reserve-capacity` shows as a failed run); no process of the run left running.

cd "$(dirname "$0")/.."
N=${1:-30}
BIN=${TOLLGATE:-target/debug/tollgate}
[ -x "$BIN" ] || { echo "kills.sh: $BIN not built (cargo build)" >&2; exit 2; }
GATES=(--approve preflight --approve build --approve deploy=demo)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/sampler.py" <<'PY'
import os, sys, time
run_id, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
seen = set()
while not os.path.exists(stop):
    groups = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            env = open(f'/proc/{pid}/environ', 'rb').read().split(b'\0')
            stat = open(f'/proc/{pid}/stat').read()
        except OSError:
            continue
        if f'TOLLGATE_RUN_ID={run_id}'.encode() not in env:
            continue
        fields = stat[stat.rfind(')') + 2:].split()
        if fields[0] in ('Z', 'X'):
            continue
        step = next((e[14:].decode() for e in env if e.startswith(b'TOLLGATE_STEP=')), '?')
        groups.setdefault(step, set()).add(fields[2])
    for step, g in groups.items():
        if len(g) > 1 and step not in seen:
            seen.add(step)
            open(out, 'a').write(f'{step} {sorted(g)}\n')
    time.sleep(0.002)
PY

cat > "$work/check.py" <<'PY'
import json, sys
path = sys.argv[1]
status, steps, last = None, {}, {}
for n, line in enumerate(open(path), 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        print(f'journal line {n} does not parse: {e}'); sys.exit(1)
    ev = r['event']
    if ev == 'step_started':
        a = r['attempt']
        if a <= last.get(r['step'], 0):
            print(f"attempt count went back for {r['step']}: {a} after {last[r['step']]}"); sys.exit(3)
        last[r['step']] = a
    if ev == 'run_finished':
        status = r['status']
print(status)
PY

kills=0 hit=0 found=0 killed=0 early=0
declare -A fail=()
for i in $(seq 1 "$N"); do
    d="$work/$i"; mkdir -p "$d"; st="$d/state"
    "$BIN" --state-dir "$st" run tests/fixtures/runbooks/valid/shell-deploy.yaml --headless "${GATES[@]}" \
        >"$d/run.out" 2>&1 </dev/null &
    pid=$!
    sleep "$(awk -v s=$RANDOM 'BEGIN { printf "%.3f", s % 2000 / 1000 }')"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
    run_id=$(ls "$st/runs" 2>/dev/null | head -1)
    j="$st/runs/$run_id/journal.jsonl"
    if [ -z "$run_id" ] || [ ! -s "$j" ]; then early=$((early + 1)); continue; fi
    cp "$j" "$d/killed.jsonl"
    python3 "$work/sampler.py" "$run_id" "$d/overlap" "$d/stop" &
    sampler=$!
    flags=()
    rc=
    for _ in 1 2 3 4 5; do
        "$BIN" --state-dir "$st" resume "$run_id" --headless "${GATES[@]}" "${flags[@]}" \
            >"$d/resume.out" 2>"$d/resume.err" </dev/null
        rc=$?
        cat "$d/resume.out" >>"$d/all.out"
        if [ $rc = 5 ] && grep -q -- '--kill-survivors' "$d/resume.err"; then
            found=$((found + 1)); flags+=(--kill-survivors); continue
        fi
        if [ $rc = 3 ] && step=$(grep -o -- '--rerun [^ ]* or --mark-done' "$d/resume.err"); then
            step=${step#--rerun }; flags+=(--rerun "${step% or --mark-done}"); continue
        fi
        break
    done
    # The resume came first, so that what the kill left running is still there.
    # A running step was hit when its last step_started has no step_finished after it.
    if python3 - "$d/killed.jsonl" <<'PY'
import json, sys
open_steps = set()
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except ValueError: break
    if r['event'] == 'step_started': open_steps.add(r['step'])
    if r['event'] == 'step_finished': open_steps.discard(r['step'])
sys.exit(0 if open_steps else 1)
PY
    then hit=$((hit + 1)); fi
    killed=$((killed + $(grep -c 'survivors gone' "$d/all.out")))
    touch "$d/stop"; wait "$sampler"
    status=$(python3 "$work/check.py" "$j"); crc=$?
    if [ $crc = 1 ]; then fail[journal]=$((${fail[journal]:-0} + 1)); fi
    if [ $crc = 3 ]; then fail[retry-count]=$((${fail[retry-count]:-0} + 1)); fi
    if [ -s "$d/overlap" ]; then fail[two-copies]=$((${fail[two-copies]:-0} + 1)); fi
    if [ "$rc" != 0 ] || [ "$status" != succeeded ]; then
        if grep -q '"step":"reserve-capacity","status":"failed"' "$j"; then
            fail[retry-lost]=$((${fail[retry-lost]:-0} + 1))
        else
            fail[not-succeeded]=$((${fail[not-succeeded]:-0} + 1))
            echo "round $i: resume exit $rc, run $status: $(tail -1 "$d/resume.err")" >&2
        fi
    fi
    if grep -l -s "TOLLGATE_RUN_ID=$run_id" /proc/[0-9]*/environ >/dev/null 2>&1; then
        fail[survivor-left]=$((${fail[survivor-left]:-0} + 1))
    fi
done
echo "kills: $kills (before the first journal line: $early)"
echo "a running step hit: $hit"
echo "survivors found (resume refused without --kill-survivors): $found; stopped by --kill-survivors: $killed"
printf 'failures:'
[ ${#fail[@]} = 0 ] && printf ' none'
for k in "${!fail[@]}"; do printf ' %s=%s' "$k" "${fail[$k]}"; done
echo
[ ${#fail[@]} = 0 ]
