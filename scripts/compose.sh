#!/usr/bin/env bash
# Run the project's compose file with the local container engine: `docker compose` where a
# Docker daemon answers, podman (with podman-compose) otherwise.
#
#   scripts/compose.sh demo [ARGS...]   build, start the offline demo stack (--profile demo),
#                                       wait until the proxy answers healthy, print the URLs
#   scripts/compose.sh down             stop and remove it: containers, network, its volumes
#   scripts/compose.sh run ARGS...      any compose command, with the same engine and settings
#   scripts/compose.sh engine ARGS...   the engine itself (docker or podman), same settings
#
# COMPOSE_FILE picks another compose file (default docker-compose.yml, e.g.
# deploy/compose.cluster.yml) and COMPOSE_PROJECT_NAME another project (default: the file's).
# Passwords: the shell's, else .env's, else generated once into .compose/<project>-secrets.env
# (mode 600) and kept until `down`; none has a default.
# With podman, where registry images cannot be pulled (COMPOSE_STANDINS=auto: no Docker
# daemon; 1 forces, 0 never), the stand-in images of scripts/build-standins.sh are built and used.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
file="${COMPOSE_FILE:-docker-compose.yml}"
state="$root/.compose"
python="$root/.venv/bin/python"
[ -x "$python" ] || python=python3
order() { "$python" scripts/compose_order.py "$file" demo; }
project="${COMPOSE_PROJECT_NAME:-$(order | sed -n 's/^project //p')}"
env_value() {  # NAME FILE: the last non-empty NAME=value of an env file, if any
  [ -r "$2" ] || return 0
  sed -n -E "s/^$1=(.+)$/\1/p" "$2" | tail -n 1
}
port="${HTTP_PORT:-$(env_value HTTP_PORT .env)}"
export HTTP_PORT="${port:-8000}"
PASSWORDS=(POSTGRES_PASSWORD API_DB_PASSWORD REPLICATION_PASSWORD REDIS_COLLECTOR_PASSWORD REDIS_WRITER_PASSWORD
  REDIS_API_PASSWORD REDIS_ADMIN_PASSWORD REDIS_REPLICATION_PASSWORD GRAFANA_ADMIN_PASSWORD)

say() { echo "compose: $*" >&2; }

# --- the engine
if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  engine=docker
  compose=(docker compose)
else
  command -v podman >/dev/null || { say "no container engine: install Docker, or podman (make test-tools)"; exit 1; }
  engine=podman
  podman_compose=$(command -v podman-compose || true)
  if [ -z "$podman_compose" ] && [ -x "$root/.venv/bin/podman-compose" ]; then
    podman_compose="$root/.venv/bin/podman-compose"
  fi
  [ -n "$podman_compose" ] || { say "podman-compose is missing (make test-tools installs it)"; exit 1; }
  . scripts/podman-env.sh
  # A service's own ulimits replace all of podman's defaults: pass both to every one.
  compose=("$podman_compose" "--podman-run-args=${PODMAN_LIMITS[*]}")
  # The compose file asks the API and the proxy for this many open files.
  if [ "$PODMAN_NOFILE" -lt "${CONTAINER_NOFILE:-65536}" ]; then
    export CONTAINER_NOFILE="$PODMAN_NOFILE"
  fi
fi
compose+=(-p "$project" -f "$file")

# --- stand-in images where the official ones cannot be pulled
standins="${COMPOSE_STANDINS:-auto}"
if [ "$standins" = auto ]; then standins=$([ "$engine" = podman ] && echo 1 || echo 0); fi
use_standins() {
  local line name
  while IFS= read -r line; do
    name="${line%%=*}"
    [ -n "${!name:-}" ] || export "$line"   # an image named in the shell wins
  done < <(ENGINE="$engine" bash scripts/build-standins.sh)
}

# --- passwords: shell, then .env, then generated once
passwords() {
  local secrets="$state/$project-secrets.env" name value
  mkdir -p "$state"
  (umask 077; touch "$secrets")
  for name in "${PASSWORDS[@]}"; do
    [ -n "${!name:-}" ] && continue
    value=$(env_value "$name" .env)
    [ -n "$value" ] && continue   # compose reads .env itself
    value=$(env_value "$name" "$secrets")
    if [ -z "$value" ]; then
      value=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
      echo "$name=$value" >> "$secrets"
    fi
    export "$name=$value"
  done
}

# --- health: podman before 4.6 neither runs health checks without systemd nor waits for
# them, so with podman the services start in their dependency order here.
healthy() {  # container names...: run each one's health check now, succeed when all pass
  local c
  for c in "$@"; do
    if [ "$engine" = podman ]; then podman healthcheck run "$c" >/dev/null 2>&1 || return 1
    else [ "$(docker inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)" = healthy ] || return 1
    fi
  done
}
containers_of() { "$engine" ps -q --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$1"; }
wait_healthy() {  # service names...
  local service deadline=$((SECONDS + ${COMPOSE_WAIT_SECONDS:-300})) ids
  for service in "$@"; do
    until ids=$(containers_of "$service") && [ -n "$ids" ] && healthy $ids; do
      if [ $SECONDS -ge $deadline ]; then say "$service is not healthy"; return 1; fi
      sleep 1
    done
  done
}
wait_exited_ok() {  # service: its one-off container ran and exited 0
  local service="$1" deadline=$((SECONDS + ${COMPOSE_WAIT_SECONDS:-300})) id status
  while :; do
    id=$("$engine" ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service" | head -n 1)
    status=$([ -n "$id" ] && "$engine" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id" || true)
    case "$status" in
      exited\ 0) return 0 ;;
      exited\ *) say "$service failed:"; "$engine" logs "$id" >&2 || true; return 1 ;;
    esac
    if [ $SECONDS -ge $deadline ]; then say "$service did not finish"; return 1; fi
    sleep 1
  done
}
wait_proxy() {
  local deadline=$((SECONDS + ${COMPOSE_WAIT_SECONDS:-300}))
  until python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:$HTTP_PORT/healthz', timeout=4).status != 200)" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then say "the proxy does not answer healthy on 127.0.0.1:$HTTP_PORT"; return 1; fi
    sleep 1
  done
}

# COMPOSE_ARGS for podman-compose: every `--scale S=N` (or --scale=S=N) into SCALES, the rest
# into PASSED, then up_each starts each service with its own.
declare -A SCALES=()
PASSED=()
split_scales() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --scale) SCALES[${2%%=*}]="${2#*=}"; shift 2 ;;
      --scale=*) local pair="${1#--scale=}"; SCALES[${pair%%=*}]="${pair#*=}"; shift ;;
      *) PASSED+=("$1"); shift ;;
    esac
  done
}
up_each() {
  local service
  for service in "$@"; do
    "${compose[@]}" --profile demo up -d --no-build --no-deps "${PASSED[@]}" \
      ${SCALES[$service]:+--scale "$service=${SCALES[$service]}"} "$service"
  done
}

demo() {
  passwords
  [ "$standins" = 1 ] && use_standins
  set -a; . deploy/demo.env; set +a
  if [ "$engine" = docker ]; then
    # compose waits for each depends_on condition itself; the proxy is waited for below.
    "${compose[@]}" --profile demo up -d --build "$@"
  else
    # One build for the one image every tickvault service runs (podman-compose builds it
    # once per service).
    podman build "${PODMAN_LIMITS[@]}" --quiet -t tickvault:latest --label tickvault.image=tickvault \
      --build-arg "PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11-slim}" . >/dev/null
    # The image a rebuild replaced, untagged now.
    podman image prune --force --filter label=tickvault.image=tickvault >/dev/null
    # The order depends_on asks for, which podman-compose cannot wait for before podman 4.6
    # (scripts/compose_order.py); one service at a time: podman-compose takes one --scale.
    split_scales "$@"
    local verb services
    # The steps on fd 3: podman-compose reads its standard input.
    while read -r verb services <&3; do
      case "$verb" in
        up) up_each $services ;;
        healthy) wait_healthy $services ;;
        exited) for service in $services; do wait_exited_ok "$service"; done ;;
      esac
    done 3< <(order | tail -n +2)
  fi
  wait_proxy
  cat <<URLS
tickvault demo is up ($engine, project $project):
  dashboard   http://127.0.0.1:$HTTP_PORT/
  API         http://127.0.0.1:$HTTP_PORT/api/v1/
  health      http://127.0.0.1:$HTTP_PORT/healthz
Passwords: .env, else $state/$project-secrets.env. Stop it with: make compose-down
URLS
}

down() {
  passwords
  [ "$standins" = 1 ] && use_standins
  set -a; . deploy/demo.env; set +a
  if [ "$engine" = podman ]; then
    # podman-compose's down keeps the anonymous volumes of images' VOLUMEs: rm -v drops them.
    local ids
    ids=$(podman ps -aq --filter "label=com.docker.compose.project=$project")
    [ -z "$ids" ] || podman rm --force --volumes --time 5 $ids >/dev/null
  fi
  "${compose[@]}" --profile demo down --volumes --remove-orphans
  # The volumes that held them are gone: the next demo starts with new passwords.
  rm -f "$state/$project-secrets.env"
}

case "${1:-}" in
  demo) shift; demo "$@" ;;
  down) shift; down "$@" ;;
  engine) shift; "$engine" "$@" ;;
  run) shift; passwords; [ "$standins" = 1 ] && use_standins; "${compose[@]}" "$@" ;;
  *) echo "usage: scripts/compose.sh demo|down|run|engine [ARGS...]" >&2; exit 2 ;;
esac
