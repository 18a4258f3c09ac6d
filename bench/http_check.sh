#!/usr/bin/env bash
# `http.check` against one Service of the sandbox at 1,000 requests a second for 10 s, beside a
# baseline in the same run: a bare hyper client sending the same requests at the same pace over
# one keep-alive connection (examples/http_bench.rs). The sandbox runs in its own process
# (`tollgate sandbox --speed SPEED --fixture …`: a Service `web` in namespace `bench` over 4
# ready pods); each client's CPU time (the baseline: getrusage of the example; `http.check`:
# RUSAGE_CHILDREN of the `tollgate run` it starts) and the sandbox's (utime + stime of
# /proc/PID/stat) are read around each pass.
#
#   bench/http_check.sh
#   RATE=2000 SECONDS_=5 bench/http_check.sh
#
# Settings (environment): RATE (1000), SECONDS_ (10), SPEED (50), CARGO_TARGET_DIR (default
# /tmp/tg-bench), TMPDIR, TOLLGATE_BIN and BENCH_EXAMPLE (both: run these binaries, build
# nothing). The sandbox is stopped by its PID (SIGTERM, then SIGKILL after 10 s) when the script
# ends, whatever happens; the temporary directory is removed.
set -euo pipefail

RATE=${RATE:-1000}
SECONDS_=${SECONDS_:-10}
SPEED=${SPEED:-50}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tg-bench}

if [[ -n ${TOLLGATE_BIN:-} && -n ${BENCH_EXAMPLE:-} ]]; then
    bin=$TOLLGATE_BIN
    example=$BENCH_EXAMPLE
else
    (cd "$root" && cargo build --release --quiet --bin tollgate --example http_bench)
    bin=$CARGO_TARGET_DIR/release/tollgate
    example=$CARGO_TARGET_DIR/release/examples/http_bench
fi
[[ -x $bin && -x $example ]] || { echo "no binaries: $bin, $example" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-http-bench.XXXXXX")
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local end=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.05; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/cluster.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: { name: bench }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: bench }
spec:
  replicas: 4
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "bench/web:1.0" }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: bench }
spec: { selector: { app: web }, ports: [{ port: 80 }] }
YAML

: >"$work/stdout"
"$bin" --state-dir "$work/sandbox-state" sandbox --port 0 --speed "$SPEED" --log-rate 0 \
    --kubeconfig "$work/kubeconfig" --fixture "$work/cluster.yaml" >"$work/stdout" 2>"$work/stderr" &
pid=$!
traffic=
end=$((SECONDS + 20))
while [[ -z $traffic ]]; do
    traffic=$(sed -n 's|^traffic: .* on http://\([0-9.:]*\) .*|\1|p' "$work/stdout")
    kill -0 "$pid" 2>/dev/null || { echo "sandbox exited:" >&2; cat "$work/stderr" >&2; exit 1; }
    ((SECONDS < end)) || { echo "sandbox printed no traffic address within 20 s" >&2; exit 1; }
    [[ -n $traffic ]] || sleep 0.05
done
echo "# sandbox pid $pid, traffic on $traffic; $(nproc) cores"
"$example" "$traffic" "$pid" "$bin" "$work" "$RATE" "$SECONDS_" web.bench.svc
