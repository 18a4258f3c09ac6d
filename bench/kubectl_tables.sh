#!/usr/bin/env bash
# `kubectl get pods -A` against a sandbox holding PODS pods: the Table the sandbox makes for kubectl
# (columns and cells per pod, each row carrying its metadata) against the same list without a
# Table (`-o name`, and `-o json`), in the same run.
#
#   bench/kubectl_tables.sh                 # 5,000 pods in 10 namespaces, 11 runs of each command
#   RUNS=5 PODS=2000 bench/kubectl_tables.sh
#
# The pods come from a generated fixture (`tollgate sandbox --fixture FILE --no-controllers`), each
# with a running container's status (ready, one restart: every cell is worked out), so no
# controller runs meanwhile. The commands alternate run by run after one warm-up of each (kubectl's
# discovery cache is then warm); kubectl pages the list as it does by default (limit=500 with
# continue tokens). Wall time is bash's $EPOCHREALTIME around each command, median of the runs;
# every table run must print PODS rows and a header.
#
# Settings (environment): PODS (5000), NAMESPACES (10), RUNS (11), KUBECTL (default: the venv
# tests/kubectl/setup.sh makes), CARGO_TARGET_DIR (default: the crate's target/), TMPDIR.
# The sandbox is stopped by its PID when the script ends, whatever happens; the temporary directory
# is removed.
set -euo pipefail

PODS=${PODS:-5000}
NAMESPACES=${NAMESPACES:-10}
RUNS=${RUNS:-11}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
KUBECTL=${KUBECTL:-$HOME/.cache/tollgate/kubectl-venv/bin/kubectl}
[[ -x $KUBECTL ]] || bash "$root/tests/kubectl/setup.sh" >/dev/null
[[ -x $KUBECTL ]] || { echo "no kubectl at $KUBECTL" >&2; exit 2; }

(cd "$root" && cargo build --release --quiet --bin tollgate)
bin=$CARGO_TARGET_DIR/release/tollgate
[[ -x $bin ]] || { echo "no binary at $bin" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-kubectl-tables.XXXXXX")
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The fixture: NAMESPACES namespaces, PODS pods spread over them, all running and ready.
# Files of 500 pods each: a fixture file holds at most 1,024 documents (and 250,000 YAML nodes).
python3 - "$PODS" "$NAMESPACES" "$work" <<'PY'
import json, sys
pods, nss, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = []
for n in range(nss):
    out.append(({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}}))
for i in range(pods):
    ns = f"bench-{i % nss}"
    out.append(({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"web-{i:05d}", "namespace": ns,
                     "labels": {"app": "web", "shard": str(i % 7)},
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": "sandbox-node-1",
                 "containers": [{"name": "web", "image": "registry.example/web:1.2.3"}]},
        "status": {"phase": "Running", "podIP": f"10.244.{i // 250}.{i % 250 + 1}",
                   "podIPs": [{"ip": f"10.244.{i // 250}.{i % 250 + 1}"}],
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "web", "ready": True, "restartCount": 1,
                                          "image": "registry.example/web:1.2.3",
                                          "state": {"running": {"startedAt": "2026-01-01T00:01:00Z"}},
                                          "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                        "finishedAt": "2026-01-01T00:00:59Z"}}}]},
    }))
for f in range(0, len(out), 500):
    with open(f"{work}/pods-{f // 500:03d}.yaml", "w") as fh:
        fh.write("\n---\n".join(json.dumps(o) for o in out[f:f + 500]))
PY

: >"$work/stdout"
fixtures=()
for f in "$work"/pods-*.yaml; do fixtures+=(--fixture "$f"); done
"$bin" --state-dir "$work/state" sandbox --no-controllers --port 0 "${fixtures[@]}" \
    --kubeconfig "$work/kubeconfig" >"$work/stdout" 2>"$work/stderr" &
pid=$!
end=$((SECONDS + 60))
until grep -q '^sandbox: Kubernetes API on' "$work/stdout"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/stderr" >&2; exit 1; }
    ((SECONDS < end)) || { echo "the sandbox did not start within 60 s" >&2; exit 1; }
    sleep 0.05
done

mkdir -p "$work/home"
k() { KUBECONFIG="$work/kubeconfig" HOME="$work/home" "$KUBECTL" "$@"; }

# Warm-up, and the checks.
rows=$(k get pods -A | wc -l)
[[ $rows -eq $((PODS + 1)) ]] || { echo "the table printed $rows lines, not $((PODS + 1))" >&2; exit 1; }
names=$(k get pods -A -o name | wc -l)
[[ $names -eq $PODS ]] || { echo "-o name printed $names lines" >&2; exit 1; }
k get pods -A -o json >/dev/null
k get pods -A | sed -n '1,2p'

declare -a t_table t_name t_json
now_ms() { echo "${EPOCHREALTIME/./}"; }
for ((r = 0; r < RUNS; r++)); do
    a=$(now_ms); k get pods -A >/dev/null; b=$(now_ms)
    t_table+=($(((b - a))))
    a=$(now_ms); k get pods -A -o name >/dev/null; b=$(now_ms)
    t_name+=($(((b - a))))
    a=$(now_ms); k get pods -A -o json >/dev/null; b=$(now_ms)
    t_json+=($(((b - a))))
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mt=$(median "${t_table[@]}")
mn=$(median "${t_name[@]}")
mj=$(median "${t_json[@]}")
echo "pods: $PODS in $NAMESPACES namespaces; runs: $RUNS; kubectl $("$KUBECTL" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
awk -v t="$mt" -v n="$mn" -v j="$mj" 'BEGIN {
    printf "kubectl get pods -A (Table)        median %8.1f ms\n", t / 1000
    printf "kubectl get pods -A -o name        median %8.1f ms   table/name %.2f\n", n / 1000, t / n
    printf "kubectl get pods -A -o json        median %8.1f ms   table/json %.2f\n", j / 1000, t / j
}'
