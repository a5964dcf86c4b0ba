# shellcheck shell=bash
# Background processes: one pid file and one log per component, stopped by pid only.

pid_file() { echo "$STATE_DIR/run/$1.pid"; }

# component_pid NAME — prints the pid if the recorded process still runs the recorded binary.
component_pid() {
  local file pid exe; file=$(pid_file "$1")
  [ -f "$file" ] || return 1
  read -r pid exe < "$file" || return 1
  [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] || return 1
  echo "$pid"
}

component_running() { component_pid "$1" >/dev/null; }

# start_component NAME BINARY ARGS... — started in its own session so that it outlives the caller.
start_component() {
  local name="$1" binary="$2"; shift 2
  local log="$LOG_DIR/$name.log" pid exe
  mkdir -p "$STATE_DIR/run" "$LOG_DIR"
  printf '==== %s starting %s\n' "$(date -u +%FT%TZ)" "$name" >> "$log"
  # fd 9 is the lock of cluster.sh: the component must not keep holding it.
  setsid "$binary" "$@" >> "$log" 2>&1 < /dev/null 9>&- &
  pid=$!
  exe=$(readlink -f "$binary")
  echo "$pid $exe" > "$(pid_file "$name")"
  # The background child is still the shell until setsid and then the binary exec: wait for that.
  for _ in $(seq 1 50); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && return 0
    [ -d "/proc/$pid" ] || return 0
    sleep 0.1
  done
}

# ensure_component NAME READY_TIMEOUT READY_CHECK -- BINARY ARGS...
# Starts NAME unless it already runs, then waits for READY_CHECK (a function name).
ensure_component() {
  local name="$1" timeout="$2" check="$3"; shift 4
  local t0=$SECONDS started=0
  if component_running "$name"; then
    say "$name already running (pid $(component_pid "$name"))"
  else
    step "starting $name"
    start_component "$name" "$@"
    started=1
    # shellcheck disable=SC2034 # read by cluster.sh, which sources this file
    CHANGED=1
  fi
  local deadline=$((SECONDS + timeout))
  until "$check" >/dev/null 2>&1; do
    component_running "$name" || fail_component "$name" "exited during start-up"
    [ "$SECONDS" -lt "$deadline" ] || fail_component "$name" "not ready after ${timeout}s"
    sleep 1
  done
  if [ "$started" = 1 ]; then say "$name ready in $((SECONDS - t0)) s"; fi
}

# stop_component NAME — TERM, then KILL after a grace period.
stop_component() {
  local name="$1" pid
  if pid=$(component_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      [ -d "/proc/$pid" ] || break
      sleep 0.5
    done
    if [ -d "/proc/$pid" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$(pid_file "$name")"
}
