#!/usr/bin/env bash
# Prints the cluster target for MLKUBE_TARGET (auto|kind|local|cloud): auto picks kind when a
# Docker engine answers and kind is installed, and the local cluster otherwise.
set -euo pipefail
target=${MLKUBE_TARGET:-auto}
case "$target" in
  kind|local|cloud) echo "$target" ;;
  auto)
    if docker info >/dev/null 2>&1 && command -v kind >/dev/null 2>&1 && kind version >/dev/null 2>&1; then
      echo kind
    else
      echo local
    fi ;;
  *) echo "MLKUBE_TARGET='$target' is not a target: use auto, kind, local or cloud" >&2; exit 2 ;;
esac
