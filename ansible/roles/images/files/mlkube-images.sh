#!/usr/bin/env bash
# mlkube images: builds the platform's images with a local Docker engine on a Debian base made by
# debootstrap (no registry needed), then loads them into the target cluster or pushes them to a registry.
#
# Usage: mlkube-images.sh build                 build what is out of date
#        mlkube-images.sh load  local|kind|none  load the built images into the cluster
#        mlkube-images.sh all   local|kind|none  build, then load
#        mlkube-images.sh push  REGISTRY         push the built images as REGISTRY/<name>:<tag>
#        mlkube-images.sh list                   print the references of the images (<name>:<tag>)
#        mlkube-images.sh base                   only the Debian base image (the kind node image's base)
#        mlkube-images.sh dockerd-stop           stop the dockerd this script started (by PID)
#
# Settings (environment; defaults in brackets): MLKUBE_ROOT [repository root], MLKUBE_CACHE
# [$MLKUBE_ROOT/.cache], MLKUBE_SHARED_CACHE [~/.cache/mlkube: the debootstrap base, shared by every
# checkout on the machine], MLKUBE_DEBIAN_MIRROR [the machine's apt sources], KIND_CLUSTER_NAME
# [mlkube], KIND_NODES [its workers, comma-separated], MLKUBE_IMAGES [every image], MLKUBE_CLUSTER_CTL [the
# local_cluster role's cluster.sh].
# Versions and names come from versions.env and platform.env. The last line printed is
# `mlkube-images: changed=N` (N = images built, loaded or pushed), for callers that track changes.
set -euo pipefail

FILES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MLKUBE_ROOT=${MLKUBE_ROOT:-$(cd "$FILES_DIR/../../../.." && pwd)}
MLKUBE_CACHE=${MLKUBE_CACHE:-$MLKUBE_ROOT/.cache}
WORK_DIR=$MLKUBE_CACHE/images
DOCKER_DIR=$MLKUBE_CACHE/docker
GATEWAY_DIR=$MLKUBE_CACHE/gateway
ARGO_ROLLOUTS_DIR=$MLKUBE_CACHE/argo-rollouts
KEDA_DIR=$MLKUBE_CACHE/keda
# The base rootfs depends only on its recipe (suite, packages, BASE_RECIPE), never on the checkout: one
# copy per machine lets a fresh clone reuse it, and with it Docker's layer cache for every image.
SHARED_DIR=${MLKUBE_SHARED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlkube}/images
KIND_CLUSTER_NAME=${KIND_CLUSTER_NAME:-mlkube}
MLKUBE_CLUSTER_CTL=${MLKUBE_CLUSTER_CTL:-$MLKUBE_ROOT/ansible/roles/local_cluster/files/cluster.sh}
# Packages every project image may rely on being in the base.
BASE_PACKAGES=python3,python3-venv,ca-certificates
# Bump when the way the base rootfs is made changes: it is part of the cached tarball's name.
BASE_RECIPE=2
CHANGED=0
FAILED=()
T0=$SECONDS

say()  { printf '    %s\n' "$*"; }
step() { printf '==> [%4ss] %s\n' "$((SECONDS - T0))" "$*"; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Reads KEY=VALUE lines without overriding what the caller exported.
load_env_file() {
  local key value
  [ -f "$1" ] || die "$1 not found: set MLKUBE_ROOT to the repository root"
  while IFS='=' read -r key value; do
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    [ -n "${!key:-}" ] || export "$key=$value"
  done < "$1"
}
load_env_file "$MLKUBE_ROOT/versions.env"
load_env_file "$MLKUBE_ROOT/platform.env"

# name|Dockerfile|build context|context function|tag, paths relative to the repository root. The
# optional function assembles the context first (setting CONTEXT and BUILD_ARGS); the tag defaults to
# IMAGE_TAG (third-party builds carry their upstream version). An image whose Dockerfile does not exist
# yet is skipped with a note.
image_specs() {
  local files=ansible/roles/images/files
  echo "$IMAGE_PREFIX/postgres|$files/postgres/Dockerfile|$files/postgres|"
  echo "$IMAGE_PREFIX/prometheus|$files/prometheus/Dockerfile|$files/prometheus|"
  echo "$IMAGE_PREFIX/pushgateway|$files/pushgateway/Dockerfile|$files/pushgateway|"
  echo "$GATEWAY_IMAGE|$files/gateway/Dockerfile||gateway_context"
  echo "$ARGO_ROLLOUTS_IMAGE|$files/argo-rollouts/Dockerfile||argo_rollouts_context|$ARGO_ROLLOUTS_VERSION"
  echo "$KEDA_IMAGE|$files/keda/Dockerfile||keda_context|$KEDA_VERSION"
  echo "$MODEL_SERVER_IMAGE|model-server/Dockerfile||model_server_context"
  echo "$TRAINING_IMAGE|training-jobs/Dockerfile||training_context"
}

# The server's Dockerfile only copies its wheelhouse: a context of just that (hard links) keeps
# the repository's caches out of the build context.
model_server_context() {
  local wheels=$MLKUBE_CACHE/server-wheelhouse
  [ -d "$wheels" ] || die "no server wheelhouse at $wheels: run 'make server-wheelhouse' first"
  CONTEXT=$WORK_DIR/contexts/model-server
  rm -rf "$CONTEXT" && mkdir -p "$CONTEXT"
  cp -al "$wheels" "$CONTEXT/wheelhouse" 2>/dev/null || cp -a "$wheels" "$CONTEXT/wheelhouse"
  BUILD_ARGS=(--build-arg WHEELHOUSE=wheelhouse --build-arg "PORT=$MODEL_SERVER_PORT"
    --build-arg "METRICS_PORT=$MODEL_SERVER_METRICS_PORT")
}

# Traefik built from Go modules (cached by version) is the whole context; the same step stages the
# Gateway API CRDs that the platform role applies beside it (GATEWAY_DIR/crds-<version>).
gateway_context() {
  "$FILES_DIR/gateway/build-traefik.sh" "$GATEWAY_DIR" || die "the gateway binary could not be built"
  CONTEXT=$WORK_DIR/contexts/gateway
  rm -rf "$CONTEXT" && mkdir -p "$CONTEXT"
  cp -l "$GATEWAY_DIR/traefik-$TRAEFIK_VERSION" "$CONTEXT/traefik" 2>/dev/null \
    || cp "$GATEWAY_DIR/traefik-$TRAEFIK_VERSION" "$CONTEXT/traefik"
  BUILD_ARGS=()
}

# The Argo Rollouts controller built from Go modules (cached by version); the same step stages its CRDs
# (ARGO_ROLLOUTS_DIR/crds-<version>) and puts the `kubectl argo rollouts` plugin into .cache/bin.
argo_rollouts_context() {
  "$FILES_DIR/argo-rollouts/build-argo-rollouts.sh" "$ARGO_ROLLOUTS_DIR" "$MLKUBE_CACHE/bin" \
    || die "the argo-rollouts binaries could not be built"
  CONTEXT=$WORK_DIR/contexts/argo-rollouts
  rm -rf "$CONTEXT" && mkdir -p "$CONTEXT"
  cp -l "$ARGO_ROLLOUTS_DIR/rollouts-controller-$ARGO_ROLLOUTS_VERSION" "$CONTEXT/rollouts-controller" 2>/dev/null \
    || cp "$ARGO_ROLLOUTS_DIR/rollouts-controller-$ARGO_ROLLOUTS_VERSION" "$CONTEXT/rollouts-controller"
  BUILD_ARGS=()
}

# KEDA's operator and metrics API server built from Go modules (cached by version); the same step stages its
# CRDs (KEDA_DIR/crds-<version>).
keda_context() {
  "$FILES_DIR/keda/build-keda.sh" "$KEDA_DIR" || die "the keda binaries could not be built"
  CONTEXT=$WORK_DIR/contexts/keda
  rm -rf "$CONTEXT" && mkdir -p "$CONTEXT"
  local binary name
  for binary in operator:keda adapter:keda-adapter; do
    name=${binary#*:}
    binary=$KEDA_DIR/${binary%%:*}-$KEDA_VERSION
    cp -l "$binary" "$CONTEXT/$name" 2>/dev/null || cp "$binary" "$CONTEXT/$name"
  done
  BUILD_ARGS=()
}

# `make training-image-context` assembles the trainer's context (Dockerfile, configs, wheelhouse).
training_context() {
  CONTEXT=$MLKUBE_CACHE/training-image-context
  [ -f "$CONTEXT/Dockerfile" ] || die "no training image context at $CONTEXT: run 'make training-image-context' first"
  BUILD_ARGS=(--build-arg "WITH_TORCH=${WITH_TORCH:-false}"
              --build-arg "CODE_VERSION=$(git -C "$MLKUBE_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)")
}

selected_specs() {
  local spec name
  while IFS= read -r spec; do
    name=${spec%%|*}
    if [ -z "${MLKUBE_IMAGES:-}" ] || [[ " $MLKUBE_IMAGES " == *" $name "* ]]; then echo "$spec"; fi
  done < <(image_specs)
}

base_image() { echo "$IMAGE_PREFIX/debian-base:$DEBIAN_SUITE"; }
image_id()   { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
human_size() { numfmt --to=iec --suffix=B "$1"; }

# ---------------------------------------------------------------------------------------- docker

docker_up() { docker info >/dev/null 2>&1; }

# apt-get install, refreshing the package lists once when they are missing or stale.
apt_install() {
  [ "$(id -u)" = 0 ] || die "$* not installed: run 'apt-get install $*' as root, then retry"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null 2>&1 && return 0
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null \
    || die "apt-get install $* failed: check the machine's apt sources"
}

ensure_docker() {
  docker_up && return 0
  if ! command -v dockerd >/dev/null; then
    step "installing Debian's docker.io (dockerd is missing)"
    apt_install docker.io
  fi
  mkdir -p "$DOCKER_DIR"
  step "starting dockerd (log: $DOCKER_DIR/dockerd.log; stop it with 'make images-clean')"
  dockerd >"$DOCKER_DIR/dockerd.log" 2>&1 &
  echo $! > "$DOCKER_DIR/dockerd.pid"
  local deadline=$((SECONDS + 60))
  until docker_up; do
    if ! kill -0 "$(cat "$DOCKER_DIR/dockerd.pid")" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      printf 'ERROR: dockerd did not come up; last lines of %s:\n' "$DOCKER_DIR/dockerd.log" >&2
      tail -n 20 "$DOCKER_DIR/dockerd.log" >&2
      exit 1
    fi
    sleep 1
  done
}

dockerd_stop() {
  local pidfile=$DOCKER_DIR/dockerd.pid pid
  [ -f "$pidfile" ] || { say "no dockerd started by mlkube"; return 0; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    step "stopping dockerd (pid $pid)"
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && die "dockerd (pid $pid) did not stop within 30 s"
  fi
  rm -f "$pidfile"
}

# ------------------------------------------------------------------------------------------ base

# The first Debian mirror in the machine's apt sources (deb822 .sources or one-line format)
# that serves the suite itself; never written into the repository.
debian_mirror() {
  if [ -n "${MLKUBE_DEBIAN_MIRROR:-}" ]; then echo "$MLKUBE_DEBIAN_MIRROR"; return; fi
  python3 - "$DEBIAN_SUITE" <<'PY'
import glob, re, sys
suite = sys.argv[1]
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.+)$", stanza, re.M))
        if "deb" in fields.get("Types", "").split() and suite in fields.get("Suites", "").split():
            print(fields["URIs"].split()[0]); sys.exit(0)
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
        if m and m.group(2) == suite:
            print(m.group(1)); sys.exit(0)
sys.exit(f"no apt source serves Debian {suite}: add one, or set MLKUBE_DEBIAN_MIRROR")
PY
}

base_tarball() { echo "$SHARED_DIR/debian-base-$DEBIAN_SUITE-$(echo "$BASE_PACKAGES $BASE_RECIPE" | sha256sum | cut -c1-8).tar"; }

build_base_tarball() {
  local tarball rootfs mirror t
  tarball=$(base_tarball)
  [ -s "$tarball" ] && return 0
  command -v debootstrap >/dev/null || {
    step "installing debootstrap"
    apt_install debootstrap
  }
  mirror=$(debian_mirror)
  rootfs=$WORK_DIR/rootfs-$DEBIAN_SUITE
  step "debootstrap $DEBIAN_SUITE (minbase + $BASE_PACKAGES; log: $WORK_DIR/debootstrap.log)"
  t=$SECONDS
  rm -rf "$rootfs" && mkdir -p "$rootfs"
  if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$DEBIAN_SUITE" "$rootfs" "$mirror" \
      >"$WORK_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK_DIR/debootstrap.log" >&2
    die "debootstrap of $DEBIAN_SUITE failed (log above): check the apt mirror and free disk"
  fi
  # As Debian's slim container images do: no service starts during builds, no recommends, no
  # documentation or translations, no package caches (here and in every later install).
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d" && chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\n' > "$rootfs/etc/apt/apt.conf.d/90mlkube-no-recommends"
  printf 'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' > "$rootfs/etc/apt/apt.conf.d/90mlkube-no-pkgcache"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    > "$rootfs/etc/dpkg/dpkg.cfg.d/90mlkube-slim"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
         "$rootfs"/tmp/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
  mkdir -p "$SHARED_DIR"
  tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.$$.tmp" . && mv "$tarball.$$.tmp" "$tarball"
  rm -rf "$rootfs"
  say "base rootfs built in $((SECONDS - t)) s: $(human_size "$(stat -c %s "$tarball")") ($tarball)"
  CHANGED=$((CHANGED + 1))
}

import_base() {
  local tarball digest current t
  tarball=$(base_tarball)
  digest=$(sha256sum "$tarball" | cut -c1-16)
  current=$(docker image inspect --format '{{index .Config.Labels "io.mlkube.rootfs"}}' "$(base_image)" 2>/dev/null || true)
  if [ "$current" = "$digest" ]; then
    say "$(base_image) up to date"
    return 0
  fi
  t=$SECONDS
  docker import --change "LABEL io.mlkube.rootfs=$digest" --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' "$tarball" "$(base_image)" >/dev/null
  say "imported $(base_image) in $((SECONDS - t)) s"
  CHANGED=$((CHANGED + 1))
}

# ---------------------------------------------------------------------------------------- images

# Docker's layer cache decides what is up to date: an image whose ID does not change was not rebuilt.
build_image() {
  local ref=$1 dockerfile=$2 context=$3 name=${1%:*} before after t log
  shift 3
  log=$WORK_DIR/build-${name//\//_}.log
  before=$(image_id "$ref")
  t=$SECONDS
  if ! docker build --network host --build-arg "BASE=$(base_image)" "$@" \
      --label "io.mlkube.image=$name" -f "$dockerfile" -t "$ref" "$context" >"$log" 2>&1; then
    tail -n 12 "$log" | sed 's/^/    | /' >&2
    printf 'ERROR: docker build of %s failed (log: %s); going on with the other images\n' "$ref" "$log" >&2
    FAILED+=("$ref")
    return 0
  fi
  after=$(image_id "$ref")
  if [ "$before" = "$after" ]; then
    say "$ref up to date ($((SECONDS - t)) s)"
  else
    say "built $ref in $((SECONDS - t)) s: $(human_size "$(docker image inspect --format '{{.Size}}' "$ref")")"
    CHANGED=$((CHANGED + 1))
  fi
}

cmd_build() {
  mkdir -p "$WORK_DIR"
  ensure_docker
  step "base image $(base_image)"
  build_base_tarball
  import_base
  local name dockerfile context prepare tag
  while IFS='|' read -r name dockerfile context prepare tag; do
    tag=${tag:-$IMAGE_TAG}
    step "image $name:$tag"
    if [ ! -f "$MLKUBE_ROOT/$dockerfile" ]; then
      say "skip: $dockerfile does not exist yet"
      continue
    fi
    CONTEXT=$MLKUBE_ROOT/$context
    BUILD_ARGS=()
    if [ -n "$prepare" ] && ! ( "$prepare" ) 2>"$WORK_DIR/prepare.err"; then
      printf 'ERROR: %s\n' "$(sed 's/^ERROR: //' "$WORK_DIR/prepare.err")" >&2
      FAILED+=("$name:$tag")
      continue
    fi
    [ -z "$prepare" ] || "$prepare"
    build_image "$name:$tag" "$MLKUBE_ROOT/$dockerfile" "$CONTEXT" "${BUILD_ARGS[@]}"
  done < <(selected_specs)
  # Earlier builds of the project's images that a rebuild left untagged.
  docker image prune --force --filter "label=io.mlkube.image" >/dev/null
  step "images built in $((SECONDS - T0)) s"
}

# ------------------------------------------------------------------------------------------ load

local_cluster_ctl() {
  [ -x "$MLKUBE_CLUSTER_CTL" ] || die "the local cluster's control script is missing: $MLKUBE_CLUSTER_CTL"
  "$MLKUBE_CLUSTER_CTL" "$@"
}

# The local cluster's containerd (roles/local_cluster: CONTAINERD_SOCK under its state directory)
# names docker.io images in full, as the CRI does.
local_cluster_has_image() {
  local sock=${CLUSTER_STATE_DIR:-$MLKUBE_CACHE/cluster}/containerd/containerd.sock
  ctr --address "$sock" --namespace k8s.io images ls --quiet "name==docker.io/$1" 2>/dev/null | grep -q .
}

# Before `docker save` + import: Docker's export (its tmp dir), the archive, and containerd's content and
# unpacked snapshot each hold about the image's size. Summed per file system (they are often one), so a full
# disk stops here with one line instead of "no space left on device" halfway through an import.
check_disk_for_load() {
  local ref=$1 size dir dev need avail
  local -A need_by_dev=() dir_by_dev=()
  size=$(docker image inspect --format '{{.Size}}' "$ref")
  local docker_tmp cluster_dir=${CLUSTER_STATE_DIR:-$MLKUBE_CACHE/cluster}
  docker_tmp=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null)/tmp
  for dir in "$docker_tmp" "$WORK_DIR/archives" "$cluster_dir" "$cluster_dir"; do
    while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done
    dev=$(stat -c %d "$dir")
    need_by_dev[$dev]=$(( ${need_by_dev[$dev]:-0} + size ))
    dir_by_dev[$dev]=$dir
  done
  for dev in "${!need_by_dev[@]}"; do
    need=${need_by_dev[$dev]}
    avail=$(df --output=avail -B1 "${dir_by_dev[$dev]}" | tail -n 1)
    [ "$avail" -ge "$need" ] || die "not enough disk to load $ref ($(human_size "$size")): $(human_size "$need") needed" \
      "on the file system of ${dir_by_dev[$dev]}, $(human_size "$avail") free; free space with" \
      "'make local-cluster-purge' (an old cluster's images) or 'docker image prune'"
  done
}

# Loads one image into the local cluster's containerd unless the same image ID is already there.
load_local() {
  local ref=$1 id stamp archive t
  id=$(image_id "$ref")
  stamp=$WORK_DIR/loaded-local/${ref//[\/:]/_}
  if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && local_cluster_has_image "$ref"; then
    say "$ref already in the local cluster"
    return 0
  fi
  t=$SECONDS
  mkdir -p "$WORK_DIR/archives" "$(dirname "$stamp")"
  archive=$WORK_DIR/archives/${ref//[\/:]/_}.tar
  check_disk_for_load "$ref"
  docker save -o "$archive" "$ref"
  local_cluster_ctl import-image "$archive" >/dev/null || die "import of $ref into the local cluster failed: check 'make cluster-status'"
  rm -f "$archive"
  echo "$id" > "$stamp"
  say "imported $ref into the local cluster in $((SECONDS - t)) s"
  CHANGED=$((CHANGED + 1))
}

# The nodes the platform's pods run on: the workers (kind taints the control plane of a cluster with workers
# NoSchedule), or the one node of a single-node cluster. kind load copies an image to every node it is given, and
# each copy of the training image takes GBs.
kind_workload_nodes() {
  local nodes workers
  nodes=$(kind get nodes --name "$KIND_CLUSTER_NAME") || die "no kind cluster '$KIND_CLUSTER_NAME': run 'make cluster-up'"
  workers=$(grep -v -E -- '-control-plane[0-9]*$' <<<"$nodes" | paste -s -d, - || true)
  echo "${workers:-$(paste -s -d, - <<<"$nodes")}"
}

load_kind() {
  local ref=$1 out t
  t=$SECONDS
  [ -n "${KIND_NODES:-}" ] || KIND_NODES=$(kind_workload_nodes)
  # kind execs into its nodes with --privileged: the kind_cluster role's shim where the host cannot start such.
  out=$(PATH="$MLKUBE_ROOT/ansible/roles/kind_cluster/files/docker-shim:$PATH" \
    kind load docker-image "$ref" --name "$KIND_CLUSTER_NAME" --nodes "$KIND_NODES" 2>&1) \
    || die "kind load of $ref into cluster '$KIND_CLUSTER_NAME' failed: $out"
  if grep -q 'not yet present' <<<"$out"; then
    say "loaded $ref into kind/$KIND_CLUSTER_NAME ($KIND_NODES) in $((SECONDS - t)) s"
    CHANGED=$((CHANGED + 1))
  else
    say "$ref already in kind/$KIND_CLUSTER_NAME"
  fi
}

cmd_load() {
  local target=${1:?target: local, kind or none} name tag ref
  [ "$target" = none ] && return 0
  ensure_docker
  if [ "$target" = local ] && ! local_cluster_ctl status >/dev/null 2>&1; then
    die "the local cluster is not running: run 'make cluster-up', then load the images again"
  fi
  step "loading images into the $target cluster"
  while IFS='|' read -r name _ _ _ tag; do
    ref="$name:${tag:-$IMAGE_TAG}"
    [ -n "$(image_id "$ref")" ] || { say "skip $ref: not built"; continue; }
    case "$target" in
      local) load_local "$ref" ;;
      kind) load_kind "$ref" ;;
      *) die "unknown target '$target': use local, kind or none" ;;
    esac
  done < <(selected_specs)
  step "images loaded in $((SECONDS - T0)) s"
}

# ------------------------------------------------------------------------------------------ push

# What image references start with: host[:port][/path], lower-case path components (the charts' schemas
# check global.imageRegistry with the same pattern).
REGISTRY_PATTERN='^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$'

# The digest that the registry held for a repository when this engine last pushed or pulled the image.
repo_digest() {
  local repo=${2#docker.io/}
  docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$1" 2>/dev/null \
    | awk -v prefix="$repo@" 'index($0, prefix) == 1 { print substr($0, length(prefix) + 1); exit }' || true
}

# docker push uploads only the layers the registry lacks; the image counts as changed when a layer was
# uploaded (or mounted from another repository) or the tag now names another digest.
push_image() {
  local ref=$1 target=$2 before after log uploaded t
  log=$WORK_DIR/push-${ref//[\/:]/_}.log
  docker tag "$ref" "$target"
  before=$(repo_digest "$target" "${target%:*}")
  t=$SECONDS
  if ! docker push "$target" 2>&1 | tee "$log" | { grep --line-buffered -v -E ': (Preparing|Waiting)$' || true; } \
      | sed -u 's/^/    | /'; then
    die "docker push of $target failed (log: $log): check that the registry answers and 'docker login ${target%%/*}'"
  fi
  after=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' "$log" | tail -n 1)
  [ -n "$after" ] || die "docker push of $target reported no digest (log: $log)"
  uploaded=$(grep -c -E ': (Pushed|Mounted from .*)$' "$log" || true)
  if [ "$uploaded" -eq 0 ] && [ "$after" = "$before" ]; then
    say "$target already in the registry ($after)"
  else
    say "pushed $target in $((SECONDS - t)) s: $uploaded layers uploaded ($after)"
    CHANGED=$((CHANGED + 1))
  fi
}

cmd_push() {
  local registry=${1:-} name tag ref
  [[ "$registry" =~ $REGISTRY_PATTERN ]] \
    || die "registry '$registry' is not host[:port][/path] (no scheme, no trailing slash), e.g. registry.example:5000/team"
  mkdir -p "$WORK_DIR"
  ensure_docker
  step "pushing images to $registry"
  while IFS='|' read -r name _ _ _ tag; do
    ref="$name:${tag:-$IMAGE_TAG}"
    [ -n "$(image_id "$ref")" ] || { say "skip $ref: not built"; continue; }
    push_image "$ref" "$registry/$ref"
  done < <(selected_specs)
  step "images pushed in $((SECONDS - T0)) s"
}

cmd_list() {
  local name dockerfile tag
  while IFS='|' read -r name dockerfile _ _ tag; do
    if [ -f "$MLKUBE_ROOT/$dockerfile" ]; then echo "$name:${tag:-$IMAGE_TAG}"; fi
  done < <(selected_specs)
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    build) cmd_build ;;
    load) cmd_load "$@" ;;
    all) cmd_build; cmd_load "$@" ;;
    push) cmd_push "$@" ;;
    list) cmd_list; return 0 ;;
    base) ensure_docker; step "base image $(base_image)"; build_base_tarball; import_base ;;
    dockerd-stop) dockerd_stop ;;
    *) sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
  echo "mlkube-images: changed=$CHANGED"
  if [ "${#FAILED[@]}" -gt 0 ]; then
    printf 'ERROR: not built: %s (see the errors above)\n' "${FAILED[*]}" >&2
    exit 1
  fi
}
main "$@"
