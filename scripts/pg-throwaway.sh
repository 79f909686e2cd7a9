#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1:$PGPORT (default 15432)
# in directory $1 (default: a new temp dir) and prints a database URL.
# Installs the Debian package first when the server binaries are missing
# and we are root. Stop it with: pg_ctl -D DIR/data stop (as user postgres).
set -euo pipefail
PORT=${PGPORT:-15432}
D=${1:-$(mktemp -d)}
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql) >&2
  else
    echo "pg-throwaway: PostgreSQL server binaries not found and cannot install them" >&2
    exit 1
  fi
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
RUN=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd -r -m postgres
  mkdir -p "$D"; chown postgres:postgres "$D"
  RUN=(runuser -u postgres --)
else
  mkdir -p "$D"
fi
"${RUN[@]}" "$PGBIN/initdb" -D "$D/data" -U postgres -A trust --no-sync -E UTF8 >"$D/initdb.log"
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w -t 30 \
  -o "-p $PORT -k $D -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
"${RUN[@]}" "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres test
echo "postgres://postgres@127.0.0.1:$PORT/test?sslmode=disable"
