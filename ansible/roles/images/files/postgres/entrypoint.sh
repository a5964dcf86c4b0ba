#!/bin/bash
# Initialises PGDATA on first start (user, password and database from the environment), then
# runs the server in the foreground, listening on every address with password authentication.
# On every later start the password from the environment is applied again: PostgreSQL keeps the one it was
# initialised with, so a Secret generated anew (helm uninstall + install over the kept volume, a GitOps
# `helm template` render) would otherwise lock MLflow out of its own database.
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
  initialised=1
fi

# A server killed outright (pod force-deleted, container killed, node restarted) leaves its lock files behind: in
# PGDATA and, for a restarted container, in the socket directory (an emptyDir that outlives the container).
# PostgreSQL takes a lock file as a live server whenever its PID is alive, and in a new container that PID usually
# is: this script, or another process of ours. Nothing else in this container runs on PGDATA, and the StatefulSet
# gives the volume to one pod, so a lock file is stale unless the process it names is a postgres here (Bitnami's
# image removes them likewise).
for lock in "$PGDATA/postmaster.pid" "${POSTGRES_SOCKET_DIR:-/var/run/postgresql}"/.s.PGSQL.*.lock; do
  [ -f "$lock" ] || continue
  pid=$(head -n 1 "$lock")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "postgres" ]; then
    fail "PostgreSQL (pid $pid) already holds $lock"
  fi
  rm -f "$lock"
  echo "mlkube-postgres: removed $(basename "$lock") of a server that was killed (pid $pid)"
done

if [ "${initialised:-0}" -eq 0 ] && [ -n "${POSTGRES_PASSWORD:-}" ]; then
  # Single-user mode: no socket is open yet. Errors name the statement only above PANIC, and the output is
  # shown with the password masked, so the password never reaches the log.
  sql_password=${POSTGRES_PASSWORD//"'"/"''"}
  out=$(postgres --single -D "$PGDATA" -c listen_addresses='' -c log_min_error_statement=panic postgres 2>&1 \
    <<< "ALTER ROLE \"$POSTGRES_USER\" WITH PASSWORD '$sql_password';") || status=$?
  out=${out//"$POSTGRES_PASSWORD"/<password>}
  out=${out//"$sql_password"/<password>}
  if [ "${status:-0}" -ne 0 ] || grep -q 'ERROR' <<< "$out"; then
    fail "could not apply the password of $POSTGRES_USER from the environment: $(grep -m 3 -E 'ERROR|FATAL' <<< "$out")"
  fi
  echo "mlkube-postgres: applied the password of $POSTGRES_USER from the environment"
fi

exec postgres -D "$PGDATA" "$@"
