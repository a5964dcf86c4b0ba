#!/bin/bash
# Initialises PGDATA on first start (user, password and database from the environment), then
# runs the server in the foreground, listening on every address with password authentication.
set -euo pipefail

: "${PGDATA:?PGDATA must be set}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

fail() { echo "mlkube-postgres: $*" >&2; exit 1; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD:-}" ] || fail "POSTGRES_PASSWORD is empty: set it (e.g. from a Secret) before the first start"
  mkdir -p "$PGDATA" 2>/dev/null || fail "cannot create $PGDATA as uid $(id -u): make its volume writable (fsGroup $(id -g))"
  chmod 0700 "$PGDATA" || fail "cannot chmod $PGDATA as uid $(id -u): PGDATA must be owned by the server's uid"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-instructions >/dev/null
  rm -f "$pwfile"
  {
    echo "listen_addresses = '*'"
    echo "unix_socket_directories = '/var/run/postgresql'"
  } >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != "postgres" ]; then
    postgres --single -D "$PGDATA" -c listen_addresses='' postgres >/dev/null <<< "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";"
  fi
  echo "mlkube-postgres: initialised $PGDATA (database $POSTGRES_DB, user $POSTGRES_USER)"
fi

exec postgres -D "$PGDATA" "$@"
