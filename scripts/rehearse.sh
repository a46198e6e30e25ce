#!/usr/bin/env bash
# An on-sale rehearsal on this machine (issue 9): `boxoffice-load rehearse`
# with two local nodes on a fresh database of the configured PostgreSQL and a
# private Redis it may stop, under faults; exits non-zero when the invariant
# checker finds a violation.
#
#   scripts/rehearse.sh          `make rehearse`: ~2 minutes, 3,000 fans, a
#                                2,000-seat hall sold out, a Redis stop, a node kill
#   scripts/rehearse.sh smoke    `make test`: under a minute, the same faults
#   scripts/rehearse.sh custom ARGS...   only your flags to `boxoffice-load rehearse`
#                                (nodes, private Redis and the fresh database are still given)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
eval "$(scripts/services.sh env)"

mode=full
if [[ ${1:-} == smoke || ${1:-} == custom ]]; then
  mode=$1
  shift
fi
args=()
if [[ $mode == smoke ]]; then
  args=(--fans 600 --seats 300 --admission-rate 60 --hold-seconds 15 --lead-seconds 2
        --chaos redis-stop@4s:3s,node-kill@8s:1 --max-seconds 35 --settle-seconds 45
        --out target/rehearsal-smoke)
  # A payment attempt the node kill left open is finished by another node's
  # recovery before the checker reads: sooner than in production, so the
  # smoke run stays short.
  export BOXOFFICE__PAYMENTS__RECOVERY_AFTER_SECONDS=5 BOXOFFICE__PAYMENTS__RECOVERY_INTERVAL_MS=1000
elif [[ $mode == full ]]; then
  args=(--fans 3000 --seats 2000 --admission-rate 100 --hold-seconds 30 --lead-seconds 3
        --chaos redis-stop@8s:6s,node-kill@18s:1 --max-seconds 110 --out target/rehearsal)
fi

# BOXOFFICE_BIN=target/debug/boxoffice (as `make test` sets it, right after
# `cargo test --workspace` built both binaries) skips the builds: a second
# build with other feature unification would recompile much of the tree.
if [[ -n ${BOXOFFICE_BIN:-} ]]; then
  bin_dir=$(cd "$(dirname "$BOXOFFICE_BIN")" && pwd)
  server_bin=$bin_dir/$(basename "$BOXOFFICE_BIN")
else
  cargo build --quiet --bin boxoffice
  cargo build --quiet -p boxoffice-load
  bin_dir=$root/target/debug
  server_bin=$bin_dir/boxoffice
fi
for exe in "$server_bin" "$bin_dir/boxoffice-load"; do
  [[ -x $exe ]] || { echo "rehearse: $exe is not built" >&2; exit 1; }
done

# The spawned nodes and the checker share one signing secret, made for this
# run, so the checker verifies every ticket's signature.
export BOXOFFICE__AUTH__SIGNING_SECRET=${BOXOFFICE__AUTH__SIGNING_SECRET:-rehearsal-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}

# A fresh database per rehearsal, dropped afterwards (the report stays).
db="rehearsal_$(date +%s)_$$"
server_url=${BOXOFFICE__DATABASE__URL%/*}
psql "$server_url/postgres" -qc "CREATE DATABASE $db" >/dev/null
trap 'psql "$server_url/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

echo "rehearse: ${mode} rehearsal on database $db"
"$bin_dir/boxoffice-load" rehearse --spawn-nodes 2 --spawn-redis --boxoffice-bin "$server_bin" \
  --database-url "$server_url/$db" ${args[@]+"${args[@]}"} "$@"
