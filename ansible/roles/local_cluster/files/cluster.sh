#!/usr/bin/env bash
# mlkube local cluster: a single-node Kubernetes built from Kubernetes' own Go modules, running as
# plain background processes on this machine (no systemd, no container registry).
#
#   cluster.sh up                   start the control plane and the node; idempotent, prints each step with its timing
#   cluster.sh controllers          start the host-side controllers (policies, volumes, fake GPU nodes) once the role
#                                   applied what they read
#   cluster.sh down [--purge]       stop everything and clean the host; --purge also deletes the state
#   cluster.sh status               components, nodes and system pods
#   cluster.sh import-image FILE... import docker-save or OCI archives into the cluster's containerd
#   cluster.sh has-image REF        exit 0 if the image (e.g. mlkube/model-server:0.1.0) is imported
#   cluster.sh kubeconfig           print the admin kubeconfig path
#   cluster.sh kubectl ARGS...      kubectl with the admin kubeconfig
#
# Settings come from $STATE_DIR/cluster.env, which the role writes (its local_cluster_settings): the cluster's shape,
# ports, images and binaries. The role also writes the certificates, the components' configuration files and the
# host's network, applies the add-ons and installs the node's Debian packages; this script only checks for them.
set -euo pipefail
# Components inherit this: a stricter umask would leave containerd's image snapshots unreadable
# to the non-root users pods run as.
umask 022

FILES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export FILES_DIR

export MLKUBE_ROOT=${MLKUBE_ROOT:-$(cd "$FILES_DIR/../../../.." && pwd)}
export MLKUBE_CACHE=${MLKUBE_CACHE:-$MLKUBE_ROOT/.cache}
export STATE_DIR=${CLUSTER_STATE_DIR:-$MLKUBE_CACHE/cluster}

# shellcheck source=lib/common.sh
. "$FILES_DIR/lib/common.sh"
for lib in network processes components images teardown; do
  # shellcheck source=/dev/null
  . "$FILES_DIR/lib/$lib.sh"
done

preflight() {
  [ "$(id -u)" = 0 ] || die "the local cluster needs root (iptables, mounts, cgroups); run as root"
  local binary
  for binary in ${CLUSTER_BINARIES:-none}; do
    [ -x "$binary" ] || die "cluster binary missing ($binary): the role builds them and names them (make local-cluster-up)"
  done
  local missing
  missing=$(host_tools_missing) || die "host tools missing ($missing): run 'make local-cluster-deps' first"
  [ -f "$KUBECONFIG_ADMIN" ] && [ -f "$STATE_DIR/pki/sa.pub" ] ||
    die "certificates missing under $STATE_DIR/pki: the role writes them (make local-cluster-up)"
  local file
  for file in containerd.toml kubelet.yaml resolv.conf kube-proxy.yaml local-path-config.json local-path-helper-pod.yaml; do
    [ -f "$STATE_DIR/config/$file" ] || die "configuration missing ($STATE_DIR/config/$file): the role writes it (make local-cluster-up)"
  done
}

# What the role's Debian packages (local_cluster_packages) bring that this script runs.
host_tools_missing() {
  local tool missing=()
  for tool in containerd runc iptables ipset conntrack ip curl dig; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ -x "$CNI_BIN_DIR/bridge" ] || missing+=("$CNI_BIN_DIR/bridge")
  echo "${missing[*]}"
  [ "${#missing[@]}" -eq 0 ]
}

cmd_up() {
  local t0=$SECONDS
  CHANGED=0
  preflight
  mkdir -p "$STATE_DIR/config" "$LOG_DIR" "$STATE_DIR/run"
  network_routes_present ||
    die "the host network ($HOST_BRIDGE, routes to $SERVICE_CIDR and $POD_CIDR) is not set up: the role does it (make cluster-up)"
  start_containerd
  ensure_system_images
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  local kubelet_since; kubelet_since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  component_running kubelet && kubelet_since=1970-01-01T00:00:00Z
  start_kubelet
  wait_for 90 node_ready_since "$NODE_NAME" "$kubelet_since" ||
    fail_component kubelet "node $NODE_NAME is not Ready after 90 s"
  say "node $NODE_NAME Ready"
  start_kube_proxy
  if [ "$CHANGED" = 0 ]; then
    step "node already up: nothing changed ($((SECONDS - t0)) s)"
  else
    step "control plane and node up in $((SECONDS - t0)) s — kubeconfig: $KUBECONFIG_ADMIN"
  fi
}

# What reads the add-ons the role applies after `up`: NetworkPolicy enforcement, volumes, the fake GPU nodes.
cmd_controllers() {
  CHANGED=0
  preflight
  step "NetworkPolicy enforcement (kube-router $KUBE_ROUTER_VERSION's policy controller on the host)"
  start_network_policy_controller
  step "default StorageClass 'standard': its host-side provisioner"
  start_provisioner
  step "KWOK controller for $FAKE_GPU_NODES fake GPU node(s) with $FAKE_GPUS_PER_NODE x nvidia.com/gpu"
  start_kwok
  if [ "$CHANGED" = 0 ]; then step "controllers already running: nothing changed"; else step "controllers running"; fi
}

cmd_status() {
  local name pid state rc=0
  printf '%-24s %s\n' COMPONENT STATE
  for name in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy \
      kube-router local-path-provisioner kwok; do
    if pid=$(component_pid "$name"); then state="running (pid $pid)"; else state="stopped"; rc=3; fi
    printf '%-24s %s\n' "$name" "$state"
  done
  if component_running kube-apiserver && apiserver_ready >/dev/null 2>&1; then
    echo
    kubectl_admin get nodes -o wide
    echo
    kubectl_admin get pods -n kube-system -o wide
  fi
  echo
  echo "kubeconfig: $KUBECONFIG_ADMIN"
  echo "logs:       $LOG_DIR"
  return "$rc"
}

cmd_import_image() {
  [ "$#" -gt 0 ] || die "usage: $0 import-image ARCHIVE... (docker save or OCI archive)"
  containerd_ready >/dev/null 2>&1 || die "the cluster's containerd is not running: run '$0 up' first"
  step "importing $# image archive(s) into the cluster's containerd"
  import_archives "$@"
}

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

# up and down change shared host state: one at a time, whoever calls (make, Ansible, a test).
take_lock() {
  mkdir -p "$MLKUBE_CACHE"
  exec 9>"$MLKUBE_CACHE/cluster.lock"
  if ! flock -n 9; then
    say "another cluster.sh up/down is running: waiting for it (up to 30 min)"
    flock -w 1800 9 || die "gave up waiting for the lock $MLKUBE_CACHE/cluster.lock"
  fi
}

main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in -h|--help|help|'') ;; *)
    if [ ! -f "$STATE_DIR/cluster.env" ]; then
      echo "no local cluster set up here ($STATE_DIR/cluster.env missing): the role writes it (make cluster-up)" >&2
      exit 3
    fi
    # shellcheck source=/dev/null
    . "$STATE_DIR/cluster.env" ;;
  esac
  case "$cmd" in up|controllers|down) take_lock ;; esac
  case "$cmd" in
    up) cmd_up ;;
    controllers) cmd_controllers ;;
    down) cluster_down "${1:-}"; step "cluster down" ;;
    status) cmd_status ;;
    import-image) cmd_import_image "$@" ;;
    has-image)
      [ "$#" = 1 ] || die "usage: $0 has-image REF"
      containerd_ready >/dev/null 2>&1 || die "the cluster's containerd is not running: run '$0 up' first"
      image_present "$1" ;;
    kubeconfig) echo "$KUBECONFIG_ADMIN" ;;
    kubectl) kubectl_admin "$@" ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
