#!/bin/sh
# Entry point of the standby: on first start, clone the primary with pg_basebackup -R
# (which writes standby.signal and primary_conninfo), then run PostgreSQL as usual.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    until su-exec postgres pg_isready -h "$PRIMARY_HOST" -q; do sleep 1; done
    PGPASSWORD="$REPLICATION_PASSWORD" su-exec postgres pg_basebackup \
        -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream --checkpoint=fast
fi
exec docker-entrypoint.sh postgres
