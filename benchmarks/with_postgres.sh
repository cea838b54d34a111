#!/usr/bin/env bash
# Run a command next to a throwaway PostgreSQL, started the way .ci/run starts one: initdb into a
# temporary folder (as the postgres user when run as root: initdb and postgres refuse root),
# a free port on 127.0.0.1, the server's default settings (fsync and synchronous_commit on), and
# stopped and removed afterwards, whatever happens. The command gets the database's URL in
# BENCH_DATABASE_URL (benchmarks/run.py takes it as its --database-url).
#
#   benchmarks/with_postgres.sh .venv/bin/python benchmarks/run.py --duration 3
#
# `make bench` runs the benchmark this way after the SQLite run (`make bench DB=postgres`: only this).
set -euo pipefail

if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed (Debian package postgresql)" >&2
    exit 1
  fi
  echo "Installing postgresql from Debian"
  apt-get update -qq
  # Debian must not start the package's own server on install.
  policy=/usr/sbin/policy-rc.d
  [ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; added_policy=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  [ -z "${added_policy:-}" ] || rm -f "$policy"
fi

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PG_DIR=$(mktemp -d)
if [ "$(id -u)" = 0 ]; then
  as_pg() { (cd / && runuser -u postgres -- "$@"); }
  install -d -o postgres -g postgres -m 700 "$PG_DIR"
else
  as_pg() { "$@"; }
  chmod 700 "$PG_DIR"
fi
pg_stop() {
  [ -f "$PG_DIR/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast -w stop >/dev/null || true
}
trap 'rc=$?; pg_stop; rm -rf "$PG_DIR"; exit $rc' EXIT
trap 'exit 130' INT TERM

as_pg "$PG_BIN/initdb" -D "$PG_DIR" -U postgres -A trust -E UTF8 --no-locale >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" -w -t 60 \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt \
  -c "CREATE ROLE bench LOGIN PASSWORD 'bench'" -c "CREATE DATABASE bench OWNER bench"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (throwaway, in $PG_DIR)"
# The settings a submission's figure depends on, printed with it: a commit waits for the disk
# (fsync, synchronous_commit) by the server's default method for this platform.
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -c "SELECT 'settings: ' || string_agg(
  name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN
  ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'shared_buffers')"

export BENCH_DATABASE_URL="postgresql+psycopg://bench:bench@127.0.0.1:$PG_PORT/bench"
"$@"
