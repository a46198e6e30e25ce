#!/usr/bin/env bash
# Unit tests of the browser client's pure modules (tests/web/: the seat model,
# delta ordering, formatting, the waiting room's rules) under Node's built-in
# test runner. No browser, no server. Installs Debian's nodejs when missing.
#
#   scripts/web-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[web-test] %s\n' "$*" >&2; }

if ! command -v node >/dev/null; then
  log "installing nodejs (apt-get)"
  if [[ $(id -u) -eq 0 ]]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; else log "need root (or sudo) to install nodejs"; exit 1; fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs >/dev/null
fi
exec timeout 120 node --test tests/web/*.test.mjs
