#!/usr/bin/env bash
# apt-get for the suites' Debian packages (APT_GET in the Makefile), which suites running side by side may each
# install: their calls take turns (flock), and each waits for the locks another apt user holds (the Ansible
# suite's apt module). apt-get waits for dpkg's lock (DPkg::Lock::Timeout) but fails at once on the package lists'
# and the archives' locks, so a call that failed on a lock is retried.
set -uo pipefail
exec 9>/run/lock/mlkube-apt.lock
flock -w 900 9 || { echo "apt-get $*: another suite's apt-get held the lock for 900 s" >&2; exit 1; }
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
for _ in $(seq 1 60); do
  apt-get -o DPkg::Lock::Timeout=600 "$@" 2>"$errors" && exit 0
  rc=$?
  grep -q "Could not get lock" "$errors" || { cat "$errors" >&2; exit "$rc"; }
  sleep 5
done
cat "$errors" >&2
exit "$rc"
