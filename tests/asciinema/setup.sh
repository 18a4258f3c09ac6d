#!/usr/bin/env bash
# Creates (idempotently) the Python venv holding asciinema (PyPI `asciinema` 2.4, the player), which
# tests/ui/tmux_record.rs uses to read back `--record`'s asciicast (`asciinema cat FILE.cast`).
#
#   ASCIINEMA_VENV   venv location (default: $HOME/.cache/tollgate/asciinema-venv)
#   PYTHON         interpreter that creates the venv (default: python3)
#
# Cold: ~3 s (one wheel from PyPI). Warm: a few ms, it only checks a stamp file.
set -euo pipefail

REQUIREMENTS="asciinema==2.4.0"

VENV="${ASCIINEMA_VENV:-$HOME/.cache/tollgate/asciinema-venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.tollgate-asciinema-$(printf '%s' "$REQUIREMENTS" | cksum | cut -d' ' -f1)"

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
"$VENV/bin/asciinema" --version >/dev/null
touch "$STAMP"
