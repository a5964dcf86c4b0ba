#!/usr/bin/env bash
# Builds Traefik, the local cluster's Gateway API implementation, from the Go module proxy, and stages
# the Gateway API CRDs (standard channel) it serves and Traefik's own CRDs (traefik.io, for the TraefikService
# backends of Argo Rollouts canaries). All are cached by version.
#
# Usage: build-traefik.sh OUT_DIR
#   OUT_DIR/traefik-<TRAEFIK_VERSION>        the static binary
#   OUT_DIR/crds-<GATEWAY_API_VERSION>/      gateway.networking.k8s.io CRDs (kubectl apply --server-side -f)
#   OUT_DIR/traefik-crds-<TRAEFIK_VERSION>/  traefik.io CRDs (idem)
# TRAEFIK_VERSION and GATEWAY_API_VERSION come from versions.env (the caller exports them).
set -euo pipefail

out_dir=${1:?usage: build-traefik.sh OUT_DIR}
traefik=${TRAEFIK_VERSION:?TRAEFIK_VERSION is not set (versions.env)}
gateway_api=${GATEWAY_API_VERSION:?GATEWAY_API_VERSION is not set (versions.env)}
module=github.com/traefik/traefik/v3
binary=$out_dir/traefik-$traefik
crds=$out_dir/crds-$gateway_api
traefik_crds=$out_dir/traefik-crds-$traefik

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../go-module.sh
. "$here/../go-module.sh"
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

go_module_stage_crds "sigs.k8s.io/gateway-api@v$gateway_api" "$crds" "" \
  'config/crd/standard/gateway.networking.k8s.io_*.yaml'
go_module_stage_crds "$module@v$traefik" "$traefik_crds" "$traefik" \
  'docs/content/reference/dynamic-configuration/traefik.io_*.yaml'

[ -x "$binary" ] || go_module_build "$out_dir" "$module" "$traefik" "-s -w -X $module/pkg/version.Version=$traefik" cmd/traefik
