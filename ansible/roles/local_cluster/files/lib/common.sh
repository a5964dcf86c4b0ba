# shellcheck shell=bash
# Shared helpers: settings, progress output and failure reporting.

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

# render_template NAME — prints templates/NAME.in with ${VAR} replaced from the environment.
render_template() {
  python3 - "$TEMPLATES_DIR/$1.in" <<'PY'
import os, string, sys
path = sys.argv[1]
try:
    print(string.Template(open(path).read()).substitute(os.environ), end="")
except KeyError as missing:
    sys.exit(f"ERROR: template {path} needs the setting {missing.args[0]}, which is not set")
PY
}

# write_if_changed FILE — stdin to FILE, leaving FILE untouched when the content is the same
# (kube-proxy exits when its config file is written to).
write_if_changed() {
  local file="$1" tmp; tmp=$(mktemp "$file.XXXX")
  cat > "$tmp"
  if cmp -s "$tmp" "$file"; then rm -f "$tmp"; else mv "$tmp" "$file"; fi
}
