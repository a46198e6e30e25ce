#!/usr/bin/env bash
# Redis Cluster vs one Redis, same server build, same workload (BENCHMARKS.md,
# "Redis Cluster"): a private three-master Redis Cluster on this machine, the
# shared PostgreSQL and Redis of scripts/services.sh, two servers side by side
# (one on the single Redis, one on the cluster), then, one server at a time,
# the hold workload (256 closed-loop clients of 500 buyers on one hot event of
# 50,000 seats; the per-buyer hold cap lifted, or it would bound the holds) and
# a waiting room crowd joining.
#
#   load/bench-redis-cluster.sh [seconds-per-run] [debug|release]
#
# Ports: servers 18381 (single) and 18382 (cluster); cluster masters
# 18311-18313 (override with BENCH_CLUSTER_PORT). BENCH_ORDER="18382 18381" runs
# the cluster first.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
profile=${2:-debug}
target=${CARGO_TARGET_DIR:-target}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# The services of this checkout, unless the caller's environment already
# names them (eval "$(scripts/services.sh env)" of another checkout).
if [[ -z ${BOXOFFICE_TEST_DATABASE_URL:-} ]]; then
  scripts/services.sh start >/dev/null
  eval "$(scripts/services.sh env)"
fi
if [[ $profile == release ]]; then
  cargo build --release -p boxoffice -p boxoffice-load >&2
else
  cargo build -p boxoffice -p boxoffice-load --bins >&2
fi
bin=$target/$profile

# The cluster: three masters, no replicas, private ports and directory.
base=${BENCH_CLUSTER_PORT:-18311}
ports=("$base" "$((base + 1))" "$((base + 2))")
dir=$(mktemp -d /tmp/boxoffice-bench-cluster.XXXXXX)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  for p in "${ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for p in "${ports[@]}"; do
  redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "$dir/nodes-$p.conf" --dir "$dir" --save '' --appendonly no \
    --logfile "$dir/redis-$p.log" --daemonize yes
done
for p in "${ports[@]}"; do
  for _ in $(seq 1 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
timeout 30 redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
for p in "${ports[@]}"; do
  for _ in $(seq 1 200); do redis-cli -p "$p" cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
done
cluster_urls=$(printf 'redis://127.0.0.1:%s,' "${ports[@]}"); cluster_urls=${cluster_urls%,}

db=boxoffice_bench_rcluster
psql_admin() { psql -h 127.0.0.1 -p "${BOXOFFICE_PG_PORT:-54329}" -U boxoffice -d postgres -qAt "$@"; }
psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export BOXOFFICE__DATABASE__URL=${BOXOFFICE_TEST_DATABASE_URL%/*}/$db
export BOXOFFICE__DATABASE__MAX_CONNECTIONS=20
export BOXOFFICE_ENV=development
export BOXOFFICE__LIMITS__ENABLED=false
export RUST_LOG=warn
"$bin/boxoffice" migrate
redis-cli -p "${BOXOFFICE_REDIS_PORT:-63799}" --scan --pattern 'bench-rc-*' | xargs -r redis-cli -p "${BOXOFFICE_REDIS_PORT:-63799}" DEL >/dev/null
export BOXOFFICE_LOAD_ADMIN_EMAIL=bench-rc-ops@example.com
export BOXOFFICE_LOAD_ADMIN_PASSWORD=$(head -c 24 /dev/urandom | base64)
"$bin/boxoffice" admin create --email "$BOXOFFICE_LOAD_ADMIN_EMAIL" --password-stdin <<<"$BOXOFFICE_LOAD_ADMIN_PASSWORD" >/dev/null

start() { # port prefix [cluster urls]
  BOXOFFICE__SERVER__PORT=$1 BOXOFFICE__REDIS__KEY_PREFIX=$2 BOXOFFICE__REDIS__CLUSTER_URLS=${3:-} \
    BOXOFFICE__QUEUE__GRACE_SECONDS=3600 BOXOFFICE__BOOKING__MAX_ACTIVE_SEATS_PER_BUYER=1000000 \
    "$bin/boxoffice" serve >"$dir/server-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$1/readyz" | grep -q '"redis":"up"' && return 0
    sleep 0.1
  done
  echo "server on :$1 did not become ready with redis" >&2; cat "$dir/server-$1.log" >&2; exit 1
}
start 18381 bench-rc-single:
start 18382 bench-rc-cluster: "$cluster_urls"

echo "# $(date -u +%FT%TZ) on $(nproc) cores, $profile builds; server, PostgreSQL, Redis (cluster) and load generator on one machine"
echo "# $(redis-server --version | cut -d' ' -f1-3)"
load() { "$bin/boxoffice-load" --base-url "http://127.0.0.1:$1" "${@:2}"; }
tmp=$(mktemp -d)
for port in ${BENCH_ORDER:-18381 18382}; do
  label=$([[ $port == 18381 ]] && echo "one Redis" || echo "Redis Cluster (3 masters)")
  echo "## $label"
  load "$port" reserve --seconds "$seconds" --seats 50000 --label "$label, holds"
  load "$port" queue-join --joins "${QUEUE_JOINS:-20000}" --out "$tmp/queue-$port"
done
echo "## where the cluster's keys went (keys per master)"
for p in "${ports[@]}"; do echo "  :$p $(redis-cli -p "$p" dbsize)"; done
rm -rf "$tmp"
