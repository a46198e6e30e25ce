#!/usr/bin/env bash
# How the hold path's cost grows with work (issue #11): holds/s and latency
# as one hot event grows (10k, 100k, 200k seats: the largest venue the API
# takes is 200,000 seats, `MAX_VENUE_SEATS`) and as the number of hot
# events taken at once grows (1, 4, 16), with group commit and, on one
# 100k-seat event, with one commit per hold (batch_max = 1) beside it.
#
#   load/scale.sh [seconds]        # release binaries, PostgreSQL and Redis of
#                                  # scripts/services.sh unless told otherwise
#
# Environment: BOXOFFICE_BIN, LOAD_BIN, PG_URL (a PostgreSQL the script may
# create a database on), REDIS_PORT, PORT_BASE (two ports from it), BUYERS
# (default 20,000: with the default cap of 8 seats per buyer, enough for
# every run), SEAT_SIZES, EVENT_COUNTS (either may be empty), SKIP_BATCH1, SHARE (0 = uniform over the house,
# the default; 0.8 = 80 % of attempts at the best tenth).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
bin=${BOXOFFICE_BIN:-target/release/boxoffice}
load_bin=${LOAD_BIN:-target/release/boxoffice-load}
eval "$(scripts/services.sh env)"
pg_url=${PG_URL:-${BOXOFFICE__DATABASE__URL%/*}}
redis_port=${REDIS_PORT:-63799}
base=${PORT_BASE:-18220}
buyers=${BUYERS:-20000}
share=${SHARE:-0}
sizes=${SEAT_SIZES-10000 100000 200000}
counts=${EVENT_COUNTS-1 4 16}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

db=scale_$$
export BOXOFFICE_ENV=development
export BOXOFFICE__LIMITS__ENABLED=false
export BOXOFFICE__DATABASE__URL=$pg_url/$db
export BOXOFFICE__DATABASE__MAX_CONNECTIONS=20
export BOXOFFICE__REDIS__URL=redis://127.0.0.1:$redis_port/
export RUST_LOG=warn
export BOXOFFICE_LOAD_ADMIN_EMAIL=scale-ops@example.com
export BOXOFFICE_LOAD_ADMIN_PASSWORD=scale-${RANDOM}${RANDOM}${RANDOM}

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${KEEP:-} ]]; then
    echo "# kept: database $db, files in $tmp" >&2
  else
    psql "$pg_url/postgres" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    redis-cli -p "$redis_port" --scan --pattern "$db-*" | xargs -r redis-cli -p "$redis_port" DEL >/dev/null
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
psql "$pg_url/postgres" -qAt -c "CREATE DATABASE $db"
"$bin" migrate >/dev/null
"$bin" admin create --email "$BOXOFFICE_LOAD_ADMIN_EMAIL" --password-stdin \
  <<<"$BOXOFFICE_LOAD_ADMIN_PASSWORD" >/dev/null

start() { # port batch_max
  BOXOFFICE__SERVER__PORT=$1 BOXOFFICE__BOOKING__BATCH_MAX=$2 \
    BOXOFFICE__REDIS__KEY_PREFIX=$db-$2: "$bin" serve >"$tmp/server-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "server on :$1 did not become ready" >&2; exit 1
}
start "$base" 256
start $((base + 1)) 1

# events PORT N SEATS: N fresh hot events, each warmed up by one hold (see
# hot-event), one `EVENT FIRST COUNT` line each
events() {
  : >"$tmp/events"
  for i in $(seq 1 "$2"); do
    "$load_bin" --base-url "http://127.0.0.1:$1" hot-event --seats "$3" --buyers "$buyers" \
      --tokens-file "$tmp/tokens" --name "Scale $3 $i of $2" >>"$tmp/events"
  done
}
# run LABEL PORT: wrk over the events in $tmp/events
run() {
  printf '%-34s ' "$1"
  wrk -t1 -c512 -d"${seconds}s" --timeout 10s -s load/wrk/reserve.lua "http://127.0.0.1:$2" \
    -- "$tmp/tokens" "$tmp/events" "$share" >"$tmp/wrk.out" 2>&1 || true
  grep '^wrk:' "$tmp/wrk.out" || { echo "wrk failed:"; cat "$tmp/wrk.out"; }
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# wrk -t1 -c512 -d${seconds}s, 1-4 adjacent seats per attempt, hot share $share, $buyers buyers"
for size in $sizes; do
  events "$base" 1 "$size"
  run "1 event of $size seats" "$base"
done
for n in $counts; do
  events "$base" "$n" 100000
  run "$n events of 100000 seats" "$base"
done
if [[ -z ${SKIP_BATCH1:-} ]]; then
  events $((base + 1)) 1 100000
  run "1 event of 100000, batch_max 1" $((base + 1))
fi
