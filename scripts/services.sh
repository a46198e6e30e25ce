#!/usr/bin/env bash
# Private PostgreSQL and Redis for this checkout, under .data/, on non-default
# loopback ports. Never touches the system's own services.
#
#   scripts/services.sh install   install the server packages when missing (apt-get)
#   scripts/services.sh start     install if needed, init on first use, start both
#   scripts/services.sh stop      stop both
#   scripts/services.sh env       print the URLs as shell exports
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/.data"
pg_port=${BOXOFFICE_PG_PORT:-54329}
redis_port=${BOXOFFICE_REDIS_PORT:-63799}
pg_user=boxoffice

log() { printf '[services] %s\n' "$*" >&2; }

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir && -x $dir/initdb ]] || return 1
  printf '%s\n' "$dir"
}

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { log "need root (or sudo) to install $*"; exit 1; }
    echo sudo
  fi
}

install() {
  local pkgs=()
  pg_bin >/dev/null || pkgs+=(postgresql)
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  ((${#pkgs[@]})) || return 0
  log "installing ${pkgs[*]} (apt-get)"
  local sudo; sudo=$(need_root "${pkgs[*]}")
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  # Debian starts the system services on install; ours are private, so leave theirs alone.
}

# PostgreSQL refuses to run as root: as root we run it as the 'postgres' system user.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
  local bin; bin=$(pg_bin)
  mkdir -p "$data"
  if [[ ! -f $data/pg/PG_VERSION ]]; then
    log "initialising PostgreSQL in .data/pg"
    mkdir -p "$data/pg"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$data/pg"
    as_pg "$bin/initdb" -D "$data/pg" -U "$pg_user" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$data/pg" status >/dev/null 2>&1; then
    return 0
  fi
  log "starting PostgreSQL on 127.0.0.1:$pg_port"
  if ! as_pg "$bin/pg_ctl" -D "$data/pg" -l "$data/pg/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories='$data/pg' -c max_connections=300 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on" >/dev/null; then
    log "PostgreSQL did not start (is port $pg_port taken? set BOXOFFICE_PG_PORT); .data/pg/server.log says:"
    tail -n 5 "$data/pg/server.log" >&2
    exit 1
  fi
}

start_redis() {
  mkdir -p "$data/redis"
  if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    return 0
  fi
  log "starting Redis on 127.0.0.1:$redis_port"
  redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes \
    --dir "$data/redis" --pidfile "$data/redis/redis.pid" --logfile "$data/redis/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --maxclients 10000
  for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "Redis did not start; see .data/redis/redis.log"; exit 1
}

ensure_db() {
  local name=$1 bin; bin=$(pg_bin)
  if ! "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U "$pg_user" "$name"
  fi
}

stop() {
  local bin
  if bin=$(pg_bin) && [[ -f $data/pg/PG_VERSION ]]; then
    as_pg "$bin/pg_ctl" -D "$data/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}

env_exports() {
  echo "export BOXOFFICE__DATABASE__URL=postgres://$pg_user@127.0.0.1:$pg_port/boxoffice"
  echo "export BOXOFFICE__REDIS__URL=redis://127.0.0.1:$redis_port/"
  echo "export BOXOFFICE_TEST_DATABASE_URL=postgres://$pg_user@127.0.0.1:$pg_port/postgres"
  echo "export BOXOFFICE_TEST_REDIS_URL=redis://127.0.0.1:$redis_port/1"
}

case ${1:-start} in
  install) install ;;
  start) install; start_pg; start_redis; ensure_db boxoffice ;;
  stop) stop ;;
  env) env_exports ;;
  *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
