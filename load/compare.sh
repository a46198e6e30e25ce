#!/usr/bin/env bash
# Two server binaries side by side in one run (issue #11): an old build and a
# new one, each on its own database of the same PostgreSQL and its own key
# prefix in the same Redis, measured in alternation so a busy machine slows
# both alike. Also group commit against one commit per hold (batch_max = 1)
# for the new build.
#
#   OLD_BIN=target/release-main/boxoffice NEW_BIN=target/release/boxoffice \
#   LOAD_BIN=target/release/boxoffice-load load/compare.sh [seconds] [rounds]
#
# Environment: PG_URL (a PostgreSQL the script may create databases on,
# default the private one of issue #11's runs), REDIS_PORT, PORT_BASE
# (four ports from it), SCENARIOS (default "uniform mixed"), SEATS, BUYERS
# (default 20,000, each under the default cap of 8 seats: a crowd, as on a
# real on-sale, not a few buyers holding thousands of seats each).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
rounds=${2:-3}
old_bin=${OLD_BIN:?old server binary}
new_bin=${NEW_BIN:?new server binary}
load_bin=${LOAD_BIN:-target/release/boxoffice-load}
pg_url=${PG_URL:-postgres://boxoffice@127.0.0.1:18110}
redis_port=${REDIS_PORT:-18111}
base=${PORT_BASE:-18120}
seats=${SEATS:-100000}
buyers=${BUYERS:-20000}
scenarios=${SCENARIOS:-uniform mixed}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export BOXOFFICE_ENV=development
export BOXOFFICE__LIMITS__ENABLED=false
export BOXOFFICE__DATABASE__MAX_CONNECTIONS=20
export BOXOFFICE__REDIS__URL=redis://127.0.0.1:$redis_port/
export RUST_LOG=warn
export BOXOFFICE_LOAD_ADMIN_EMAIL=bench-ops@example.com
export BOXOFFICE_LOAD_ADMIN_PASSWORD=compare-${RANDOM}${RANDOM}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
prepare() { # name binary
  psql "$pg_url/postgres" -qAt -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
  BOXOFFICE__DATABASE__URL=$pg_url/$1 "$2" migrate >/dev/null
  BOXOFFICE__DATABASE__URL=$pg_url/$1 "$2" admin create --email "$BOXOFFICE_LOAD_ADMIN_EMAIL" \
    --password-stdin <<<"$BOXOFFICE_LOAD_ADMIN_PASSWORD" >/dev/null
  redis-cli -p "$redis_port" --scan --pattern "$1-*" | xargs -r redis-cli -p "$redis_port" DEL >/dev/null
}
start() { # port binary database batch_max
  BOXOFFICE__DATABASE__URL=$pg_url/$3 BOXOFFICE__SERVER__PORT=$1 BOXOFFICE__BOOKING__BATCH_MAX=$4 \
    BOXOFFICE__REDIS__KEY_PREFIX=$3-$4: "$2" serve >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "server on :$1 did not become ready" >&2; exit 1
}
prepare compare_old "$old_bin"
prepare compare_new "$new_bin"
start $((base)) "$old_bin" compare_old 256
start $((base + 1)) "$new_bin" compare_new 256
start $((base + 2)) "$old_bin" compare_old 1
start $((base + 3)) "$new_bin" compare_new 1
echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $seats-seat hot event per run; wrk -t1 -c512 -d${seconds}s"
tmp=$(mktemp -d)
for round in $(seq 1 "$rounds"); do
  for scenario in $scenarios; do
    share=$([[ $scenario == uniform ]] && echo 0 || echo 0.8)
    for server in "old $base" "new $((base + 1))" "old-batch1 $((base + 2))" "new-batch1 $((base + 3))"; do
      read -r label port <<<"$server"
      [[ -n ${SKIP_BATCH1:-} && $label == *batch1 ]] && continue
      read -r event first count < <("$load_bin" --base-url "http://127.0.0.1:$port" hot-event \
        --seats "$seats" --buyers "$buyers" --tokens-file "$tmp/tokens-$port" --name "Compare $label $round")
      [[ -n ${count:-} ]] || { echo "hot-event failed on :$port" >&2; exit 1; }
      printf 'round %s %-8s %-11s ' "$round" "$scenario" "$label"
      wrk -t1 -c512 -d"${seconds}s" --timeout 10s -s load/wrk/reserve.lua "http://127.0.0.1:$port" \
        -- "$tmp/tokens-$port" "$event" "$first" "$count" "$share" | grep '^wrk:'
    done
  done
done
rm -rf "$tmp"
