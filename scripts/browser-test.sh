#!/usr/bin/env bash
# Real-browser end-to-end tests of the live seat map, the waiting room and the
# operator panel (tests/browser/): Debian's chromium driven by playwright-core
# under Node's built-in test runner, against two boxoffice nodes that share one
# fresh PostgreSQL database and one Redis.
#
#   scripts/browser-test.sh
#
# Installs chromium and nodejs (apt-get) and the test's npm packages when
# missing, uses the PostgreSQL/Redis named in the environment when they answer
# (else starts the private ones of scripts/services.sh), builds the debug
# server, creates an operator account (random password per run), and always
# stops both nodes on exit. Each run has its own database, Redis key prefix
# and free ports, so runs never collide. Screenshot and server logs land in
# target/browser/.
#
# BOXOFFICE_BIN=target/debug/boxoffice skips the build and uses that binary:
# `make test` passes the one `cargo test --workspace` has just built, so the
# server is compiled once (a plain `cargo build` unifies features differently
# and would compile much of the tree again).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[browser-test] %s\n' "$*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else log "need root (or sudo) to run: $*"; exit 1
  fi
}

# --- tools ---------------------------------------------------------------------
if [[ ! -x /usr/bin/chromium ]]; then
  log "installing chromium (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs and npm (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || { log "node 20 or newer is required (found $(node --version))"; exit 1; }
if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  log "installing test dependencies (npm ci)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- services, build, database ---------------------------------------------------
# The services named in the environment (the shared ones of a CI or a team
# machine), or else this checkout's private ones.
if ! { [[ -n ${BOXOFFICE_TEST_DATABASE_URL:-} && -n ${BOXOFFICE__REDIS__URL:-} ]] &&
  psql "$BOXOFFICE_TEST_DATABASE_URL" -qAtc 'SELECT 1' >/dev/null 2>&1 &&
  redis-cli -u "$BOXOFFICE__REDIS__URL" ping >/dev/null 2>&1; }; then
  scripts/services.sh start
  eval "$(scripts/services.sh env)"
fi
if [[ -n ${BOXOFFICE_BIN:-} ]]; then
  bin=$(cd "$(dirname "$BOXOFFICE_BIN")" && pwd)/$(basename "$BOXOFFICE_BIN")
  [[ -x $bin ]] || { log "BOXOFFICE_BIN=$BOXOFFICE_BIN is not an executable"; exit 1; }
  log "using the server at $bin (not building)"
else
  log "building the server (debug)"
  cargo build --bin boxoffice
  bin=$root/target/debug/boxoffice
fi

out=$root/target/browser
mkdir -p "$out"

# Whatever happens next, stop the nodes and drop this run's data on exit.
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # This run's database and Redis keys are of no use to anyone now.
  [[ -n ${db:-} ]] && psql "$BOXOFFICE_TEST_DATABASE_URL" -qAt -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [[ -n ${prefix:-} ]] && redis-cli -u "$BOXOFFICE__REDIS__URL" --scan --pattern "${prefix}*" 2>/dev/null |
    xargs -r redis-cli -u "$BOXOFFICE__REDIS__URL" DEL >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A database of this run's own, dropped on exit.
db=boxoffice_browser_$$_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
log "creating database $db"
psql "$BOXOFFICE_TEST_DATABASE_URL" -qAt -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
  -c "CREATE DATABASE $db"
export BOXOFFICE__DATABASE__URL=${BOXOFFICE_TEST_DATABASE_URL%/*}/$db
prefix="browser-$$:"
export BOXOFFICE__REDIS__KEY_PREFIX=$prefix
# The demo's published development secret is refused in any other environment.
export BOXOFFICE_ENV=development
export RUST_LOG=${RUST_LOG:-info}
"$bin" migrate >"$out/migrate.log" 2>&1 || { cat "$out/migrate.log" >&2; exit 1; }
"$bin" demo >"$out/demo.log" 2>&1 || { cat "$out/demo.log" >&2; exit 1; }

# An operator account for the waiting-room test, with a fresh random password.
admin_email=ops@example.com
admin_password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$admin_password" |
  "$bin" admin create --email "$admin_email" --password-stdin >"$out/admin.log" 2>&1 ||
  { cat "$out/admin.log" >&2; exit 1; }
# A door-staff account for the check-in test, likewise.
door_email=door@example.com
door_password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$door_password" |
  "$bin" admin create --role door --email "$door_email" --password-stdin >"$out/door.log" 2>&1 ||
  { cat "$out/door.log" >&2; exit 1; }

# --- two nodes --------------------------------------------------------------------

start_node() { # name port
  # No proxy in front: no lingering on the way out (server.linger_seconds).
  BOXOFFICE__SERVER__HOST=127.0.0.1 BOXOFFICE__SERVER__PORT=$2 BOXOFFICE__SERVER__LINGER_SECONDS=0 \
    "$bin" serve >"$out/node-$1.log" 2>&1 &
  pids+=($!)
}
wait_ready() { # name port
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$2/readyz"; do
    if ((SECONDS >= deadline)); then
      log "node $1 (:$2) not ready within 60 s; its log:"; tail -n 40 "$out/node-$1.log" >&2; exit 1
    fi
    sleep 0.2
  done
}
# Two ports free right now (the kernel picks them), so parallel runs never meet.
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}
port_a=$(free_port)
port_b=$(free_port)
while [[ $port_b == "$port_a" ]]; do port_b=$(free_port); done
start_node a "$port_a"
start_node b "$port_b"
wait_ready a "$port_a"
wait_ready b "$port_b"
log "nodes ready on :$port_a and :$port_b"

export BOXOFFICE_A=http://127.0.0.1:$port_a
export BOXOFFICE_B=http://127.0.0.1:$port_b
export BOXOFFICE_EVENT_ID=${BOXOFFICE_EVENT_ID:-1}
# The waiting-room test switches the queue on for its own event (the club's
# jazz night), never the seat-map test's.
export BOXOFFICE_QUEUE_EVENT_ID=${BOXOFFICE_QUEUE_EVENT_ID:-4}
export BOXOFFICE_ADMIN_EMAIL=$admin_email BOXOFFICE_ADMIN_PASSWORD=$admin_password
export BOXOFFICE_DOOR_EMAIL=$door_email BOXOFFICE_DOOR_PASSWORD=$door_password
# The box-office test (my bookings, refunds, the door) sells seats of its own
# event (the club's comedy night), never the other tests'.
export BOXOFFICE_BOXOFFICE_EVENT_ID=${BOXOFFICE_BOXOFFICE_EVENT_ID:-5}
export BOXOFFICE_SCREENSHOT=$out/seatmap.png

# --- the test ---------------------------------------------------------------------
set +e
# BOXOFFICE_BROWSER_TESTS narrows the run to some files (default: all of them).
# shellcheck disable=SC2086
timeout 300 node --test ${BOXOFFICE_BROWSER_TESTS:-tests/browser/*.test.mjs}
status=$?
set -e
if ((status != 0)); then
  log "browser test failed (exit $status); server logs in target/browser/node-{a,b}.log"
  for name in a b; do
    log "--- last lines of node $name ---"
    tail -n 20 "$out/node-$name.log" >&2
  done
else
  log "screenshot: target/browser/seatmap.png"
fi
exit "$status"
