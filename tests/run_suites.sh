#!/usr/bin/env bash
# `make test`: runs the test suites in order and prints each one's time. A step `a+b` runs suites a and b side
# by side (each line of their output prefixed with its name) and waits for both. Stops at the first step that
# fails, unless KEEP_GOING is set. The failed tests of a failed suite are repeated after the phase times: the last
# lines of the output say what failed, whichever suite printed last.
# Usage: tests/run_suites.sh MAKE STEP...
set -uo pipefail

make_cmd=$1
shift
summary=""
failed=""
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_suite() {  # suite [prefix]: the suite's make target, its output prefixed when it shares the terminal
  local suite=$1 prefix=${2:-}
  if [ -z "$prefix" ]; then
    "$make_cmd" "$suite" 2>&1 | tee "$logs/$suite.log"
  else
    "$make_cmd" "$suite" 2>&1 | sed -u "s/^/[$suite] /" | tee "$logs/$suite.log"
  fi
}

failures() {  # suite: pytest's lines of failed and errored tests and its counts, and make's error, at most 12
  grep -E '(^|\] )(FAILED|ERROR) |[0-9]+ (failed|errors?)\b|make(\[[0-9]+\])?: \*\*\*' "$logs/$1.log" 2>/dev/null \
    | cut -c1-300 | tail -n 12
}

record() {  # suite status seconds
  summary+=$(printf '%-22s %-7s %5ss' "$1" "$2" "$3")$'\n'
  [ "$2" = ok ] || failed+=" $1"
}

for step in "$@"; do
  echo "==> $step"
  IFS=+ read -r -a suites <<<"$step"
  if [ "${#suites[@]}" -eq 1 ]; then
    t0=$(date +%s)
    if run_suite "$step"; then status=ok; else status=FAILED; fi
    record "$step" "$status" $(($(date +%s) - t0))
  else
    results=$(mktemp -d) step_start=$(date +%s)
    for suite in "${suites[@]}"; do
      (
        t0=$(date +%s)
        if run_suite "$suite" prefix; then status=ok; else status=FAILED; fi
        echo "$status $(($(date +%s) - t0))" >"$results/$suite"
      ) &
    done
    wait
    for suite in "${suites[@]}"; do
      read -r status seconds <"$results/$suite" || { status=FAILED seconds=0; }
      record "$suite" "$status" "$seconds"
    done
    rm -rf "$results"
    summary+=$(printf '%-22s %-7s %5ss' "  (side by side)" "" $(($(date +%s) - step_start)))$'\n'
  fi
  [ -z "$failed" ] || [ -n "${KEEP_GOING:-}" ] || break
done

printf '\n==> phase times\n%s' "$summary"
if [ -n "$failed" ]; then
  for suite in $failed; do
    echo "==> $suite failed:"
    failures "$suite"
  done
  echo "FAILED:$failed"
  exit 1
fi
