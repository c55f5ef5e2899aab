#!/usr/bin/env bash
# Make sure a headless Chromium is on the machine for the e2e tests. Idempotent.
# Debian's package, never a browser download: Playwright drives it via executable_path.
set -euo pipefail
CHROMIUM=/usr/bin/chromium

if [[ -x $CHROMIUM ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "browser: $CHROMIUM is missing; install Debian's chromium package (apt-get install chromium)" >&2
  exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
[[ -x $CHROMIUM ]] || { echo "browser: chromium did not install to $CHROMIUM" >&2; exit 1; }
