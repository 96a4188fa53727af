#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL 15 server on a Unix socket (SPEC section 16).
#   .ci/postgres.sh start DIR PORT   -> prints the SQLAlchemy URL of database "valhalla"
#   .ci/postgres.sh stop DIR
# The server refuses to run as root, so it runs as the `postgres` user when we are root.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}
port=${3:-54329}
bin=/usr/lib/postgresql/15/bin
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$dir/data" -A trust -U valhalla >"$dir/initdb.log" 2>&1
    fi
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
      -o "-k $dir -p $port -c listen_addresses='' -c fsync=off -c max_connections=200" -w start >/dev/null
    as_pg "$bin/psql" -h "$dir" -p "$port" -U valhalla -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'valhalla'" | grep -q 1 ||
      as_pg "$bin/createdb" -h "$dir" -p "$port" -U valhalla valhalla
    echo "postgresql+psycopg://valhalla@/valhalla?host=$dir&port=$port"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
