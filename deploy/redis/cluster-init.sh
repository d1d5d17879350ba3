#!/bin/sh
# Join the Redis nodes named in "$@" (NAME or NAME:PORT, port 6379 by default) into one
# cluster: the first half masters, one replica each. Does nothing when the cluster already
# exists (a restart of the stack).
# redis-cli logs in as REDISCLI_USER (the ACL user `admin` of deploy/redis/users.acl) with the
# password in REDISCLI_AUTH, so neither shows in a process list. CLUSTER MEET takes
# addresses, not names, so each name is resolved first.
set -eu
user=${REDISCLI_USER:+--user $REDISCLI_USER}
host() { echo "${1%:*}"; }
port() { case $1 in *:*) echo "${1##*:}" ;; *) echo 6379 ;; esac; }
# shellcheck disable=SC2086
if redis-cli $user -h "$(host "$1")" -p "$(port "$1")" cluster info | grep -q '^cluster_state:ok'; then
    echo "the Redis Cluster already serves every slot"
    exit 0
fi
nodes=""
for node in "$@"; do
    address=$(getent hosts "$(host "$node")" | awk '{ print $1; exit }')
    [ -n "$address" ] || { echo "cannot resolve $(host "$node")" >&2; exit 1; }
    nodes="$nodes $address:$(port "$node")"
done
# shellcheck disable=SC2086
exec redis-cli $user --cluster create $nodes --cluster-replicas 1 --cluster-yes
