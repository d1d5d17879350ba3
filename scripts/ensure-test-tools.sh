#!/usr/bin/env bash
# Make sure the system tools the test suite drives are installed: a container engine for the
# compose tests (scripts/ensure-container-tools.sh; where none can be had they do not run),
# and Debian's Chromium (the dashboard is tested in a real headless browser). Installs it from Debian's packages when
# missing and we are root (CI); otherwise says exactly how to get it.
set -euo pipefail

REQUIRED=0 bash "$(dirname "$0")/ensure-container-tools.sh"
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test tools: installing chromium from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
  echo "test tools: the dashboard test needs Chromium; install it with: sudo apt-get install chromium" >&2
  exit 1
fi
