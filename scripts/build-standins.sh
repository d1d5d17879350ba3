#!/usr/bin/env bash
# Build the stand-in images compose uses where registry images cannot be pulled (no internet):
# a Debian base system made with debootstrap from the mirror apt already uses, imported into
# the engine, and on top of it, from Debian's packages, a Python base for the tickvault image
# and PostgreSQL, Redis and nginx images that honour what docker-compose.yml uses of the
# official images (deploy/standins/*/Containerfile). Each image carries a label with the
# hash of the files it is built from, so a second run rebuilds nothing that did not change.
#
#   ENGINE=podman bash scripts/build-standins.sh      prints the variables compose reads
#
# Needs root (debootstrap) the first time; the base system's tarball is kept in
# $STANDIN_CACHE (default ~/.cache/tickvault-standins).
set -euo pipefail
cd "$(dirname "$0")/.."
engine="${ENGINE:-podman}"
cache="${STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tickvault-standins}"
prefix="localhost/tickvault-standin"
limits=()
if [ "$engine" = podman ]; then
  . scripts/podman-env.sh
  limits=("${PODMAN_LIMITS[@]}")
fi

# The mirror and suite apt already uses on this machine (deb822 or one-line sources).
apt_source() {
  local mirror suite
  mirror=$(sed -n -E 's/^URIs: *([^ ]*debian)\/?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  suite=$(sed -n -E 's/^Suites: *([a-z]+)( .*)?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
    read -r mirror suite < <(awk '$1 == "deb" && $2 ~ /debian\/?$/ {print $2, $3; exit}' /etc/apt/sources.list)
  fi
  echo "${mirror:-http://deb.debian.org/debian} ${suite:-bookworm}"
}

label_of() { "$engine" image inspect --format '{{ index .Labels "tickvault.standin.source" }}' "$1" 2>/dev/null || true; }

read -r mirror suite < <(apt_source)
base="$prefix/debian:$suite"
base_source=$(printf '%s %s' "$mirror" "$suite" | sha256sum | cut -c 1-16)
if [ "$(label_of "$base")" != "$base_source" ]; then
  tarball="$cache/debian-$suite-$base_source.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "build-standins: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    echo "build-standins: debootstrap $suite from $mirror (a few minutes, once)" >&2
    mkdir -p "$cache"
    if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" > "$cache/debootstrap.log" 2>&1; then
      tail -n 20 "$cache/debootstrap.log" >&2
      exit 1
    fi
    # apt inside the images: the same mirror, with the suite's updates and security fixes.
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s-security %s-security main\n' \
      "$mirror" "$suite" "$mirror" "$suite" "$mirror" "$suite" > "$root/etc/apt/sources.list"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" --numeric-owner -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
  fi
  "$engine" import --change "LABEL tickvault.standin.source=$base_source" \
    --change 'CMD ["/bin/bash"]' "$tarball" "$base" >&2
fi

# Each stand-in: its Containerfile's directory, hashed with the base it builds on. The Python
# base also trusts the host's CA bundle, so pip inside builds reaches the package index the
# way the host does.
build() {
  local name="$1" tag="$2" dir="deploy/standins/$1" context source
  source=$( { echo "$base_source"; find "$dir" -type f | sort | xargs sha256sum; \
    if [ "$name" = python ]; then sha256sum < /etc/ssl/certs/ca-certificates.crt; fi; } | sha256sum | cut -c 1-16)
  if [ "$(label_of "$prefix/$name:$tag")" = "$source" ]; then
    return
  fi
  context=$(mktemp -d)
  cp -R "$dir"/. "$context"/
  if [ "$name" = python ]; then cp /etc/ssl/certs/ca-certificates.crt "$context/host-ca.crt"; fi
  echo "build-standins: building $prefix/$name:$tag" >&2
  "$engine" build --quiet "${limits[@]}" --build-arg "BASE=$base" --label "tickvault.standin.source=$source" \
    -t "$prefix/$name:$tag" -f "$context/Containerfile" "$context" >&2
  rm -rf "$context"
  # The stand-in this build replaced, untagged now.
  "$engine" image prune --force --filter label=tickvault.standin.source >/dev/null
}
build python 3.11
build postgres 15
build redis 7.0
build nginx 1.22

# What docker-compose.yml reads to use them.
echo "PYTHON_IMAGE=$prefix/python:3.11"
echo "POSTGRES_IMAGE=$prefix/postgres:15"
echo "REDIS_IMAGE=$prefix/redis:7.0"
echo "NGINX_IMAGE=$prefix/nginx:1.22"
echo "CLUSTER_NGINX_IMAGE=$prefix/nginx:1.22"
