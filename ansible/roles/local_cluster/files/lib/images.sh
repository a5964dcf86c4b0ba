# shellcheck shell=bash
# Images the cluster itself needs, packed by the role (tasks/system_images.yml) and imported here into the
# cluster's containerd once it runs.

image_present() { [ -n "$(ctr_k8s images ls -q "name==$(docker_name "$1")")" ]; }

# docker.io normalisation, as containerd's CRI does for pod specs: mlkube/x:1 -> docker.io/mlkube/x:1.
docker_name() {
  local first="${1%%/*}"
  if [[ "$1" != */* ]]; then echo "docker.io/library/$1"
  elif [[ "$first" == *[.:]* || "$first" == localhost ]]; then echo "$1"
  else echo "docker.io/$1"; fi
}

# import_archives FILE... — docker-save or OCI archives into the k8s.io namespace.
import_archives() {
  local archive
  for archive in "$@"; do
    [ -f "$archive" ] || die "image archive not found: $archive"
    ctr_k8s images import --digests=false "$archive" | sed 's/^/    /'
  done
}

# CLUSTER_SYSTEM_IMAGES: REF=ARCHIVE pairs (pause, CoreDNS, the volume helper), from the role.
ensure_system_images() {
  local pair
  for pair in ${CLUSTER_SYSTEM_IMAGES:?the role gives the cluster\'s own images (local_cluster: tasks/system_images.yml)}; do
    if image_present "${pair%%=*}"; then
      say "image ${pair%%=*} already imported"
      continue
    fi
    step "image ${pair%%=*}: import"
    import_archives "${pair#*=}"
    # shellcheck disable=SC2034 # read by cluster.sh, which sources this file
    CHANGED=1
  done
}
