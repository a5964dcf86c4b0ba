#!/usr/bin/env bash
# Builds Argo Rollouts, the platform's progressive-delivery engine, from the Go module proxy: the
# controller (image mlkube/argo-rollouts) and the `kubectl argo rollouts` plugin, and stages its CRDs.
# Everything is cached by version.
#
# Usage: build-argo-rollouts.sh OUT_DIR BIN_DIR
#   OUT_DIR/rollouts-controller-<ARGO_ROLLOUTS_VERSION>    the controller (static binary)
#   OUT_DIR/kubectl-argo-rollouts-<ARGO_ROLLOUTS_VERSION>  the kubectl plugin, also copied to
#   BIN_DIR/kubectl-argo-rollouts                          (`kubectl argo rollouts` with BIN_DIR on PATH)
#   OUT_DIR/crds-<ARGO_ROLLOUTS_VERSION>/                  argoproj.io CRDs (kubectl apply --server-side -f)
# ARGO_ROLLOUTS_VERSION comes from versions.env (the caller exports it).
set -euo pipefail

out_dir=${1:?usage: build-argo-rollouts.sh OUT_DIR BIN_DIR}
bin_dir=${2:?usage: build-argo-rollouts.sh OUT_DIR BIN_DIR}
version=${ARGO_ROLLOUTS_VERSION:?ARGO_ROLLOUTS_VERSION is not set (versions.env)}
module=github.com/argoproj/argo-rollouts

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../go-module.sh
. "$here/../go-module.sh"
mkdir -p "$out_dir" "$bin_dir"
out_dir=$(cd "$out_dir" && pwd)
controller=$out_dir/rollouts-controller-$version
plugin=$out_dir/kubectl-argo-rollouts-$version

go_module_stage_crds "$module@v$version" "$out_dir/crds-$version" "$version" 'manifests/crds/*-crd.yaml'

if [ ! -x "$controller" ] || [ ! -x "$plugin" ]; then
  # Upstream's Makefile stamps the version the same way; without a git commit it reads v<version>+unknown.
  build_date=$(go_module_field "$module@v$version" Info | xargs python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Time"])')
  go_module_build "$out_dir" "$module" "$version" \
    "-s -w -X $module/utils/version.version=$version -X $module/utils/version.buildDate=$build_date" \
    cmd/rollouts-controller cmd/kubectl-argo-rollouts
fi

cmp -s "$plugin" "$bin_dir/kubectl-argo-rollouts" || cp "$plugin" "$bin_dir/kubectl-argo-rollouts"
