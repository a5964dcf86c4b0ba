# shellcheck shell=bash
# Builds the cluster's binaries from their Go modules into a version-keyed cache:
#   $BIN_CACHE/<component>-<version>/<binary>
# Each component gets its own wrapper module so that Go's minimal version selection never mixes
# the dependency graphs of Kubernetes, etcd, CoreDNS and kwok.

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

k8s_dir()     { echo "$BIN_CACHE/kubernetes-$KUBERNETES_VERSION"; }
etcd_dir()    { echo "$BIN_CACHE/etcd-$ETCD_VERSION"; }
# Keyed by the plugin set too: a changed coredns/main.go is a new build.
coredns_dir() { echo "$BIN_CACHE/coredns-$COREDNS_VERSION-$(sha256sum "$FILES_DIR/coredns/main.go" | cut -c1-8)"; }
kwok_dir()    { echo "$BIN_CACHE/kwok-$KWOK_VERSION"; }
local_path_dir() { echo "$BIN_CACHE/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION"; }
kube_router_dir() { echo "$BIN_CACHE/kube-router-$KUBE_ROUTER_VERSION"; }
crictl_dir() { echo "$BIN_CACHE/crictl-$CRICTL_VERSION"; }

K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

# Creates the Kubernetes wrapper module: one replace line per staging module that
# k8s.io/kubernetes's own go.mod requires at v0.0.0, pointing at the published v0.<minor>.<patch>.
k8s_wrapper() {
  local dir="$1" staging="0.${KUBERNETES_VERSION#1.}" upstream_mod module
  mkdir -p "$dir"
  (
    cd "$dir" || exit
    printf 'module mlkube.local/k8sbuild\n\ngo %s\n\ngodebug default=go%s\n' \
      "$GO_K8S_WRAPPER_GO" "${GO_K8S_WRAPPER_GO%.*}" > go.mod
    upstream_mod=$(go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
    for module in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$upstream_mod" | sort -u); do
      go mod edit -replace="$module=$module@v$staging"
    done
    go mod edit -require="k8s.io/kubernetes@v$KUBERNETES_VERSION"
    {
      echo '//go:build tools'
      echo 'package tools'
      echo 'import ('
      for binary in "${K8S_BINARIES[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$binary\""; done
      echo ')'
    } > tools.go
    go mod tidy
  )
}

build_kubernetes() {
  local out; out=$(k8s_dir)
  if all_present "$out" "${K8S_BINARIES[@]}"; then say "kubernetes $KUBERNETES_VERSION: cached in $out"; return; fi
  local work="$BUILD_CACHE/kubernetes-$KUBERNETES_VERSION" minor ldflags pkg binary t0
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  if ! wrapper_lists_all "$work"; then
    step "kubernetes $KUBERNETES_VERSION: wrapper module"
    k8s_wrapper "$work"
  fi
  # Version stamps as upstream's hack/lib/version.sh sets them; the minor must match the source.
  ldflags="-s -w"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X '$pkg.gitVersion=v$KUBERNETES_VERSION' -X '$pkg.gitMajor=1' -X '$pkg.gitMinor=$minor'"
    ldflags+=" -X '$pkg.gitTreeState=clean'"
  done
  mkdir -p "$out"
  for binary in "${K8S_BINARIES[@]}"; do
    [ -x "$out/$binary" ] && continue
    t0=$SECONDS
    step "kubernetes $KUBERNETES_VERSION: go build $binary"
    (cd "$work" && go build -trimpath -tags selinux,notest -ldflags "all=$ldflags" \
      -o "$out/$binary.partial" "k8s.io/kubernetes/cmd/$binary")
    mv "$out/$binary.partial" "$out/$binary"
    say "built $binary in $((SECONDS - t0)) s"
  done
}

build_etcd() {
  local out; out=$(etcd_dir)
  if all_present "$out" etcd; then say "etcd $ETCD_VERSION: cached in $out"; return; fi
  local work="$BUILD_CACHE/etcd-$ETCD_VERSION"
  step "etcd $ETCD_VERSION: wrapper module and go build"
  mkdir -p "$work" "$out.partial"
  (
    cd "$work" || exit
    printf 'module mlkube.local/etcdbuild\n\ngo 1.24\n' > go.mod
    printf '//go:build tools\npackage tools\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
    # Pin explicitly: an unpinned tidy picks the newest etcd, not the 3.6 line Kubernetes 1.34 pairs with.
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    go mod tidy
    go build -trimpath -ldflags "-s -w" -o "$out.partial/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$out" && mv "$out.partial" "$out"
}

# CoreDNS with only the plugins the cluster's Corefile uses: no cloud-provider SDKs to download.
build_coredns() {
  local out; out=$(coredns_dir)
  if all_present "$out" coredns; then say "coredns $COREDNS_VERSION: cached in $out"; return; fi
  local work="$BUILD_CACHE/coredns-$COREDNS_VERSION"
  step "coredns $COREDNS_VERSION: wrapper main with a reduced plugin set"
  mkdir -p "$work" "$out.partial"
  cp "$FILES_DIR/coredns/main.go" "$work/main.go"
  (
    cd "$work" || exit
    printf 'module mlkube.local/corednsbuild\n\ngo 1.24\n' > go.mod
    go get "github.com/coredns/coredns@v$COREDNS_VERSION"
    go mod tidy
    go build -trimpath -ldflags "-s -w" -o "$out.partial/coredns" .
  )
  rm -rf "$out" && mv "$out.partial" "$out"
}

# go_install_cached NAME VERSION DIR PACKAGE — DIR/NAME built by `go install PACKAGE@vVERSION`, unless already there.
go_install_cached() {
  local name="$1" version="$2" out="$3" package="$4"
  if all_present "$out" "$name"; then say "$name $version: cached in $out"; return; fi
  step "$name $version: go install"
  mkdir -p "$out.partial"
  GOBIN="$out.partial" go install -trimpath -ldflags "-s -w" "$package@v$version"
  rm -rf "$out" && mv "$out.partial" "$out"
}

build_kwok() { go_install_cached kwok "$KWOK_VERSION" "$(kwok_dir)" sigs.k8s.io/kwok/cmd/kwok; }

build_local_path_provisioner() {
  go_install_cached local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" "$(local_path_dir)" \
    github.com/rancher/local-path-provisioner
}

build_kube_router() {
  go_install_cached kube-router "$KUBE_ROUTER_VERSION" "$(kube_router_dir)" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
}

# crictl for the kind node image (lib/kind_node.sh); the local cluster does not use it.
build_crictl() { go_install_cached crictl "$CRICTL_VERSION" "$(crictl_dir)" sigs.k8s.io/cri-tools/cmd/crictl; }

wrapper_lists_all() {
  local work="$1" binary
  [ -f "$work/go.sum" ] || return 1
  for binary in "${K8S_BINARIES[@]}"; do grep -q "cmd/$binary\"" "$work/tools.go" || return 1; done
}

all_present() {
  local dir="$1"; shift
  local binary
  for binary in "$@"; do [ -x "$dir/$binary" ] || return 1; done
}
