#!/usr/bin/env bash
# Starts a Docker engine where none answers (no service manager runs one here) and stops the one it started,
# by its PID, never by name. Usage: dockerd.sh start|stop STATE_DIR (pid file and log).
set -euo pipefail
dir=${2:?usage: dockerd.sh start|stop STATE_DIR}
pidfile=$dir/dockerd.pid

case "${1:-}" in
  start)
    docker info >/dev/null 2>&1 && exit 0
    command -v dockerd >/dev/null || { echo "ERROR: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
    mkdir -p "$dir"
    echo "starting dockerd (log: $dir/dockerd.log; stop it with 'make images-clean')"
    dockerd >"$dir/dockerd.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 60); do
      docker info >/dev/null 2>&1 && exit 0
      kill -0 "$(cat "$pidfile")" 2>/dev/null || break
      sleep 1
    done
    echo "ERROR: dockerd did not come up; last lines of $dir/dockerd.log:" >&2
    tail -n 20 "$dir/dockerd.log" >&2
    exit 1 ;;
  stop)
    [ -f "$pidfile" ] || exit 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      echo "stopping dockerd (pid $pid)"
      kill "$pid"
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      if kill -0 "$pid" 2>/dev/null; then echo "ERROR: dockerd (pid $pid) did not stop within 30 s" >&2; exit 1; fi
    fi
    rm -f "$pidfile" ;;
  *) sed -n '2,3p' "$0" >&2; exit 2 ;;
esac
