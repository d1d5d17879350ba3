#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on loopback. Start local servers when they are
# installed but down; install them from Debian's packages when missing and we are root
# (CI); otherwise say exactly how to get them.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }
wait_for() { for _ in $(seq 1 60); do "$1" && return 0; sleep 0.5; done; return 1; }

install_debian() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "services: installing $* from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "services: $* missing; install with: sudo apt-get install $*" >&2
    exit 1
  fi
}

if ! pg_up; then
  command -v pg_ctlcluster >/dev/null || install_debian postgresql
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [ -z "$version" ]; then echo "services: no PostgreSQL cluster found under /etc/postgresql" >&2; exit 1; fi
  echo "services: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for pg_up || { echo "services: PostgreSQL did not start; see /var/log/postgresql" >&2; exit 1; }
fi

if ! redis_up; then
  command -v redis-server >/dev/null || install_debian redis-server
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
  wait_for redis_up || { echo "services: Redis did not start" >&2; exit 1; }
fi
echo "services: PostgreSQL and Redis answer on 127.0.0.1"
