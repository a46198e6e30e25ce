#!/usr/bin/env bash
# Where one batch of holds goes (issue #11): one release server
# (load/with-server.sh), one hot event warmed up, wrk for a few seconds, then
# the server's own batch metrics and, when PostgreSQL preloads
# pg_stat_statements, each statement's time, buffers and WAL per batch.
#
#   load/batch-profile.sh [seats] [seconds]      # default 200000 6
#
# Environment: BOXOFFICE_BIN, LOAD_BIN, BATCH_MAX (256), SHARE (0: uniform),
# BUYERS (20000), PERF=1 to `perf record` the server for 4 s into
# target/perf-hold.data.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${BASE_URL:-} ]]; then
  PORT=${PORT:-18300} exec load/with-server.sh -- "$0" "$@"
fi
# Below: inside with-server.sh, against its server and database.
seats=${1:-200000}
secs=${2:-6}
load_bin=${LOAD_BIN:-target/release/boxoffice-load}
db=${BOXOFFICE__DATABASE__URL##*/}
pg=${BOXOFFICE__DATABASE__URL%/*}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
read -r event first count < <("$load_bin" --base-url "$BASE_URL" hot-event --seats "$seats" \
  --buyers "${BUYERS:-20000}" --tokens-file "$tmp/tokens" --name "Batch profile")
[[ -n ${count:-} ]] || { echo "hot-event failed" >&2; exit 1; }
stats=$(psql "$pg/postgres" -tAc "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'" 2>/dev/null || echo 0)
[[ $stats == 1 ]] && psql "$pg/postgres" -qc "SELECT pg_stat_statements_reset()" >/dev/null
curl -fsS "$BASE_URL/metrics" >"$tmp/metrics-before"
perf_pid=""
if [[ -n ${PERF:-} ]]; then
  (sleep 1; perf record -F 999 -g -p "$SERVER_PID" -o target/perf-hold.data -- sleep 4 >/dev/null 2>&1) &
  perf_pid=$!
fi
echo "# $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg); $seats seats, wrk -t1 -c512 -d${secs}s"
wrk -t1 -c512 -d"${secs}s" --timeout 10s -s load/wrk/reserve.lua "$BASE_URL" \
  -- "$tmp/tokens" "$event" "$first" "$count" "${SHARE:-0}" | grep '^wrk:'
[[ -n $perf_pid ]] && wait "$perf_pid"
curl -fsS "$BASE_URL/metrics" >"$tmp/metrics-after"
for metric in boxoffice_batch_size boxoffice_postgres_batch_seconds boxoffice_redis_seconds; do
  awk -v m="$metric" '
    FNR == 1 { file++ }
    $1 == m "_sum" { sum[file] = $2 } $1 == m "_count" { n[file] = $2 }
    END { d = n[2] - n[1]; if (d > 0) printf "%s: %d observations, mean %.4f\n", m, d, (sum[2] - sum[1]) / d }
  ' "$tmp/metrics-before" "$tmp/metrics-after"
done
if [[ $stats == 1 ]]; then
  psql "$pg/postgres" -c "SELECT calls, round((total_exec_time / calls)::numeric, 3) AS ms_per_call,
      round(((shared_blks_hit + shared_blks_read) / calls)::numeric) AS buffers,
      round((wal_records / calls)::numeric) AS wal_records,
      left(regexp_replace(query, '\s+', ' ', 'g'), 50) AS statement
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = '$db' ORDER BY total_exec_time DESC LIMIT 6"
else
  echo "(pg_stat_statements is not preloaded: no per-statement figures)"
fi
