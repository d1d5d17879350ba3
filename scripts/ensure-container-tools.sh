#!/usr/bin/env bash
# Make sure a container engine the compose tests and `make compose-demo` can drive is here:
# Docker with its compose plugin where a Docker daemon answers; otherwise Debian's podman
# (with runc, netavark/aardvark-dns, and debootstrap for the stand-in images), installed from
# Debian's packages when missing and we are root, and podman-compose in the project's .venv.
# With REQUIRED=0 a machine that can have no engine is only told how to get one.
set -euo pipefail
cd "$(dirname "$0")/.."
PODMAN_COMPOSE_VERSION=1.6.0
required="${REQUIRED:-1}"

if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  exit 0
fi
missing=()
for tool in podman runc debootstrap aardvark-dns; do
  case "$tool" in
    aardvark-dns) [ -x /usr/lib/podman/aardvark-dns ] || missing+=(aardvark-dns netavark) ;;
    *) command -v "$tool" >/dev/null 2>&1 || missing+=("$tool") ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "container tools: installing ${missing[*]} from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      podman runc netavark aardvark-dns debootstrap iptables uidmap >/dev/null
  elif [ "$required" = 1 ]; then
    echo "container tools: missing ${missing[*]}; install with: sudo apt-get install podman runc netavark aardvark-dns debootstrap" >&2
    exit 1
  else
    echo "container tools: no container engine (${missing[*]} missing); the compose tests will not run" >&2
    exit 0
  fi
fi
venv_bin=.venv/bin
installed=$("$venv_bin/python" -m pip show podman-compose 2>/dev/null || true)
if ! grep -qx "Version: $PODMAN_COMPOSE_VERSION" <<<"$installed"; then
  echo "container tools: installing podman-compose $PODMAN_COMPOSE_VERSION into .venv"
  "$venv_bin/python" -m pip install --quiet --disable-pip-version-check "podman-compose==$PODMAN_COMPOSE_VERSION"
fi
