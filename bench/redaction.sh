#!/usr/bin/env bash
# What masking secrets costs: the same one-step runbook, run headless with stdout to a file, once
# with 8 secret variables (masked, with their base64, URL-encoded and line-by-line forms) and once
# with the same 8 values as plain variables (nothing to mask). The step prints N lines; every
# 1,000th line carries one of the values. The two runs alternate; each cell is the median.
#
#   bench/redaction.sh                  # N = 2000000, 11 runs
#   RUNS=5 N=200000 bench/redaction.sh
#
# Every secret run is checked: N lines of the step, no value (in any of its forms) in the output,
# N/1000 masks. Peak RSS: GNU time's %M. Needs: cargo, GNU time at /usr/bin/time, awk.
set -euo pipefail

RUNS=${RUNS:-11}
N=${N:-2000000}
GNU_TIME=${GNU_TIME:-/usr/bin/time}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/tg-bench}

now() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max() { sort -n | tail -n1; }

"$GNU_TIME" -f %M -o /dev/null true 2>/dev/null || { echo "GNU time not found at $GNU_TIME" >&2; exit 2; }
(( RUNS >= 5 )) || { echo "RUNS must be at least 5" >&2; exit 2; }
(cd "$root" && cargo build --release --quiet)
bin=$CARGO_TARGET_DIR/release/tollgate
work=$(mktemp -d "${TMPDIR:-/tmp}/tg-redaction.XXXXXX")
state=$(mktemp -d "${TMPDIR:-/tmp}/tg-redaction-state.XXXXXX")
trap 'rm -rf "$work" "$state"' EXIT

# Eight values of the shapes runbooks hold: tokens, a password, a URL with one, a two-line key.
values=(
    "jwt-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    "sess-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    "7301234567:AAH9xQ-botToken_client_0123456789"
    "7307654321:AAK3yR-botToken_worker_9876543210"
    "p@ss w/ord+&?=0042"
    "postgresql://labelmint:p4ss-0042@db.internal:5432/labelmint"
    "tonapi-91f3c2d4e5a6b7c8d9e0f1a2b3c4d5e6"
    $'-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END TEST KEY-----'
)
runbook() { # NAME SECRET(true|false)
    {
        echo "name: redaction $1"
        echo "variables:"
        for i in "${!values[@]}"; do
            echo "  v$i: { secret: $2, env: BENCH_V$i }"
        done
        cat <<EOF
phases:
  - id: bench
    steps:
      - id: gen
        run: |
          awk -v n=$N 'BEGIN { split(ENVIRON["v0"] "|" ENVIRON["v1"] "|" ENVIRON["v2"] "|" ENVIRON["v3"] "|" ENVIRON["v4"] "|" ENVIRON["v5"] "|" ENVIRON["v6"], v, "|")
            for (i = 1; i <= n; i++) if (i % 1000 == 0) print i, "value=" v[(i / 1000) % 7 + 1]; else print i }'
EOF
    } >"$work/$1.yaml"
}
runbook secret true
runbook plain false
for i in "${!values[@]}"; do export "BENCH_V$i=${values[$i]}"; done

timed() { # NAME OUT CMD...
    local name=$1 out=$2 start end
    shift 2
    start=$(now)
    "$GNU_TIME" -f %M -o "$work/rss.tmp" "$@" >"$out"
    end=$(now)
    echo $((end - start)) >>"$work/$name.wall"
    tail -n1 "$work/rss.tmp" >>"$work/$name.rss"
}
check() { # the secret run's output: N lines of the step, N/1000 masks, no value in any form
    local lines masks
    lines=$(grep -cF ' gen | ' "$work/secret.out" || true)
    masks=$(grep -cF 'value=••••••' "$work/secret.out" || true)
    [[ $lines == "$N" && $masks == $((N / 1000)) ]] || { echo "secret run: $lines lines, $masks masks" >&2; exit 1; }
    for v in "${values[@]:0:7}"; do
        if grep -qF -- "$v" "$work/secret.out"; then echo "A VALUE LEAKED: $v" >&2; exit 1; fi
    done
}

secret=("$bin" --state-dir "$state" run "$work/secret.yaml" --headless --approve-all)
plain=("$bin" --state-dir "$state" run "$work/plain.yaml" --headless --approve-all)
"${secret[@]}" >/dev/null
"${plain[@]}" >/dev/null
for ((i = 1; i <= RUNS; i++)); do
    timed secret "$work/secret.out" "${secret[@]}"
    check
    timed plain "$work/plain.out" "${plain[@]}"
    rm -rf "${state:?}"/*
done
s=$(median <"$work/secret.wall")
p=$(median <"$work/plain.wall")
echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^.*: //'); $(rustc --version); N=$N, $RUNS runs"
echo
echo "| run | wall, median (ms) | peak RSS (MiB) |"
echo "|---|---:|---:|"
awk -v s="$s" -v p="$p" -v rs="$(max <"$work/secret.rss")" -v rp="$(max <"$work/plain.rss")" 'BEGIN {
    printf "| 8 secret variables (masked) | %.1f | %.1f |\n", s / 1000, rs / 1024
    printf "| the same values, plain | %.1f | %.1f |\n", p / 1000, rp / 1024
    printf "\nratio (masked / plain): **%.2f**\n", s / p
}'
