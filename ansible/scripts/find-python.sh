#!/usr/bin/env bash
# Prints a Python interpreter new enough for the pinned ansible-core (3.12 or later): $ANSIBLE_PYTHON,
# then python3.14..python3.12 on PATH, then the newest such version pyenv has installed.
set -euo pipefail
ok() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
for candidate in ${ANSIBLE_PYTHON:-} python3 python3.14 python3.13 python3.12; do
  if command -v "$candidate" >/dev/null 2>&1 && ok "$candidate"; then command -v "$candidate"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])(\.[0-9]+)?$' | sort -rV); do
    if ok "$root/versions/$version/bin/python3"; then echo "$root/versions/$version/bin/python3"; exit 0; fi
  done
fi
echo "ansible needs Python >= 3.12 and none was found: install one (e.g. 'pyenv install 3.12') or set ANSIBLE_PYTHON" >&2
exit 1
