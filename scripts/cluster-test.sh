#!/usr/bin/env bash
# The cluster drills (issue #10): three nodes behind nginx (scripts/cluster.sh,
# deploy/nginx.conf) on their own database and Redis key prefix, and a
# rehearsed on-sale through nginx (reservations, waiting room, live seat maps,
# payments) while
#
#   1. rolling  every node is restarted, one after another (SIGTERM: drain)
#   2. crash    the node admitting the waiting room is killed (-9) mid-sale
#               and started again 3 s later
#
# Each run passes when the invariant checker (boxoffice-load verify) finds
# nothing: no acknowledged hold or sale lost, no seat sold twice, every node's
# map equal to the database, admissions at the set rate. The rolling run also
# fails on any 5xx a client saw other than the rehearsal's own lost payment
# answers (504 payment_timeout from its tok_timeout card, answered the same
# without a restart); requests without an answer (connection resets) are
# counted: the fans retry them, as browsers do. Each run has a deadline.
#
#   scripts/cluster-test.sh [rolling|crash]...   (default: both)
#
# Ports: BOXOFFICE_CLUSTER_TEST_PORT (18200) for nginx, the next three for the nodes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
export BOXOFFICE_BIN=${BOXOFFICE_BIN:-$target/debug/boxoffice}
load_bin=${BOXOFFICE_LOAD_BIN:-$(dirname "$BOXOFFICE_BIN")/boxoffice-load}
runs=("$@")
((${#runs[@]})) || runs=(rolling crash)

log() { printf '[cluster-test] %s\n' "$*" >&2; }

[[ -x $BOXOFFICE_BIN && -x $load_bin ]] || cargo build --bin boxoffice -p boxoffice-load >&2

base=${BOXOFFICE_CLUSTER_TEST_PORT:-18200}
export BOXOFFICE_CLUSTER_PORT=$base
export BOXOFFICE_CLUSTER_NODE_PORTS="$((base + 1)),$((base + 2)),$((base + 3))"
export BOXOFFICE_CLUSTER_DIR=$root/.data/cluster-test
nodes="http://127.0.0.1:$((base + 1)),http://127.0.0.1:$((base + 2)),http://127.0.0.1:$((base + 3))"

: "${BOXOFFICE_TEST_DATABASE_URL:?run eval \"\$(scripts/services.sh env)\" first}"
: "${BOXOFFICE__REDIS__URL:?run eval \"\$(scripts/services.sh env)\" first}"
db=boxoffice_cluster_test
pg_port=$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$BOXOFFICE_TEST_DATABASE_URL")
psql -h 127.0.0.1 -p "$pg_port" -U boxoffice -d postgres -qAt \
  -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
export BOXOFFICE__DATABASE__URL=${BOXOFFICE_TEST_DATABASE_URL%/*}/$db
export BOXOFFICE__REDIS__KEY_PREFIX="cluster-test-$(date +%s%N):"
export BOXOFFICE_ENV=development
# All the load comes from this machine: per-client limits off (nginx still
# passes X-Forwarded-For, which the nodes trust from 127.0.0.1).
export BOXOFFICE__LIMITS__ENABLED=false
export BOXOFFICE__BOOKING__HOLD_SECONDS=30
export BOXOFFICE__DATABASE__MAX_CONNECTIONS=10
# A payment attempt left unfinished when the rehearsal stops (a fan sent home
# before retrying a lost answer) is resolved by recovery before the checker
# reads it, rather than 30 s later.
export BOXOFFICE__PAYMENTS__LEASE_SECONDS=11 BOXOFFICE__PAYMENTS__RECOVERY_AFTER_SECONDS=5
export BOXOFFICE__PAYMENTS__RECOVERY_INTERVAL_MS=1000
export RUST_LOG=${RUST_LOG:-info,sqlx=warn}
export BOXOFFICE_LOAD_ADMIN_EMAIL=cluster-test@example.com
export BOXOFFICE_LOAD_ADMIN_PASSWORD=cluster-test-$RANDOM$RANDOM
"$BOXOFFICE_BIN" migrate >/dev/null 2>&1
"$BOXOFFICE_BIN" admin create --email "$BOXOFFICE_LOAD_ADMIN_EMAIL" --password-stdin \
  <<<"$BOXOFFICE_LOAD_ADMIN_PASSWORD" >/dev/null

rm -rf "$BOXOFFICE_CLUSTER_DIR"
cleanup() {
  [[ -n ${watcher:-} ]] && kill "$watcher" 2>/dev/null || true
  scripts/cluster.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
scripts/cluster.sh start

# Who holds an event's admission lease, every 50 ms: "ms holder" on each change.
watch_lease() { # event file
  local key="${BOXOFFICE__REDIS__KEY_PREFIX}{e:$1}:q:driver" last="?" now holder
  while :; do
    holder=$(redis-cli -u "$BOXOFFICE__REDIS__URL" GET "$key" 2>/dev/null || echo "?")
    if [[ $holder != "$last" ]]; then
      now=$(($(date +%s%N) / 1000000))
      echo "$now ${holder:--}" >>"$2"
      last=$holder
    fi
    sleep 0.05
  done
}

# Hand-overs of the lease after the first holder: how long nobody admitted.
# A drained node deletes its lease ("-" until the next holder); a killed
# node's id stays until the lease lapses, so there the time counts from the
# kill (scripts/cluster.sh writes killed_at, unix ms).
lease_report() { # file [killed_at]
  awk -v killed="${2:-0}" '
    $2 == "-" { if (holder != "") vacant = $1; next }
    $2 != holder {
      if (holder != "") {
        from = vacant ? vacant : $1
        if (killed > since && killed < $1) from = killed
        gap = $1 - from; if (gap > worst) worst = gap; changes++
      }
      holder = $2; since = $1; vacant = 0
    }
    END { printf "%d hand-over(s), longest without a holder %d ms (polled every 50 ms)\n", changes, worst }
  ' "$1"
}

failed=0
for run in "${runs[@]}"; do
  out=$BOXOFFICE_CLUSTER_DIR/$run
  mkdir -p "$out"
  case $run in
    rolling) chaos="exec@4s:scripts/cluster.sh restart" ;;
    crash) chaos="exec@4s:scripts/cluster.sh crash-holder {event} 3" ;;
    *) log "unknown run $run (rolling or crash)"; exit 2 ;;
  esac
  log "$run: on-sale through nginx :$base with $chaos"
  # The event is made by the rehearsal: watch the lease once it is known.
  (
    for _ in $(seq 1 200); do
      event=$(grep -o 'event [0-9]*' "$out/rehearse.log" 2>/dev/null | head -n 1 | cut -d' ' -f2 || true)
      [[ -n $event ]] && break
      sleep 0.05
    done
    [[ -n ${event:-} ]] && watch_lease "$event" "$out/lease.log"
  ) &
  watcher=$!
  status=0
  timeout --kill-after=10 150 "$load_bin" --base-url "http://127.0.0.1:$base" rehearse \
    --target "http://127.0.0.1:$base" --node-urls "$nodes" \
    --fans "${CLUSTER_TEST_FANS:-500}" --seats 2000 --admission-rate 20 --lead-seconds 3 \
    --concurrency 64 --queue-streams 250 --map-streams 150 --hold-seconds 30 \
    --max-seconds 60 --chaos "$chaos" --out "$out" \
    --redis-prefix "$BOXOFFICE__REDIS__KEY_PREFIX" >"$out/rehearse.log" 2>&1 || status=$?
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  watcher=""
  grep -E '^(rehearsal|fans|streams|endpoint|POST|GET|DELETE|queue|seat-map|  (ok|FAIL)|       note|invariants|PASSED|FAILED)' "$out/rehearse.log" | grep -v '^verify' >&2 || true
  grep -E 'chaos|exec' "$out/rehearse.log" >&2 || true
  killed=$(cat "$BOXOFFICE_CLUSTER_DIR/killed_at" 2>/dev/null || echo 0)
  rm -f "$BOXOFFICE_CLUSTER_DIR/killed_at"
  lease="no lease seen"
  [[ -f $out/lease.log ]] && lease=$(lease_report "$out/lease.log" "$killed")
  log "$run: admission lease: $lease"
  # A drill whose fault did not happen proves nothing (the rehearsal itself
  # fails when its exec step does).
  if [[ $run == crash && ! $lease =~ ^[1-9] ]]; then
    log "$run: FAILED: the admission lease never passed to another node after the kill"
    status=1
  fi
  # Client-visible failures, from the rehearsal's report.
  if [[ -f $out/report.json ]]; then
    # Every 5xx by endpoint and status, less the card that times out on purpose.
    read -r server_errors no_answer detail < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
bad, seen = 0, []
for e in r["endpoints"]:
    for status, n in e["server_errors_by_status"].items():
        seen.append("%s %s: %d" % (e["label"], status, n))
        if not (e["endpoint"] == "confirm" and status == "504"):
            bad += n
print(bad, sum(e["no_answer"] for e in r["endpoints"]), "; ".join(seen) or "none")
' "$out/report.json")
    log "$run: 5xx seen by clients: $detail"
    log "$run: clients saw $server_errors 5xx not caused by the test card, $no_answer requests without an answer (retried)"
    if [[ $run == rolling && $server_errors -ne 0 ]]; then
      log "$run: FAILED: a rolling restart must show clients no 5xx"
      status=1
    fi
    gaps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"]["map_gaps"])' "$out/report.json")
    if [[ $gaps -ne 0 ]]; then
      log "$run: FAILED: $gaps live seat-map deltas skipped versions"
      status=1
    fi
  fi
  if ((status)); then
    log "$run: FAILED (exit $status); see $out/rehearse.log and $BOXOFFICE_CLUSTER_DIR/node*.log"
    failed=1
  else
    log "$run: passed"
  fi
done
exit $failed
