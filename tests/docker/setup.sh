#!/usr/bin/env bash
# Installs (idempotently) what tests/cloud/docker_steps.rs and labelmint_images.rs run against:
# a Docker daemon (dockerd), a container registry (docker-registry, distribution 2.8) and htpasswd
# for its basic auth.
# The tests start their own private dockerd and registry; they skip, with a note, without them.
set -euo pipefail

missing=0
for tool in dockerd docker-registry htpasswd; do
  command -v "$tool" >/dev/null 2>&1 || missing=1
done
[ "$missing" = 0 ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q docker.io docker-registry apache2-utils
