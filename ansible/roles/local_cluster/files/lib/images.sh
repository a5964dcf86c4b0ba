# shellcheck shell=bash
# Images the cluster itself needs, built here without a registry: a static binary in a one-layer image
# (umoci builds it, skopeo writes the archive), imported into the cluster's containerd.

IMAGES_DIR() { echo "$MLKUBE_CACHE/cluster-images"; }

image_present() { [ -n "$(ctr_k8s images ls -q "name==$(docker_name "$1")")" ]; }

# docker.io normalisation, as containerd's CRI does for pod specs: mlkube/x:1 -> docker.io/mlkube/x:1.
docker_name() {
  local first="${1%%/*}"
  if [[ "$1" != */* ]]; then echo "docker.io/library/$1"
  elif [[ "$first" == *[.:]* || "$first" == localhost ]]; then echo "$1"
  else echo "docker.io/$1"; fi
}

# pack_image NAME ARCHIVE ENTRYPOINT USER SOURCE:DEST [PORT/PROTO...] — one file (mode 0755) in a one-layer image:
# umoci makes the OCI layout, skopeo writes it as a docker-save archive, whose tag names the image on import.
# FILE_CAPS (environment, setcap's syntax) gives the file capabilities, as upstream images give CoreDNS
# cap_net_bind_service: a non-root user's process gets a pod's added capabilities only through them.
pack_image() {
  local name="$1" archive="$2" entrypoint="$3" user="$4" file="$5" work port; shift 5
  work=$(mktemp -d "$archive.XXXXXX")
  umoci init --layout "$work/layout"
  umoci new --image "$work/layout:image"
  umoci unpack --image "$work/layout:image" "$work/bundle" >/dev/null
  install -D -m 0755 "${file%%:*}" "$work/bundle/rootfs${file#*:}"
  [ -z "${FILE_CAPS:-}" ] || setcap "$FILE_CAPS" "$work/bundle/rootfs${file#*:}"
  umoci repack --image "$work/layout:image" "$work/bundle"
  local config=(--config.entrypoint "$entrypoint")
  [ -z "$user" ] || config+=(--config.user "$user")
  for port in "$@"; do config+=(--config.exposedports "$port"); done
  umoci config --image "$work/layout:image" "${config[@]}"
  rm -f "$archive"
  skopeo copy --quiet "oci:$work/layout:image" "docker-archive:$archive:$(docker_name "$name")"
  rm -rf "$work"
}

# import_archives FILE... — docker-save or OCI archives into the k8s.io namespace.
import_archives() {
  local archive
  for archive in "$@"; do
    [ -f "$archive" ] || die "image archive not found: $archive"
    ctr_k8s images import --digests=false "$archive" | sed 's/^/    /'
  done
}

# Kubernetes' own pause (build/pause/linux/pause.c of the k8s.io/kubernetes module that the cluster build
# downloads), compiled static as upstream's image is.
build_pause_image() {
  local dir pause_c; dir=$(IMAGES_DIR)/pause-$KUBERNETES_VERSION-$IMAGE_TAG
  if [ ! -f "$dir/pause.tar" ]; then
    mkdir -p "$dir"
    pause_c=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')/build/pause/linux/pause.c
    [ -f "$pause_c" ] || die "no $pause_c in the k8s.io/kubernetes module"
    gcc -Os -Wall -static -DVERSION="v$KUBERNETES_VERSION" -o "$dir/pause" "$pause_c"
    strip "$dir/pause"
    pack_image "$PAUSE_IMAGE" "$dir/pause.tar" /pause 65535:65535 "$dir/pause:/pause"
  fi
  echo "$dir/pause.tar"
}

build_coredns_image() {
  local dir; dir=$(IMAGES_DIR)/$(basename "$(coredns_dir)")
  if [ ! -f "$dir/coredns.tar" ]; then
    mkdir -p "$dir"
    pack_image "$COREDNS_IMAGE" "$dir/coredns.tar" /coredns 65532:65532 "$(coredns_dir)/coredns:/coredns" \
      53/udp 53/tcp
  fi
  echo "$dir/coredns.tar"
}

# The volume provisioner's helper pods run `sh /script/setup` (mkdir, chmod, rm): Debian's static busybox as /bin/sh
# is all they need (busybox runs its applets without a PATH).
build_local_path_helper_image() {
  local busybox dir; busybox=$(command -v busybox)
  dir=$(IMAGES_DIR)/local-path-helper-$IMAGE_TAG-$(sha256sum "$busybox" | cut -c1-12)
  if [ ! -f "$dir/helper.tar" ]; then
    mkdir -p "$dir"
    pack_image "$LOCAL_PATH_HELPER_IMAGE" "$dir/helper.tar" /bin/sh "" "$busybox:/bin/sh"
  fi
  echo "$dir/helper.tar"
}

ensure_system_images() {
  local image archive
  for image in pause coredns local_path_helper; do
    local name_var; name_var="$(tr '[:lower:]' '[:upper:]' <<< "$image")_IMAGE"
    if image_present "${!name_var}"; then
      say "image ${!name_var} already imported"
      continue
    fi
    step "image ${!name_var}: build and import"
    archive=$("build_${image}_image")
    import_archives "$archive"
    # shellcheck disable=SC2034 # read by cluster.sh, which sources this file
    CHANGED=1
  done
}
