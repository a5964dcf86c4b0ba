# shellcheck shell=bash
# Shared helpers: progress output, failure reporting and waiting.

STEP_T0=$SECONDS
say()  { printf '    %s\n' "$*"; }
step() { printf '==> [%4ss] %s\n' "$((SECONDS - STEP_T0))" "$*"; }
warn() { printf 'WARN: %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# A failed component: one line naming it and what to do, then the tail of its log.
fail_component() {
  local component="$1" reason="$2" log="$LOG_DIR/$1.log"
  printf 'ERROR: %s: %s (log: %s)\n' "$component" "$reason" "$log" >&2
  if [ -f "$log" ]; then
    printf -- '---- last lines of %s ----\n' "$log" >&2
    tail -n 25 "$log" >&2
    printf -- '----\n' >&2
  fi
  exit 1
}

# Polls a command until it succeeds or the timeout (seconds) passes.
wait_for() {
  local timeout="$1"; shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}
