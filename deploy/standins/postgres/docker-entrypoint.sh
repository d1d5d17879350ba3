#!/bin/sh
# The parts of the official postgres entrypoint compose relies on, for the PostgreSQL
# stand-in. Started as root it owns the data directory and the socket directory, then runs
# itself again as `postgres`. When PGDATA holds no cluster yet: initdb with POSTGRES_USER
# (default postgres) and POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
# password logins over the network (scram-sha-256), POSTGRES_DB created, then every
# /docker-entrypoint-initdb.d file in order: *.sh executed (sourced when not executable),
# *.sql fed to psql, against a server that listens only on its socket. Then the server.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    chmod 2775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_USER:=postgres}"
    : "${POSTGRES_DB:=$POSTGRES_USER}"
    auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        echo "docker-entrypoint.sh: POSTGRES_PASSWORD is not set; refusing to create a database without one" >&2
        exit 1
    fi
    export POSTGRES_USER POSTGRES_DB
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host="$auth" --encoding=UTF8 ${POSTGRES_INITDB_ARGS:-}
    rm -f "$pwfile"
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf 'host all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
    pg_ctl --wait --silent -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
            --set=db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
    fi
    for script in /docker-entrypoint-initdb.d/*; do
        [ -f "$script" ] || continue
        case "$script" in
            *.sh)
                echo "docker-entrypoint.sh: running $script"
                if [ -x "$script" ]; then "$script"; else . "$script"; fi ;;
            *.sql)
                echo "docker-entrypoint.sh: running $script"
                psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$script" ;;
            *) echo "docker-entrypoint.sh: ignoring $script" ;;
        esac
    done
    pg_ctl --wait --silent -m fast stop
    echo "docker-entrypoint.sh: database initialised"
fi
exec "$@"
