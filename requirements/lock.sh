#!/usr/bin/env bash
# Resolve requirements/*.in into the hash-locked requirements/*.lock (make lock).
# usage: requirements/lock.sh UV [uv pip compile arguments, e.g. --upgrade]
# An existing lock's versions are kept unless --upgrade (or --upgrade-package NAME) says otherwise. The image
# locks are resolved within dev.lock's versions, so the images run what the tests ran in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=$1
shift

# uv reads neither pip.conf nor PIP_*: resolve on the index and CA bundle that pip installs from. `pip config list`
# shows the merged files and the PIP_* variables (:env:), which win, then a file's [install] over its [global].
pip_settings=$(python3 -m pip config list 2>/dev/null || true)
pip_setting() {
  local section value
  for section in ':env:' install global; do
    value=$(sed -n "s/^$section\.$1='\(.*\)'\$/\1/p" <<<"$pip_settings" | tail -n 1)
    if [ -n "$value" ]; then echo "$value"; return; fi
  done
}
index_url=$(pip_setting index-url)
cert=$(pip_setting cert)

# versions.env's Python pins: every lock holds exactly these versions.
# shellcheck source=../versions.env
source versions.env
pins=.cache/lock/versions-env.txt
mkdir -p "$(dirname "$pins")"
printf '%s\n' "mlflow==$MLFLOW_VERSION" "mlflow-skinny==$MLFLOW_VERSION" "torch==$TORCH_VERSION" \
  "grafana-foundation-sdk==$GRAFANA_FOUNDATION_SDK_VERSION" >"$pins"

compile() {
  local name=$1
  shift
  echo "==> requirements/$name.lock"
  "$uv" pip compile --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
    ${index_url:+--default-index "$index_url"} ${cert:+--cert "$cert"} \
    --custom-compile-command "make lock" --constraints "$pins" \
    --no-emit-package mlkube-train --no-emit-package mlkube-server --no-emit-package mlkube-monitoring \
    "requirements/$name.in" --output-file "requirements/$name.lock" "$@"
}
compile dev "$@"
compile server --constraints requirements/dev.lock "$@"
compile training --constraints requirements/dev.lock "$@"
