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

command -v go >/dev/null || { echo "ERROR: go is not installed: the gateway image builds Traefik from Go modules" >&2; exit 1; }
export GOWORK=off GOFLAGS=-mod=mod
mkdir -p "$out_dir"

# Directory of a module version in the module cache (downloaded through the machine's Go proxy).
module_dir() {
  (cd "$out_dir" && go mod download -json "$1") | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit("go mod download: " + d["Error"]) if "Error" in d else print(d["Dir"])'
}

if [ ! -d "$crds" ]; then
  src=$(module_dir "sigs.k8s.io/gateway-api@v$gateway_api")
  rm -rf "$crds.tmp" && mkdir -p "$crds.tmp"
  cp "$src"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$crds.tmp"/
  chmod u+w "$crds.tmp"/* && mv "$crds.tmp" "$crds"
fi

if [ ! -d "$traefik_crds" ]; then
  src=$(module_dir "$module@v$traefik")
  rm -rf "$traefik_crds.tmp" && mkdir -p "$traefik_crds.tmp"
  cp "$src"/docs/content/reference/dynamic-configuration/traefik.io_*.yaml "$traefik_crds.tmp"/
  chmod u+w "$traefik_crds.tmp"/*
  # Upstream's CRDs carry no version: the label lets the platform role skip an unchanged bundle.
  sed -i "0,/^metadata:\$/s//metadata:\n  labels:\n    app.kubernetes.io\/version: v$traefik/" "$traefik_crds.tmp"/*.yaml
  mv "$traefik_crds.tmp" "$traefik_crds"
fi

if [ ! -x "$binary" ]; then
  echo "    building traefik v$traefik from Go modules (a few minutes the first time; log: $out_dir/build.log)"
  src=$(module_dir "$module@v$traefik")
  work=$out_dir/build-$traefik
  rm -rf "$work" && mkdir -p "$work"
  # Replace and exclude directives count only in the main module: this one restates upstream's own.
  {
    printf 'module mlkube.local/traefik-build\n\n'
    grep -m1 '^go ' "$src/go.mod"
    printf '\nrequire %s v%s\n\n' "$module" "$traefik"
    awk '/^(replace|exclude) \($/ { block = 1; print; next }
         block { if ($0 !~ /=> \.\//) print; if ($0 ~ /^\)/) block = 0; next }
         /^(replace|exclude) / && $0 !~ /=> \.\// { print }' "$src/go.mod"
  } > "$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/traefik"\n' "$module" > "$work/tools.go"
  if ! (cd "$work" && go mod tidy && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X $module/pkg/version.Version=$traefik" -o "$binary.tmp" "$module/cmd/traefik") \
        >"$out_dir/build.log" 2>&1; then
    grep -v '^go: downloading' "$out_dir/build.log" | tail -n 15 >&2
    echo "ERROR: building traefik v$traefik failed (log: $out_dir/build.log)" >&2
    exit 1
  fi
  mv "$binary.tmp" "$binary"
  rm -rf "$work"
fi
