#!/usr/bin/env bash
# BENCHMARKS.md, "Cluster behind nginx": in one run, the same scenarios against
# one node directly and against three nodes through nginx (scripts/cluster.sh,
# deploy/nginx.conf), on the private PostgreSQL and Redis of
# scripts/services.sh and a fresh database.
#
#   load/cluster-bench.sh [seconds-per-run]      debug builds
#   BOXOFFICE_PROFILE=release load/cluster-bench.sh 10
#
# Ports: CLUSTER_BENCH_PORT (18210) for nginx, the next three for the nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
profile=${BOXOFFICE_PROFILE:-debug}
bin=${CARGO_TARGET_DIR:-target}/$profile

# The services named in the environment, or this checkout's private ones.
if [[ -z ${BOXOFFICE_TEST_DATABASE_URL:-} || -z ${BOXOFFICE__REDIS__URL:-} ]]; then
  scripts/services.sh start
  eval "$(scripts/services.sh env)"
fi
if [[ $profile == release ]]; then
  cargo build --release -p boxoffice -p boxoffice-load >&2
else
  cargo build -p boxoffice -p boxoffice-load >&2
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

db=boxoffice_cluster_bench
pg_port=$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$BOXOFFICE_TEST_DATABASE_URL")
psql -h 127.0.0.1 -p "$pg_port" -U boxoffice -d postgres -qAt \
  -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
export BOXOFFICE__DATABASE__URL=${BOXOFFICE_TEST_DATABASE_URL%/*}/$db
export BOXOFFICE__REDIS__KEY_PREFIX="cluster-bench-$(date +%s):"
export BOXOFFICE_ENV=development BOXOFFICE__LIMITS__ENABLED=false RUST_LOG=warn
# The join scenario watches none of its waiters: lift the presence grace.
export BOXOFFICE__QUEUE__GRACE_SECONDS=3600
export BOXOFFICE_LOAD_ADMIN_EMAIL=cluster-bench@example.com
export BOXOFFICE_LOAD_ADMIN_PASSWORD=$(head -c 24 /dev/urandom | base64)
"$bin/boxoffice" migrate >/dev/null 2>&1
"$bin/boxoffice" admin create --email "$BOXOFFICE_LOAD_ADMIN_EMAIL" --password-stdin \
  <<<"$BOXOFFICE_LOAD_ADMIN_PASSWORD" >/dev/null

base=${CLUSTER_BENCH_PORT:-18210}
export BOXOFFICE_CLUSTER_PORT=$base
export BOXOFFICE_CLUSTER_NODE_PORTS="$((base + 1)),$((base + 2)),$((base + 3))"
export BOXOFFICE_CLUSTER_DIR=$PWD/.data/cluster-bench
export BOXOFFICE_BIN=$bin/boxoffice
tmp=$(mktemp -d)
trap 'scripts/cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
scripts/cluster.sh start

direct=http://127.0.0.1:$((base + 1))
nginx=http://127.0.0.1:$base
load() { "$bin/boxoffice-load" --base-url "$1" "${@:2}"; }
want() { [[ -z ${BENCH_ONLY:-} || ${BENCH_ONLY} == "$1" ]]; }
echo "# $(date -u +%FT%TZ) on $(nproc) cores, $profile builds; one node direct ($direct) vs three nodes through nginx ($nginx)"

if want hot; then
  echo "## hot event: 256 closed-loop clients, 80 % of attempts at the best tenth"
  load "$direct" reserve --seconds "$seconds" --label "one node, direct"
  load "$nginx" reserve --seconds "$seconds" --label "three nodes, nginx"
fi

if want queue; then
  echo "## waiting room joins (256 concurrent)"
  load "$direct" queue-join --joins "${QUEUE_JOINS:-20000}" --out "$tmp/q1"
  load "$nginx" queue-join --joins "${QUEUE_JOINS:-20000}" --out "$tmp/q2"
fi

if want fanout; then
  subscribers=${FANOUT_SUBSCRIBERS:-3000}
  echo "## live seat maps: $subscribers SSE subscribers, holds at 100/s"
  load "$direct" fanout --subscribers "$subscribers" --seconds "$seconds" --rate 100 \
    --server-pid "$(cat "$BOXOFFICE_CLUSTER_DIR/node1.pid")"
  # nginx's memory per proxied stream: its workers' RSS, peak during the run.
  nginx_kib() { ps -o rss= --ppid "$(cat "$BOXOFFICE_CLUSTER_DIR/nginx/nginx.pid")" | awk '{s += $1} END {print s}'; }
  before=$(nginx_kib)
  (peak=0; while :; do n=$(nginx_kib); ((n > peak)) && peak=$n && echo "$peak" >"$tmp/peak"; sleep 0.5; done) &
  sampler=$!
  load "$nginx" fanout --subscribers "$subscribers" --seconds "$seconds" --rate 100
  kill "$sampler"
  peak=$(cat "$tmp/peak" 2>/dev/null || echo "$before")
  echo "nginx workers: RSS $((before / 1024)) -> $((peak / 1024)) MiB with $subscribers streams open: $(((peak - before) * 1024 / subscribers)) bytes per stream"
fi
