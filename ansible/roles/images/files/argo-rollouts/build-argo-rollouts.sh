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

command -v go >/dev/null || { echo "ERROR: go is not installed: Argo Rollouts is built from Go modules" >&2; exit 1; }
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$out_dir" "$bin_dir"
out_dir=$(cd "$out_dir" && pwd)
controller=$out_dir/rollouts-controller-$version
plugin=$out_dir/kubectl-argo-rollouts-$version
crds=$out_dir/crds-$version
log=$out_dir/build.log

# Field of `go mod download -json` for a module version (downloaded through the machine's Go proxy).
# Go fails the download of a module newer than the toolchain, yet reports the files it fetched.
module_field() {
  { (cd "$out_dir" && go mod download -json "$1") || true; } | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d[sys.argv[1]]) if sys.argv[1] in d else sys.exit("go mod download: " + d.get("Error", "no " + sys.argv[1]))' "$2"
}

# Upstream's go.mod asks for a newer Go than some machines have: use exactly the toolchain it names
# (from the Go proxy, once) instead of the local one then. Its .mod file downloads under any toolchain.
required_go=$(GOTOOLCHAIN=local module_field "$module@v$version" GoMod | xargs awk '$1 == "go" { print $2; exit }')
local_go=$(GOTOOLCHAIN=local go env GOVERSION)
local_go=${local_go#go}
if [ "$(printf '%s\n%s\n' "$required_go" "$local_go" | sort -V | head -n1)" = "$required_go" ]; then
  export GOTOOLCHAIN=local
else
  export GOTOOLCHAIN=go$required_go
fi

# Runs a command with its output in the build log, printing a line every 30 s while it runs.
with_progress() {
  local what=$1 start=$SECONDS pid
  shift
  "$@" >>"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
    kill -0 "$pid" 2>/dev/null && echo "    ... $what: $((SECONDS - start)) s so far"
  done
  if ! wait "$pid"; then
    grep -v '^go: downloading' "$log" | tail -n 15 >&2
    echo "ERROR: $what failed (log: $log)" >&2
    exit 1
  fi
}

src=$(module_field "$module@v$version" Dir)

if [ ! -d "$crds" ]; then
  rm -rf "$crds.tmp" && mkdir -p "$crds.tmp"
  cp "$src"/manifests/crds/*-crd.yaml "$crds.tmp"/
  chmod u+w "$crds.tmp"/*
  # Upstream's CRDs carry no version: the label lets the platform role skip an unchanged bundle.
  sed -i "0,/^metadata:\$/s//metadata:\n  labels:\n    app.kubernetes.io\/version: v$version/" "$crds.tmp"/*.yaml
  mv "$crds.tmp" "$crds"
fi

if [ ! -x "$controller" ] || [ ! -x "$plugin" ]; then
  start=$SECONDS
  echo "    building argo-rollouts v$version with $GOTOOLCHAIN Go (several minutes the first time; log: $log)"
  : >"$log"
  work=$out_dir/build-$version
  rm -rf "$work" && mkdir -p "$work"
  # Replace and exclude directives count only in the main module: this one restates upstream's own.
  {
    printf 'module mlkube.local/argo-rollouts-build\n\n'
    grep -m1 '^go ' "$src/go.mod"
    printf '\nrequire %s v%s\n\n' "$module" "$version"
    awk '/^(replace|exclude) \($/ { block = 1; print; next }
         block { if ($0 !~ /=> \.\//) print; if ($0 ~ /^\)/) block = 0; next }
         /^(replace|exclude) / && $0 !~ /=> \.\// { print }' "$src/go.mod"
  } > "$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "%s/cmd/rollouts-controller"\n\t_ "%s/cmd/kubectl-argo-rollouts"\n)\n' \
    "$module" "$module" > "$work/tools.go"
  # Upstream's Makefile stamps the version the same way; without a git commit it reads v<version>+unknown.
  build_date=$(module_field "$module@v$version" Info | xargs python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Time"])')
  ldflags="-s -w -X $module/utils/version.version=$version -X $module/utils/version.buildDate=$build_date"
  with_progress "go mod tidy (argo-rollouts v$version)" sh -c "cd '$work' && go mod tidy"
  for cmd in rollouts-controller kubectl-argo-rollouts; do
    with_progress "go build $cmd" sh -c "cd '$work' && go build -trimpath -ldflags '$ldflags' -o '$out_dir/$cmd-$version.tmp' '$module/cmd/$cmd'"
    mv "$out_dir/$cmd-$version.tmp" "$out_dir/$cmd-$version"
  done
  rm -rf "$work"
  echo "    built argo-rollouts v$version in $((SECONDS - start)) s"
fi

cmp -s "$plugin" "$bin_dir/kubectl-argo-rollouts" || cp "$plugin" "$bin_dir/kubectl-argo-rollouts"
