#!/usr/bin/env bash
# Creates (idempotently) the Python venv with the `kmock` Kubernetes API emulator that
# tests/kube/kube_compat.rs runs its kube-rs conformance tests against (see tests/kmock/server.py).
#
#   KMOCK_VENV   venv location (default: $HOME/.cache/tollgate/kmock-venv)
#   PYTHON       interpreter that creates the venv (default: python3; kmock needs >= 3.11)
#
# Cold: ~6-11 s (pip from PyPI). Warm: a few ms, it only checks a stamp file.
set -euo pipefail

# kmock 0.8 and everything it pulls in, pinned (pip freeze of a working venv). Changing this
# list changes the stamp, so the venv is rebuilt on the next run.
REQUIREMENTS="
kmock==0.8
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
attrs==26.1.0
frozenlist==1.8.0
idna==3.20
jsonpatch==1.47
jsonpointer==3.12
multidict==7.2.1
propcache==0.5.4
typing_extensions==4.16.0
yarl==1.25.1
"

VENV="${KMOCK_VENV:-$HOME/.cache/tollgate/kmock-venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.tollgate-kmock-$(printf '%s' "$REQUIREMENTS" | cksum | cut -d' ' -f1)"

[ -f "$STAMP" ] && exit 0

mkdir -p "$(dirname "$VENV")"
# Serialise concurrent runs (several test processes may call this at once).
exec 9>"$VENV.lock"
flock 9
[ -f "$STAMP" ] && exit 0

# Whatever is there without the stamp is half-made or outdated: rebuild it.
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086  # one requirement per word
"$VENV/bin/pip" install --quiet --disable-pip-version-check $REQUIREMENTS
"$VENV/bin/python" -c "import kmock, aiohttp"
touch "$STAMP"
