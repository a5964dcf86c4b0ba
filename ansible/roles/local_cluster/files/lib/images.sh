# shellcheck shell=bash
# Images the cluster itself needs, packed by the role (tasks/system_images.yml) and imported here into the
# cluster's containerd once it runs.

# REF as written in pod specs, or as containerd names it after docker.io normalisation (the role packs each archive
# with its full name): several filters match any of them.
image_present() { [ -n "$(ctr_k8s images ls -q "name==$1" "name==docker.io/$1" "name==docker.io/library/$1")" ]; }

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
