#!/usr/bin/env bash
# A local cluster: three boxoffice nodes behind this checkout's own nginx
# (deploy/nginx.conf), on the PostgreSQL and Redis the environment names
# (`make cluster` starts the private ones of scripts/services.sh first).
#
#   scripts/cluster.sh start          nodes (those not running) and nginx; waits for /readyz
#   scripts/cluster.sh stop           nginx and the nodes (SIGTERM: they drain)
#   scripts/cluster.sh restart        rolling restart: one node after another, each
#                                     taken out of nginx (marked down, reload), drained
#                                     (SIGTERM), started again, ready, and put back
#   scripts/cluster.sh kill N         kill -9 node N (1-based)
#   scripts/cluster.sh start-node N   start node N again and wait for /readyz
#   scripts/cluster.sh crash-holder EVENT [DOWN]
#                                     kill -9 the node admitting EVENT's waiting room,
#                                     start it again DOWN seconds later (default 3)
#   scripts/cluster.sh status         which node runs, its pid and /readyz
#
# Settings (environment):
#   BOXOFFICE_CLUSTER_PORT        nginx's port (8080)
#   BOXOFFICE_CLUSTER_NODE_PORTS  the nodes' ports, comma-separated (8081,8082,8083)
#   BOXOFFICE_CLUSTER_DIR         pid files, logs, nginx prefix (.data/cluster)
#   BOXOFFICE_BIN                 the server binary (target/debug/boxoffice)
#   BOXOFFICE_ENV                 the nodes' environment (development)
#   BOXOFFICE__*                  passed to the nodes as they are (database, Redis, ...)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# The nodes read config/ from their working directory.
cd "$root"
port=${BOXOFFICE_CLUSTER_PORT:-8080}
IFS=, read -r -a node_ports <<<"${BOXOFFICE_CLUSTER_NODE_PORTS:-8081,8082,8083}"
dir=${BOXOFFICE_CLUSTER_DIR:-$root/.data/cluster}
bin=${BOXOFFICE_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/boxoffice}
prefix=$dir/nginx

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install_nginx() {
  command -v nginx >/dev/null && return 0
  log "installing nginx (apt-get)"
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install nginx"
    sudo=sudo
  fi
  $sudo apt-get update -qq
  # RUNLEVEL=1: Debian's package must not start the system's own nginx on :80.
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx >/dev/null
}

# Node i (1-based): its port, pid file, log.
node_port() { echo "${node_ports[$(($1 - 1))]}"; }
pid_file() { echo "$dir/node$1.pid"; }
running_pid() {
  local f; f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  local pid; pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null && [[ $(ps -o comm= -p "$pid") == boxoffice* ]] && echo "$pid"
}

ready() { curl -fsS -m 2 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; }

wait_ready() { # port seconds
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    ready "$1" && return 0
    sleep 0.1
  done
  return 1
}

start_node() {
  local i=$1 p; p=$(node_port "$i")
  if running_pid "$i" >/dev/null; then return 0; fi
  [[ -x $bin ]] || die "$bin not found: cargo build --bin boxoffice"
  mkdir -p "$dir"
  # The nodes trust nginx (on this host) for X-Forwarded-For.
  BOXOFFICE_ENV=${BOXOFFICE_ENV:-development} \
  BOXOFFICE__SERVER__HOST=127.0.0.1 \
  BOXOFFICE__SERVER__PORT="$p" \
  BOXOFFICE__LIMITS__TRUSTED_PROXIES=${BOXOFFICE__LIMITS__TRUSTED_PROXIES:-127.0.0.1} \
    setsid "$bin" serve </dev/null >>"$dir/node$i.log" 2>&1 &
  echo $! >"$(pid_file "$i")"
  wait_ready "$p" 60 || die "node $i (:$p) not ready within 60 s; see $dir/node$i.log"
  log "node $i ready on :$p (pid $(cat "$(pid_file "$i")"))"
}

# SIGTERM: the node drains (see src/drain.rs) and exits; SIGKILL after 30 s.
stop_node() {
  local i=$1 pid
  pid=$(running_pid "$i") || { rm -f "$(pid_file "$i")"; return 0; }
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    log "node $i did not exit within 30 s of SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$i")"
}

kill_node() {
  local i=$1 pid
  pid=$(running_pid "$i") || die "node $i is not running"
  echo $(($(date +%s%N) / 1000000)) >"$dir/killed_at"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
  rm -f "$(pid_file "$i")"
  log "node $i (pid $pid) killed (-9)"
}

nginx_pid() {
  [[ -f $prefix/nginx.pid ]] && kill -0 "$(cat "$prefix/nginx.pid")" 2>/dev/null && cat "$prefix/nginx.pid"
}

# deploy/nginx.conf with this cluster's ports; node $1 (1-based), if given,
# marked down: nginx sends it nothing new.
render_nginx() {
  mkdir -p "$prefix/logs" "$prefix/temp"
  local upstreams="" i down=${1:-0}
  for i in "${!node_ports[@]}"; do
    upstreams+="        server 127.0.0.1:${node_ports[$i]} max_fails=3 fail_timeout=5s"
    (( i + 1 == down )) && upstreams+=" down"
    upstreams+=";\n"
  done
  awk -v port="$port" -v ups="$upstreams" '
    /^ *server 127\.0\.0\.1:[0-9]+ / { if (!done) { printf "%s", ups; done = 1 } next }
    /^ *listen 8080/ { sub(/8080/, port) }
    { print }
  ' "$root/deploy/nginx.conf" >"$prefix/nginx.conf"
  nginx -t -q -p "$prefix/" -c nginx.conf
}

start_nginx() {
  install_nginx
  render_nginx
  if nginx_pid >/dev/null; then
    nginx -p "$prefix/" -c nginx.conf -s reload
  else
    nginx -p "$prefix/" -c nginx.conf
  fi
  wait_ready "$port" 20 || die "nginx on :$port does not reach a ready node; see $prefix/logs/error.log"
  log "nginx on :$port in front of ${#node_ports[@]} nodes"
}

# Takes node $1 out of nginx's upstreams (or, with no argument, puts every
# node back): a reload, so nginx's new workers send it no request while its
# old ones finish theirs.
set_down() {
  nginx_pid >/dev/null || return 0
  render_nginx "${1:-0}"
  nginx -p "$prefix/" -c nginx.conf -s reload
}

stop_nginx() {
  local pid; pid=$(nginx_pid) || return 0
  nginx -p "$prefix/" -c nginx.conf -s quit 2>/dev/null || kill -QUIT "$pid"
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
}

# The node whose /healthz node_id holds EVENT's admission lease (in Redis).
holder_node() {
  local event=$1 key holder i p id
  key="${BOXOFFICE__REDIS__KEY_PREFIX:-bo:}{e:$event}:q:driver"
  holder=$(redis-cli -u "${BOXOFFICE__REDIS__URL:-redis://127.0.0.1:63799/}" GET "$key")
  [[ -n $holder ]] || return 1
  for i in $(seq 1 "${#node_ports[@]}"); do
    p=$(node_port "$i")
    id=$(curl -fsS -m 2 "http://127.0.0.1:$p/healthz" 2>/dev/null | sed -n 's/.*"node_id":"\([^"]*\)".*/\1/p')
    [[ $id == "$holder" ]] && { echo "$i"; return 0; }
  done
  return 1
}

count=${#node_ports[@]}
case ${1:-} in
  start)
    for i in $(seq 1 "$count"); do start_node "$i"; done
    start_nginx
    ;;
  stop)
    stop_nginx
    # All at once: each lingers server.linger_seconds before it drains.
    for i in $(seq 1 "$count"); do stop_node "$i" & done
    wait
    log "stopped"
    ;;
  restart)
    for i in $(seq 1 "$count"); do
      # Out of nginx first: the node's own linger (src/drain.rs) then only
      # sees the requests already on their way, never a connection nginx
      # opens as the listener closes (a POST nginx could not retry).
      set_down "$i"
      t0=$(date +%s%N)
      stop_node "$i"
      t1=$(date +%s%N)
      start_node "$i"
      set_down
      log "node $i: drained in $(((t1 - t0) / 1000000)) ms, back in $(((($(date +%s%N)) - t1) / 1000000)) ms"
    done
    ;;
  kill) kill_node "${2:?node number}" ;;
  start-node) start_node "${2:?node number}" ;;
  crash-holder)
    event=${2:?event id}
    n=$(holder_node "$event") || die "no node holds event $event's admission lease"
    kill_node "$n"
    sleep "${3:-3}" # down on purpose: the others carry on and take the lease
    start_node "$n"
    ;;
  status)
    for i in $(seq 1 "$count"); do
      p=$(node_port "$i")
      if pid=$(running_pid "$i"); then
        printf 'node %s :%s pid %s %s\n' "$i" "$p" "$pid" "$(ready "$p" && echo ready || echo 'not ready')"
      else
        printf 'node %s :%s down\n' "$i" "$p"
      fi
    done
    if pid=$(nginx_pid); then echo "nginx :$port pid $pid"; else echo "nginx :$port down"; fi
    ;;
  *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
