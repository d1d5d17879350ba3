#!/bin/sh
# Start Redis with one ACL user per service (deploy/redis/users.acl) and no default user:
# the Redis of docker-compose.yml, or, with REDIS_CLUSTER=yes, one node of the Redis Cluster
# of deploy/compose.cluster.yml, which also has the users `admin` and `replication` and
# authenticates to its master (when it is a replica) as `replication`.
# The passwords come from the environment (REDIS_*_PASSWORD, required). The ACL file holds
# only their SHA-256; the replication password, which a replica sends to its master, goes
# into a config file. Both are written to REDIS_RUN_DIR (the container's tmpfs), never to the
# image, a volume or a command line. Arguments are passed on to redis-server.
set -eu
: "${REDIS_COLLECTOR_PASSWORD:?set REDIS_COLLECTOR_PASSWORD (see .env.example)}"
: "${REDIS_WRITER_PASSWORD:?set REDIS_WRITER_PASSWORD (see .env.example)}"
: "${REDIS_API_PASSWORD:?set REDIS_API_PASSWORD (see .env.example)}"
cluster="${REDIS_CLUSTER:-no}"
if [ "$cluster" = yes ]; then
    : "${REDIS_ADMIN_PASSWORD:?set REDIS_ADMIN_PASSWORD (see deploy/compose.cluster.yml)}"
    : "${REDIS_REPLICATION_PASSWORD:?set REDIS_REPLICATION_PASSWORD (see deploy/compose.cluster.yml)}"
    cluster_lines='s/^@CLUSTER@//'
else
    REDIS_ADMIN_PASSWORD="" REDIS_REPLICATION_PASSWORD=""
    cluster_lines='/^@CLUSTER@/d'
fi
prefix="${TICKVAULT_REDIS_PREFIX:-tickvault}"
run="${REDIS_RUN_DIR:-/tmp}"
sha() { printf '%s' "$1" | sha256sum | cut -d ' ' -f 1; }
# A value inside double quotes of redis.conf: backslashes and quotes escaped.
quoted() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/[\\"]/\\&/g')"; }

umask 077
sed -e "$cluster_lines" \
    -e "s/@PREFIX@/$prefix/g" \
    -e "s/@COLLECTOR_PASSWORD_SHA256@/$(sha "$REDIS_COLLECTOR_PASSWORD")/" \
    -e "s/@WRITER_PASSWORD_SHA256@/$(sha "$REDIS_WRITER_PASSWORD")/" \
    -e "s/@API_PASSWORD_SHA256@/$(sha "$REDIS_API_PASSWORD")/" \
    -e "s/@ADMIN_PASSWORD_SHA256@/$(sha "$REDIS_ADMIN_PASSWORD")/" \
    -e "s/@REPLICATION_PASSWORD_SHA256@/$(sha "$REDIS_REPLICATION_PASSWORD")/" \
    "$(dirname "$0")/users.acl" | grep -v '^#' > "$run/users.acl"
{
    printf 'aclfile %s\n' "$(quoted "$run/users.acl")"
    if [ "$cluster" = yes ]; then
        printf 'cluster-enabled yes\n'
        printf 'masteruser replication\n'
        printf 'masterauth %s\n' "$(quoted "$REDIS_REPLICATION_PASSWORD")"
    fi
} > "$run/redis.conf"
exec redis-server "$run/redis.conf" --appendonly yes --appendfsync everysec \
    --dir "${REDIS_DATA_DIR:-/data}" "$@"
