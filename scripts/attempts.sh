#!/usr/bin/env bash
# Racing reservation attempts (`boxoffice-load reserve`, closed loop, 256 clients) on
# one release node with per-client limits off, each run on a new 50,000-seat
# event of a fresh database, then `boxoffice-load verify` on every event.
#   BUYERS=500 scripts/attempts.sh 60 60    two 60 s runs; BUYERS: distinct buyers (default 500)
# Needs: cargo build --release -p boxoffice -p boxoffice-load --bin boxoffice --bin boxoffice-load
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh env)"
bin=target/release
db=attempts_$(date +%s)
server_url=${BOXOFFICE__DATABASE__URL%/*}
psql "$server_url/postgres" -qc "CREATE DATABASE $db"
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; psql "$server_url/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
export BOXOFFICE__DATABASE__URL=$server_url/$db BOXOFFICE_ENV=development BOXOFFICE__LIMITS__ENABLED=false RUST_LOG=warn
export BOXOFFICE__REDIS__KEY_PREFIX="$db:" BOXOFFICE__SERVER__PORT=18091
export BOXOFFICE__AUTH__SIGNING_SECRET=attempts-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export BOXOFFICE_LOAD_ADMIN_EMAIL=ops@example.com BOXOFFICE_LOAD_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64)
$bin/boxoffice migrate >/dev/null
$bin/boxoffice admin create --email "$BOXOFFICE_LOAD_ADMIN_EMAIL" --password-stdin <<<"$BOXOFFICE_LOAD_ADMIN_PASSWORD" >/dev/null
$bin/boxoffice serve >/dev/null 2>&1 & pid=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18091/readyz >/dev/null && break; sleep 0.1; done
for run in "$@"; do   # each argument: seconds of one run, on a new 50,000-seat event
  $bin/boxoffice-load --base-url http://127.0.0.1:18091 reserve --seconds "$run" --clients 256 --buyers "${BUYERS:-500}" --label "run $run s"
done
n=$(psql "$BOXOFFICE__DATABASE__URL" -qAtc "SELECT count(*) FROM events")
for e in $(seq 1 "$n"); do
  $bin/boxoffice-load verify --base-url http://127.0.0.1:18091 --target http://127.0.0.1:18091 --event "$e"
done
