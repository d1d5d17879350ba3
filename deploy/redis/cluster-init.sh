#!/bin/sh
# Join the Redis nodes named in "$@" into one cluster: the first half masters, one replica
# each. Does nothing when the cluster already exists (a restart of the stack).
# redis-cli reads the password from REDISCLI_AUTH. CLUSTER MEET takes addresses, not names,
# so each name is resolved first.
set -eu
if redis-cli -h "$1" cluster info | grep -q '^cluster_state:ok'; then
    echo "the Redis Cluster already serves every slot"
    exit 0
fi
nodes=""
for name in "$@"; do
    address=$(getent hosts "$name" | awk '{ print $1; exit }')
    [ -n "$address" ] || { echo "cannot resolve $name" >&2; exit 1; }
    nodes="$nodes $address:6379"
done
# shellcheck disable=SC2086
exec redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes
