# shellcheck shell=bash
# Images the cluster itself needs, built here without a registry: a static binary in a one-layer
# OCI archive (oci_image.py), imported into the cluster's containerd.

IMAGES_DIR() { echo "$MLKUBE_CACHE/cluster-images"; }

image_present() { [ -n "$(ctr_k8s images ls -q "name==$(docker_name "$1")")" ]; }

# docker.io normalisation, as containerd's CRI does for pod specs.
docker_name() {
  python3 "$FILES_DIR/oci_image.py" --normalise "$1"
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
    python3 "$FILES_DIR/oci_image.py" --name "$PAUSE_IMAGE" --out "$dir/pause.tar" \
      --file "$dir/pause:/pause" --entrypoint /pause --user 65535:65535 >/dev/null
  fi
  echo "$dir/pause.tar"
}

build_coredns_image() {
  local dir; dir=$(IMAGES_DIR)/coredns-$COREDNS_VERSION
  if [ ! -f "$dir/coredns.tar" ]; then
    mkdir -p "$dir"
    python3 "$FILES_DIR/oci_image.py" --name "$COREDNS_IMAGE" --out "$dir/coredns.tar" \
      --file "$(coredns_dir)/coredns:/coredns" --entrypoint /coredns --user 65532:65532 \
      --port 1053/udp --port 1053/tcp >/dev/null
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
    python3 "$FILES_DIR/oci_image.py" --name "$LOCAL_PATH_HELPER_IMAGE" --out "$dir/helper.tar" \
      --file "$busybox:/bin/sh" --entrypoint /bin/sh >/dev/null
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
