#!/usr/bin/env bash
# Creates (idempotently) the Python venv with `moto`, the AWS API emulator that the AWS tests
# (tests/cloud/, tests/ui/tmux_aws.rs) run Secrets Manager, ECR and STS calls against
# (`moto_server`, bound to 127.0.0.1 by the tests).
#
#   MOTO_VENV   venv location (default: $HOME/.cache/tollgate/moto-venv)
#   PYTHON      interpreter that creates the venv (default: python3)
#
# Cold: ~15-20 s (pip from PyPI). Warm: a few ms, it only checks a stamp file.
set -euo pipefail

# moto 5 with its server's needs, pinned (pip freeze of a working venv). Changing this list changes the stamp, so the venv is rebuilt.
REQUIREMENTS="
Flask==3.1.3
flask-cors==6.0.5
moto==5.2.5
blinker==1.9.0
boto3==1.44.5
botocore==1.44.5
certifi==2026.10.18
cffi==2.1.1
charset-normalizer==3.5.2
click==8.5.1
cryptography==50.0.2
idna==3.20
itsdangerous==2.2.0
Jinja2==3.1.6
jmespath==1.1.0
MarkupSafe==3.0.4
pycparser==3.12
python-dateutil==2.9.0.post0
PyYAML==6.0.3
requests==2.34.2
responses==0.26.3
s3transfer==0.19.3
six==1.17.0
urllib3==2.8.0
Werkzeug==3.1.9
xmltodict==1.0.4
"

VENV="${MOTO_VENV:-$HOME/.cache/tollgate/moto-venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.tollgate-moto-$(printf '%s' "$REQUIREMENTS" | cksum | cut -d' ' -f1)"

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
"$VENV/bin/python" -c "import moto, flask, flask_cors"
test -x "$VENV/bin/moto_server"
touch "$STAMP"
