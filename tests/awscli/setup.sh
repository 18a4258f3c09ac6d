#!/usr/bin/env bash
# Creates (idempotently) the Python venv holding the `aws` CLI (PyPI `awscli` 1.x, which carries
# its own botocore), that tests/cloud/standin_aws.rs drives against the rehearsal's AWS stand-in on
# 127.0.0.1 (`AWS_ENDPOINT_URL`, honoured since awscli 1.29). A venv of its own: awscli pins
# botocore, moto's venv pins another.
#
#   AWSCLI_VENV   venv location (default: $HOME/.cache/tollgate/awscli-venv)
#   PYTHON        interpreter that creates the venv (default: python3)
#
# Cold: ~10 s (pip from PyPI). Warm: a few ms, it only checks a stamp file.
set -euo pipefail

# pip freeze of a working venv. Changing this list changes the stamp, so the venv is rebuilt.
REQUIREMENTS="
awscli==1.46.2
colorama==0.4.6
docutils==0.19
jmespath==1.1.0
pyasn1==0.6.5
python-dateutil==2.9.0.post0
PyYAML==6.0.4
rsa==4.7.2
six==1.17.0
urllib3==2.8.0
"

VENV="${AWSCLI_VENV:-$HOME/.cache/tollgate/awscli-venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.tollgate-awscli-$(printf '%s' "$REQUIREMENTS" | cksum | cut -d' ' -f1)"

[ -f "$STAMP" ] && exit 0

mkdir -p "$(dirname "$VENV")"
# Serialise concurrent runs (several test processes may call this at once).
exec 9>"$VENV.lock"
flock 9
[ -f "$STAMP" ] && exit 0

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086  # one requirement per word
"$VENV/bin/pip" install --quiet --disable-pip-version-check $REQUIREMENTS
"$VENV/bin/aws" --version >/dev/null
touch "$STAMP"
