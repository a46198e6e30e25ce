#!/usr/bin/env bash
# What a client reading a big seat map costs the hold path: one release
# server (load/with-server.sh), a fresh hot event, wrk holds for a few
# seconds alone, then again while one client reads GET /events/{id}/seats in
# a loop with half a second between reads.
#
#   load/seat-map-reads.sh [seats] [seconds]      # default 200000 5
#
# Environment: BOXOFFICE_BIN, LOAD_BIN, BUYERS (20000).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${BASE_URL:-} ]]; then
  PORT=${PORT:-18302} exec load/with-server.sh -- "$0" "$@"
fi
# Below: inside with-server.sh, against its server and database.
seats=${1:-200000}
secs=${2:-5}
load_bin=${LOAD_BIN:-target/release/boxoffice-load}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
read -r event first count < <("$load_bin" --base-url "$BASE_URL" hot-event --seats "$seats" \
  --buyers "${BUYERS:-20000}" --tokens-file "$tmp/tokens" --name "Seat map reads")
[[ -n ${count:-} ]] || { echo "hot-event failed" >&2; exit 1; }
holds() {
  wrk -t1 -c64 -d"${secs}s" --timeout 10s -s load/wrk/reserve.lua "$BASE_URL" \
    -- "$tmp/tokens" "$event" "$first" "$count" 0 | grep '^wrk:'
}
echo "# $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg); $seats seats"
echo "holds alone:"
holds
echo "holds while one client reads the seat map every half second:"
(
  end=$((SECONDS + secs + 2))
  while ((SECONDS < end)); do
    curl -s -o /dev/null -w '%{time_total}\n' "$BASE_URL/events/$event/seats" >>"$tmp/reads"
    sleep 0.5
  done
) &
reader=$!
sleep 1
holds
wait "$reader" || true
sort -n "$tmp/reads" | awk '{t[NR] = $1} END {printf "seat map reads: %d, median %.3f s, max %.3f s\n", NR, t[int((NR + 1) / 2)], t[NR]}'
