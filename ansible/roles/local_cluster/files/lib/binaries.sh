# shellcheck shell=bash
# Where the role's build (tasks/build.yml) puts each binary: a directory per version under BIN_CACHE.

k8s_dir()     { echo "$BIN_CACHE/kubernetes-$KUBERNETES_VERSION"; }
etcd_dir()    { echo "$BIN_CACHE/etcd-$ETCD_VERSION"; }
coredns_dir() { echo "$BIN_CACHE/coredns-$COREDNS_VERSION-$(sha256sum "$FILES_DIR/coredns/main.go" | cut -c1-8)"; }
kwok_dir()    { echo "$BIN_CACHE/kwok-$KWOK_VERSION"; }
local_path_dir() { echo "$BIN_CACHE/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION"; }
kube_router_dir() { echo "$BIN_CACHE/kube-router-$KUBE_ROUTER_VERSION"; }
crictl_dir() { echo "$BIN_CACHE/crictl-$CRICTL_VERSION"; }

# shellcheck disable=SC2034 # read by cluster.sh and kind_node.sh, which source this file
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

all_present() {
  local dir="$1"; shift
  local binary
  for binary in "$@"; do [ -x "$dir/$binary" ] || return 1; done
}
