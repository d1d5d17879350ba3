#!/bin/sh
# The parts of the official nginx entrypoint compose relies on, for the nginx stand-in. When
# the command is nginx: with NGINX_ENTRYPOINT_LOCAL_RESOLVERS set, NGINX_LOCAL_RESOLVERS holds
# the nameservers of /etc/resolv.conf; executable /docker-entrypoint.d files run in order
# (*.sh executed, *.envsh sourced); then every /etc/nginx/templates/*.template is rendered
# with envsubst (only variables that are set) into NGINX_ENVSUBST_OUTPUT_DIR (default
# /etc/nginx/conf.d), as the official 20-envsubst-on-templates.sh does after the 1x scripts.
set -eu
if [ "${1:-}" = nginx ]; then
    if [ -n "${NGINX_ENTRYPOINT_LOCAL_RESOLVERS:-}" ]; then
        NGINX_LOCAL_RESOLVERS=$(awk '$1 == "nameserver" { printf "%s%s", sep, ($2 ~ /:/ ? "[" $2 "]" : $2); sep = " " }' /etc/resolv.conf)
        export NGINX_LOCAL_RESOLVERS
    fi
    for script in /docker-entrypoint.d/*; do
        [ -f "$script" ] || continue
        if [ ! -x "$script" ]; then
            echo "docker-entrypoint.sh: ignoring $script, not executable"
            continue
        fi
        case "$script" in
            *.envsh) echo "docker-entrypoint.sh: sourcing $script"; . "$script" ;;
            *.sh) echo "docker-entrypoint.sh: running $script"; "$script" ;;
        esac
    done
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
fi
exec "$@"
