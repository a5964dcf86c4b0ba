# shellcheck shell=bash
# Tear-down: everything `up` started or created goes away; state on disk (etcd data, images,
# certificates, volumes) stays for a quick warm start unless `down --purge` is asked for.

# Containers of the cluster's containerd: kill every task so that no shim or pod process survives.
remove_containers() {
  containerd_ready >/dev/null 2>&1 || return 0
  local id count=0
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
    count=$((count + 1))
  done
  sleep 1
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks delete --force "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_k8s containers ls -q 2>/dev/null); do
    ctr_k8s containers delete "$id" >/dev/null 2>&1 || true
  done
  [ "$count" -eq 0 ] || say "killed $count container task(s)"
}

# Shims of our containerd outlive it by design; find them by the socket they serve.
stop_leftover_shims() {
  local pid cmdline
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    cmdline=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline") || continue
    case "$cmdline" in
      *containerd-shim*"-address $CONTAINERD_SOCK "*)
        kill -KILL "$pid" 2>/dev/null && say "stopped leftover shim (pid $pid)" ;;
    esac
  done
}

unmount_state() {
  local target count=0
  # Deepest first; lazy so that a busy mount cannot block the rest.
  for target in $(findmnt -rn -o TARGET | grep -F "$STATE_DIR/" | sort -r || true); do
    umount -l "$target" 2>/dev/null && count=$((count + 1))
  done
  [ "$count" -eq 0 ] || say "unmounted $count mount(s) under $STATE_DIR"
  # Pod network namespaces are bind-mount targets; once unmounted, the files are just leftovers.
  rm -f "$STATE_DIR"/containerd/state/io.containerd.grpc.v1.cri/netns/cni-*
}

remove_cgroups() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy$CGROUP_ROOT" ] || continue
    find "$hierarchy$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

kube_proxy_cleanup() {
  [ -x "$(k8s_bin kube-proxy)" ] || return 0
  "$(k8s_bin kube-proxy)" --cleanup >> "$LOG_DIR/kube-proxy.log" 2>&1 || true
}

cluster_down() {
  local purge="${1:-}"
  step "stopping controllers and the node agents"
  local name
  for name in kwok local-path-provisioner kube-router kubelet kube-proxy kube-scheduler kube-controller-manager; do
    stop_component "$name"
  done
  step "removing containers"
  remove_containers
  stop_component containerd
  stop_leftover_shims
  step "stopping the control plane"
  stop_component kube-apiserver
  stop_component etcd
  step "cleaning the host: iptables rules, mounts, bridges, routes, cgroups"
  kube_proxy_cleanup
  unmount_state
  network_down "$purge"
  remove_cgroups
  if [ "$purge" = "--purge" ]; then
    step "purging state under $STATE_DIR (binaries and image archives stay cached)"
    rm -rf "${STATE_DIR:?}"
  fi
}
