#!/usr/bin/env bash
# Builds KEDA, the model servers' event-driven autoscaler, from the Go module proxy: the operator (turns each
# ScaledObject into an HPA and asks the scalers, here Prometheus, for their metrics) and the metrics API server
# (serves those metrics to the HPA controller as external metrics), for image mlkube/keda; stages its CRDs.
# Everything is cached by version. The admission webhooks are not built: they only validate ScaledObjects
# earlier than the operator does.
#
# Usage: build-keda.sh OUT_DIR
#   OUT_DIR/operator-<KEDA_VERSION>   the operator (static binary, /keda in the image)
#   OUT_DIR/adapter-<KEDA_VERSION>    the metrics API server (static binary, /keda-adapter in the image)
#   OUT_DIR/crds-<KEDA_VERSION>/      keda.sh and eventing.keda.sh CRDs (kubectl apply --server-side -f)
# KEDA_VERSION comes from versions.env (the caller exports it).
set -euo pipefail

out_dir=${1:?usage: build-keda.sh OUT_DIR}
version=${KEDA_VERSION:?KEDA_VERSION is not set (versions.env)}
module=github.com/kedacore/keda/v2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../go-module.sh
. "$here/../go-module.sh"
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

# The operator's controllers watch every kind, so all of them are installed, not only ScaledObjects.
go_module_stage_crds "$module@v$version" "$out_dir/crds-$version" "$version" 'config/crd/bases/*.yaml'

if [ ! -x "$out_dir/operator-$version" ] || [ ! -x "$out_dir/adapter-$version" ]; then
  # Upstream's Makefile stamps the version the same way (GitCommit stays empty without a checkout).
  go_module_build "$out_dir" "$module" "$version" "-s -w -X $module/version.Version=$version" cmd/operator cmd/adapter
fi
