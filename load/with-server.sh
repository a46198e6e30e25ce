#!/usr/bin/env bash
# One release server on a fresh database of the PostgreSQL of
# scripts/services.sh, then a `boxoffice-load` command against it (issue #11).
# SPID in the arguments becomes the server's pid (for --server-pid). After
# `--`, any command instead, with BASE_URL and SERVER_PID set.
#
#   load/with-server.sh reserve --rate 5000 --seconds 10 --seats 200000 --buyers 20000
#   load/with-server.sh fanout --subscribers 10000 --seconds 10 --rate 250 --server-pid SPID
#
# Environment: BOXOFFICE_BIN, LOAD_BIN, BATCH_MAX (default 256), PORT (18301).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh env)"
bin=${BOXOFFICE_BIN:-target/release/boxoffice}
load_bin=${LOAD_BIN:-target/release/boxoffice-load}
port=${PORT:-18301}
db=with_server_$$
pg=${BOXOFFICE__DATABASE__URL%/*}
redis_port=${BOXOFFICE__REDIS__URL##*:}
redis_port=${redis_port%%/*}
export BOXOFFICE_ENV=development BOXOFFICE__LIMITS__ENABLED=false RUST_LOG=warn
export BOXOFFICE__DATABASE__URL=$pg/$db BOXOFFICE__DATABASE__MAX_CONNECTIONS=20
export BOXOFFICE__REDIS__KEY_PREFIX=$db: BOXOFFICE__BOOKING__BATCH_MAX=${BATCH_MAX:-256}
export BOXOFFICE_LOAD_ADMIN_EMAIL=bench-ops@example.com
export BOXOFFICE_LOAD_ADMIN_PASSWORD=bench-${RANDOM}${RANDOM}${RANDOM}
psql "$pg/postgres" -qc "CREATE DATABASE $db"
spid=""
cleanup() {
  [[ -n $spid ]] && { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  # Its seat locks too: left to their ten-minute expiry, a few runs piled up
  # hundreds of thousands of keys, and Redis's append-only file rewrites of
  # them landed in later runs.
  redis-cli -p "$redis_port" --scan --pattern "$db:*" | xargs -r -n 1000 redis-cli -p "$redis_port" DEL >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$bin" migrate >/dev/null
"$bin" admin create --email "$BOXOFFICE_LOAD_ADMIN_EMAIL" --password-stdin \
  <<<"$BOXOFFICE_LOAD_ADMIN_PASSWORD" >/dev/null
BOXOFFICE__SERVER__PORT=$port "$bin" serve >"${SERVER_LOG:-/dev/null}" 2>&1 &
spid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
export BASE_URL=http://127.0.0.1:$port SERVER_PID=$spid
if [[ ${1:-} == -- ]]; then
  "${@:2}"
else
  "$load_bin" --base-url "$BASE_URL" "${@//SPID/$spid}"
fi
