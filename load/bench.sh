#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: release builds of the server and the load
# generator, the private PostgreSQL and Redis of scripts/services.sh, two
# servers side by side (group commit on, and batch_max = 1), then the
# scenarios. Everything runs on this machine, on loopback.
#
#   load/bench.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
target=${CARGO_TARGET_DIR:-target}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
scripts/services.sh start
eval "$(scripts/services.sh env)"
cargo build --release -p boxoffice -p boxoffice-load >&2
bin=$target/release

db=boxoffice_bench
psql_admin() { psql -h 127.0.0.1 -p "${BOXOFFICE_PG_PORT:-54329}" -U boxoffice -d postgres -qAt "$@"; }
psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export BOXOFFICE__DATABASE__URL=${BOXOFFICE_TEST_DATABASE_URL%/*}/$db
export BOXOFFICE__DATABASE__MAX_CONNECTIONS=20
# A development server (the published signing secret), with every per-client
# limit off: all the load comes from this machine's one address.
export BOXOFFICE_ENV=development
export BOXOFFICE__LIMITS__ENABLED=false
# No proxy in front: the servers stop without lingering (server.linger_seconds).
export BOXOFFICE__SERVER__LINGER_SECONDS=0
export RUST_LOG=warn
"$bin/boxoffice" migrate
# The database is new: so must be the bench's Redis keys.
redis-cli -p "${BOXOFFICE_REDIS_PORT:-63799}" --scan --pattern 'bench-*' | xargs -r redis-cli -p "${BOXOFFICE_REDIS_PORT:-63799}" DEL >/dev/null
export BOXOFFICE_LOAD_ADMIN_EMAIL=bench-ops@example.com
export BOXOFFICE_LOAD_ADMIN_PASSWORD=$(head -c 24 /dev/urandom | base64)
"$bin/boxoffice" admin create --email "$BOXOFFICE_LOAD_ADMIN_EMAIL" --password-stdin <<<"$BOXOFFICE_LOAD_ADMIN_PASSWORD" >/dev/null

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
start() { # port batch_max prefix
  # The queue scenario joins 100,000 buyers from one address (limits are off,
  # above) and watches only some of them: lift the presence grace.
  BOXOFFICE__SERVER__PORT=$1 BOXOFFICE__BOOKING__BATCH_MAX=$2 BOXOFFICE__REDIS__KEY_PREFIX=$3 \
    BOXOFFICE__QUEUE__GRACE_SECONDS=3600 \
    "$bin/boxoffice" serve >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "server on :$1 did not become ready" >&2; exit 1
}
start 18081 256 bench-group:
start 18082 1 bench-single:

echo "# $(date -u +%FT%TZ) on $(nproc) cores; server, PostgreSQL, Redis and load generator on one machine"
echo "# synchronous_commit = $(psql_admin -c 'SHOW synchronous_commit')"
load() { "$bin/boxoffice-load" --base-url "http://127.0.0.1:$1" "${@:2}"; }
# BENCH_ONLY=fanout (or catalog, hot, capacity, latency, queue) runs one part.
want() { [[ -z ${BENCH_ONLY:-} || ${BENCH_ONLY} == "$1" ]]; }
tmp=$(mktemp -d)

want catalog && echo "## catalog" && load 18081 catalog --seats 50000 --snapshots 30

want hot && echo "## hot event, mixed contention (80% of attempts at the best tenth), wrk with 256 connections"
want hot && for port in 18082 18081; do
  label=$([[ $port == 18082 ]] && echo "batch_max=1" || echo "batch_max=256")
  read -r event first count < <(load "$port" hot-event --tokens-file "$tmp/tokens" --name "Hot $label")
  printf '%-14s ' "$label"
  wrk -t1 -c256 -d"${seconds}s" -s load/wrk/reserve.lua "http://127.0.0.1:$port" -- "$tmp/tokens" "$event" "$first" "$count" 0.8 | grep '^wrk:'
done

want capacity && echo "## commit capacity: uniform low contention, 256 closed-loop clients"
want capacity && load 18082 reserve --seconds "$seconds" --seats 100000 --hot-share 0 --label "batch_max=1, uniform"
want capacity && load 18081 reserve --seconds "$seconds" --seats 100000 --hot-share 0 --label "batch_max=256, uniform"

want latency && echo "## latency at a steady 1,000 attempts/s (open loop), mixed contention"
want latency && load 18081 reserve --seconds "$seconds" --rate 1000 --label "batch_max=256, open loop 1000/s"

want fanout && echo "## live seat maps: SSE fan-out (on the batch_max=1 node: one commit, one delta, per hold)"
want fanout && load 18082 fanout --subscribers "${FANOUT_SUBSCRIBERS:-10000}" --seconds "$seconds" --rate 250 --server-pid "${pids[1]}"
if want queue; then
  echo "## waiting room"
  redis_mem() { redis-cli -p "${BOXOFFICE_REDIS_PORT:-63799}" INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
  joins=${QUEUE_JOINS:-100000}
  before=$(redis_mem)
  load 18081 queue-join --joins "$joins" --out "$tmp/queue"
  after=$(redis_mem)
  echo "queue: Redis used_memory grew by $(( (after - before) / 1024 / 1024 )) MiB for $joins waiters ($(( (after - before) / joins )) bytes per waiter)"
  load 18081 queue-watch --from "$tmp/queue" --watchers "${QUEUE_WATCHERS:-10000}" --rate 200 --seconds "${QUEUE_SECONDS:-60}"
fi
rm -rf "$tmp"
