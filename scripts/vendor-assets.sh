#!/usr/bin/env bash
# Re-fetch the API's vendored browser assets from the npm registry (no CDN at run time).
# Usage: scripts/vendor-assets.sh  — then review the diff and update static/VENDORED.md.
set -euo pipefail

LIGHTWEIGHT_CHARTS_VERSION="${LIGHTWEIGHT_CHARTS_VERSION:-5.2.1}"
SWAGGER_UI_VERSION="${SWAGGER_UI_VERSION:-5.35.0}"

root="$(cd "$(dirname "$0")/.." && pwd)"
static="$root/services/api/tickvault_api/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "lightweight-charts@$LIGHTWEIGHT_CHARTS_VERSION" "swagger-ui-dist@$SWAGGER_UI_VERSION" >/dev/null
mkdir lwc swagger
tar -xzf "lightweight-charts-$LIGHTWEIGHT_CHARTS_VERSION.tgz" -C lwc
tar -xzf "swagger-ui-dist-$SWAGGER_UI_VERSION.tgz" -C swagger

mkdir -p "$static"
cp lwc/package/dist/lightweight-charts.standalone.production.js "$static/"
cp lwc/package/LICENSE "$static/lightweight-charts.LICENSE"
cp swagger/package/swagger-ui-bundle.js swagger/package/swagger-ui.css "$static/"
cp swagger/package/LICENSE "$static/swagger-ui.LICENSE"
echo "vendored lightweight-charts $LIGHTWEIGHT_CHARTS_VERSION and swagger-ui-dist $SWAGGER_UI_VERSION into $static"
