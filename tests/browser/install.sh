#!/bin/sh
# Installs what the browser tests need: Debian's chromium (when missing) and
# the node modules pinned by package-lock.json (npm ci; only the npm registry
# is contacted). Called by the README test command (test.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq chromium
  fi
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
