#!/bin/sh
# The parts of the official nginx entrypoint compose relies on, for the nginx stand-in:
# with NGINX_ENTRYPOINT_LOCAL_RESOLVERS set, NGINX_LOCAL_RESOLVERS holds the nameservers of
# /etc/resolv.conf; every /etc/nginx/templates/*.template is rendered with envsubst (only
# variables that are set) into NGINX_ENVSUBST_OUTPUT_DIR (default /etc/nginx/conf.d);
# executable /docker-entrypoint.d/*.sh scripts run, *.envsh ones are sourced, in order.
set -eu
if [ "${1:-}" = nginx ]; then
    if [ -n "${NGINX_ENTRYPOINT_LOCAL_RESOLVERS:-}" ]; then
        NGINX_LOCAL_RESOLVERS=$(awk '$1 == "nameserver" { printf "%s%s", sep, ($2 ~ /:/ ? "[" $2 "]" : $2); sep = " " }' /etc/resolv.conf)
        export NGINX_LOCAL_RESOLVERS
    fi
    templates="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
    output="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
    suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
    defined=$(env | sed -n -E 's/^([A-Za-z_][A-Za-z0-9_]*)=.*/${\1}/p' | tr '\n' ' ')
    for template in "$templates"/*"$suffix"; do
        [ -f "$template" ] || continue
        name=$(basename "$template" "$suffix")
        echo "docker-entrypoint.sh: rendering $template to $output/$name"
        envsubst "$defined" < "$template" > "$output/$name"
    done
    for script in /docker-entrypoint.d/*; do
        [ -f "$script" ] || continue
        case "$script" in
            *.envsh) . "$script" ;;
            *.sh) if [ -x "$script" ]; then "$script"; fi ;;
        esac
    done
fi
exec "$@"
