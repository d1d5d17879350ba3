#!/bin/sh
# Start Redis for docker-compose.yml with one ACL user per service and no default user.
# The passwords come from the environment (REDIS_*_PASSWORD, required); only their SHA-256
# is written, to a file on the container's tmpfs, never to the image or a volume.
set -eu
: "${REDIS_COLLECTOR_PASSWORD:?set REDIS_COLLECTOR_PASSWORD (see .env.example)}"
: "${REDIS_WRITER_PASSWORD:?set REDIS_WRITER_PASSWORD (see .env.example)}"
: "${REDIS_API_PASSWORD:?set REDIS_API_PASSWORD (see .env.example)}"
prefix="${TICKVAULT_REDIS_PREFIX:-tickvault}"
sha() { printf '%s' "$1" | sha256sum | cut -d ' ' -f 1; }
acl="${REDIS_ACL_FILE:-/tmp/users.acl}"
sed -e "s/@PREFIX@/$prefix/g" \
    -e "s/@COLLECTOR_PASSWORD_SHA256@/$(sha "$REDIS_COLLECTOR_PASSWORD")/" \
    -e "s/@WRITER_PASSWORD_SHA256@/$(sha "$REDIS_WRITER_PASSWORD")/" \
    -e "s/@API_PASSWORD_SHA256@/$(sha "$REDIS_API_PASSWORD")/" \
    "$(dirname "$0")/users.acl" | grep -v '^#' > "$acl"
exec redis-server --appendonly yes --appendfsync everysec --dir "${REDIS_DATA_DIR:-/data}" \
    --aclfile "$acl" "$@"
