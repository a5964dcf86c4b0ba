# shellcheck shell=bash
# Building commands of an upstream Go module from the machine's Go module proxy, for the images that ship
# third-party binaries (build-traefik.sh, build-argo-rollouts.sh, build-keda.sh source this file).
#
# Upstream's go.mod may carry replace and exclude directives, which count only in the main module, so
# `go install module/cmd@version` refuses such modules: the build runs in a small main module that requires
# the upstream one and restates its directives (local-path replaces dropped), so the versions built are
# exactly the ones upstream's go.sum pins, each checked against the Go checksum database.

command -v go >/dev/null || { echo "ERROR: go is not installed: this image's binaries are built from Go modules" >&2; exit 1; }
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

# go_module_field MODULE@VERSION FIELD — a field of `go mod download -json` (Dir, GoMod, Info...).
# Go fails the download of a module newer than the toolchain, yet reports the files it fetched.
go_module_field() {
  { (cd "${TMPDIR:-/tmp}" && go mod download -json "$1") || true; } | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d[sys.argv[1]]) if sys.argv[1] in d else sys.exit("go mod download: " + d.get("Error", "no " + sys.argv[1]))' "$2"
}

# go_module_use_toolchain MODULE@VERSION — exports GOTOOLCHAIN: the local Go when it is at least the version
# upstream's go.mod names, else exactly that version (from the Go proxy, once).
go_module_use_toolchain() {
  local required local_go
  required=$(GOTOOLCHAIN=local go_module_field "$1" GoMod | xargs awk '$1 == "go" { print $2; exit }')
  local_go=$(GOTOOLCHAIN=local go env GOVERSION)
  local_go=${local_go#go}
  if [ "$(printf '%s\n%s\n' "$required" "$local_go" | sort -V | head -n1)" = "$required" ]; then
    export GOTOOLCHAIN=local
  else
    export GOTOOLCHAIN=go$required
  fi
}

# go_with_progress LOG WHAT COMMAND... — runs COMMAND with its output appended to LOG, printing a line every
# 30 s while it runs; on failure prints the log's tail and exits.
go_with_progress() {
  local log=$1 what=$2 start=$SECONDS pid
  shift 2
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

# go_module_name MODULE — its last path element without a major-version suffix (.../traefik/v3: traefik).
go_module_name() {
  local name=${1%/v[0-9]*}
  echo "${name##*/}"
}

# go_module_build OUT_DIR MODULE VERSION LDFLAGS PACKAGE... — builds each PACKAGE (a path under MODULE) into
# OUT_DIR/<last element of PACKAGE>-<VERSION>, static; its output goes to OUT_DIR/build.log.
go_module_build() {
  local out_dir=$1 module=$2 version=$3 ldflags=$4 src work log pkg name
  shift 4
  log=$out_dir/build.log
  : >"$log"
  go_module_use_toolchain "$module@v$version"
  src=$(go_module_field "$module@v$version" Dir)
  work=$out_dir/build-$version
  rm -rf "$work" && mkdir -p "$work"
  {
    printf 'module mlkube.local/build\n\n'
    grep -m1 '^go ' "$src/go.mod"
    printf '\nrequire %s v%s\n\n' "$module" "$version"
    awk '/^(replace|exclude) \($/ { block = 1; print; next }
         block { if ($0 !~ /=> \.\//) print; if ($0 ~ /^\)/) block = 0; next }
         /^(replace|exclude) / && $0 !~ /=> \.\// { print }' "$src/go.mod"
  } > "$work/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for pkg in "$@"; do printf '\t_ "%s/%s"\n' "$module" "$pkg"; done
    printf ')\n'
  } > "$work/tools.go"
  echo "    building $(go_module_name "$module") v$version ($*) with $GOTOOLCHAIN Go (minutes the first time; log: $log)"
  go_with_progress "$log" "go mod tidy ($(go_module_name "$module") v$version)" sh -c "cd '$work' && go mod tidy"
  for pkg in "$@"; do
    name=${pkg##*/}
    go_with_progress "$log" "go build $name" \
      sh -c "cd '$work' && go build -trimpath -ldflags '$ldflags' -o '$out_dir/$name-$version.tmp' '$module/$pkg'"
    mv "$out_dir/$name-$version.tmp" "$out_dir/$name-$version"
  done
  rm -rf "$work"
}

# go_module_stage_crds MODULE@VERSION DEST LABEL_VERSION GLOB... — copies the module's CRD files (GLOB relative to
# its root) into DEST once, labelled app.kubernetes.io/version: v<LABEL_VERSION> (upstream's carry none: the label
# lets the platform role skip an unchanged bundle).
go_module_stage_crds() {
  local src dest=$2 version=$3 glob
  [ -d "$dest" ] && return 0
  # The module's files are extracted only under a toolchain at least as new as its go.mod asks for.
  go_module_use_toolchain "$1"
  src=$(go_module_field "$1" Dir)
  shift 3
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  for glob in "$@"; do
    # shellcheck disable=SC2086  # the glob is meant to expand
    cp "$src"/$glob "$dest.tmp"/
  done
  chmod u+w "$dest.tmp"/*
  [ -z "$version" ] ||
    sed -i "0,/^metadata:\$/s//metadata:\n  labels:\n    app.kubernetes.io\/version: v$version/" "$dest.tmp"/*.yaml
  mv "$dest.tmp" "$dest"
}
