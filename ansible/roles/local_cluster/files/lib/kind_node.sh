# shellcheck shell=bash
# What a kind node image needs from this build, made as the local cluster makes its own: kubeadm, kubelet and
# kubectl, and the images kubeadm and the node's containerd run (the control plane, etcd, CoreDNS, pause) as
# one-layer archives named as kubeadm asks for them with imageRepository $IMAGE_PREFIX (kind_cluster role's
# node image; kind's own `kind build node-image` pulls these from registries).

# kind_node_bits DIR — DIR/bin/{kubeadm,kubelet,kubectl,crictl}, DIR/images/*.tar, DIR/version (v<Kubernetes version>),
# DIR/kube-proxy and DIR/kube-router (their images also need the iptables and ipset tools: the kind_cluster role
# builds them on the Debian base).
kind_node_bits() {
  local dir="$1" k8s name
  k8s=$(k8s_dir)
  all_present "$k8s" "${K8S_BINARIES[@]}" kubeadm && all_present "$(etcd_dir)" etcd &&
    all_present "$(coredns_dir)" coredns && all_present "$(local_path_dir)" local-path-provisioner &&
    all_present "$(kube_router_dir)" kube-router && all_present "$(crictl_dir)" crictl ||
    die "binaries missing under $BIN_CACHE: the local_cluster role's build makes them (kind_cluster runs it first)"
  mkdir -p "$dir/bin" "$dir/images"
  for name in kubeadm kubelet kubectl; do install -m 0755 "$k8s/$name" "$dir/bin/$name"; done
  install -m 0755 "$(crictl_dir)/crictl" "$dir/bin/crictl"
  install -m 0755 "$k8s/kube-proxy" "$dir/kube-proxy"
  install -m 0755 "$(kube_router_dir)/kube-router" "$dir/kube-router"
  echo "v$KUBERNETES_VERSION" > "$dir/version"
  for name in kube-apiserver kube-controller-manager kube-scheduler; do
    kind_node_image "$IMAGE_PREFIX/$name:v$KUBERNETES_VERSION" "$dir/images/$name.tar" "/usr/local/bin/$name" "" \
      "$k8s/$name:/usr/local/bin/$name"
  done
  kind_node_image "$IMAGE_PREFIX/etcd:$ETCD_VERSION" "$dir/images/etcd.tar" /usr/local/bin/etcd "" \
    "$(etcd_dir)/etcd:/usr/local/bin/etcd"
  # kubeadm's CoreDNS runs as a non-root user with NET_BIND_SERVICE added (upstream's image carries the file
  # capability); the local cluster's drops every capability, so this is a tag of its own.
  FILE_CAPS=cap_net_bind_service=+ep kind_node_image "$IMAGE_PREFIX/coredns:$COREDNS_VERSION-kind" \
    "$dir/images/coredns.tar" /coredns 65532:65532 "$(coredns_dir)/coredns:/coredns" 53/udp 53/tcp
  cp "$(build_pause_image)" "$dir/images/pause.tar"
  # The default StorageClass's provisioner and the helper pods it starts (the node image's default-storage.yaml).
  kind_node_image "$IMAGE_PREFIX/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION" \
    "$dir/images/local-path-provisioner.tar" /local-path-provisioner "" \
    "$(local_path_dir)/local-path-provisioner:/local-path-provisioner"
  cp "$(build_local_path_helper_image)" "$dir/images/local-path-helper.tar"
  step "kind node bits ready in $dir"
}

# kind_node_image NAME ARCHIVE ... — pack_image, skipped when ARCHIVE is already there.
kind_node_image() {
  [ -f "$2" ] && return
  step "image $1"
  pack_image "$@"
}
