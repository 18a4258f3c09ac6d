#!/usr/bin/env bash
# Cost per call of the rehearsal's AWS stand-in next to moto's: `examples/standin_calls_bench.rs`
# (release build) makes CALLS GetSecretValue and CALLS DescribeImages calls through aws-sdk-rust,
# one at a time, against the stand-in (in its own process) and against a `moto_server` this script
# starts on a free 127.0.0.1 port from the venv `tests/moto/setup.sh` makes; ROUNDS rounds,
# backends alternating, median round reported as ms/call and the ratio.
#
#   bench/standin_calls.sh                  # CALLS=500 ROUNDS=3
#   CALLS=200 ROUNDS=5 bench/standin_calls.sh
#
# Settings (environment): CALLS, ROUNDS, MOTO_VENV (default $HOME/.cache/tollgate/moto-venv),
# CARGO_TARGET_DIR (default /tmp/tg-bench). moto is stopped by its PID when the script ends,
# whatever happens.
set -euo pipefail

CALLS=${CALLS:-500}
ROUNDS=${ROUNDS:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/tg-bench}
VENV=${MOTO_VENV:-$HOME/.cache/tollgate/moto-venv}

bash "$root/tests/moto/setup.sh"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --example standin_calls_bench

work=$(mktemp -d)
moto_pid=""
cleanup() {
    if [ -n "$moto_pid" ]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
MOTO_ACCOUNT_ID=123456789012 "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
# Wait (deadline 30 s) until moto answers.
deadline=$((SECONDS + 30))
until curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; do
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "moto_server exited:" >&2
        cat "$work/moto.log" >&2
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "moto_server did not answer within 30 s" >&2
        exit 1
    fi
    sleep 0.05
done

"$CARGO_TARGET_DIR/release/examples/standin_calls_bench" --calls "$CALLS" --rounds "$ROUNDS" --moto "http://127.0.0.1:$port"
