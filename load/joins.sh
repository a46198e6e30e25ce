#!/usr/bin/env bash
# Waiting-room joins with wrk (issue #11): one release server on a fresh
# database, BUYERS buyers signed in and their tokens kept, then three wrk
# runs, each on a new queue event, so that every request is a buyer's first
# join as long as the run has fewer requests than there are buyers.
#
#   load/joins.sh [seconds]          # default 4; BUYERS (default 150000)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-4}
buyers=${BUYERS:-150000}
load_bin=${LOAD_BIN:-target/release/boxoffice-load}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/runs.sh" <<EOF
set -euo pipefail
L="$load_bin --base-url \$BASE_URL"
\$L queue-join --joins $buyers --out $tmp/tokens >/dev/null
echo "# \$(date -u +%FT%TZ), load average \$(cut -d' ' -f1-3 /proc/loadavg); $buyers buyers, wrk -t1 -c256 -d${seconds}s"
for run in 1 2 3; do
  \$L queue-join --joins 1 --out $tmp/event >/dev/null
  wrk -t1 -c256 -d${seconds}s -s load/wrk/join.lua \$BASE_URL -- $tmp/tokens "\$(head -n 1 $tmp/event)" | grep '^wrk:'
done
EOF
PORT=${PORT:-18302} load/with-server.sh -- bash "$tmp/runs.sh"
