#!/usr/bin/env bash
# Debian's chromium for the browser tests: Playwright drives it by path, since it cannot download browsers here.
set -euo pipefail

[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing and installing it needs root: sudo apt-get install chromium" \
       "(the browser tests skip until then)" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
fi
echo "installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
