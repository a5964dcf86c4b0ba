# shellcheck shell=bash
# The cluster's components: how each is started and how its readiness is checked.

k8s_bin() { echo "$K8S_BIN_DIR/$1"; }
kubectl_admin() { "$(k8s_bin kubectl)" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
https_ok() { curl -fsk --max-time 3 "$1" >/dev/null; }

containerd_ready() { ctr --address "$CONTAINERD_SOCK" version; }
etcd_ready()       { curl -fs --max-time 3 "http://$NODE_IP:$ETCD_CLIENT_PORT/readyz"; }
apiserver_ready()  { kubectl_admin get --raw /readyz; }
controller_manager_ready() { https_ok "https://$NODE_IP:10257/healthz"; }
scheduler_ready()  { https_ok "https://$NODE_IP:10259/healthz"; }
kubelet_ready()    { curl -fs --max-time 3 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"; }
kube_proxy_ready() { curl -fs --max-time 3 "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz"; }
kwok_ready()       { curl -fs --max-time 3 "http://127.0.0.1:$KWOK_HEALTHZ_PORT/healthz"; }
kube_router_ready() { curl -fs --max-time 3 "http://127.0.0.1:$KUBE_ROUTER_HEALTH_PORT/healthz"; }
# Ready once the current run (after its log's last start marker) has started its controller.
provisioner_ready() {
  awk '/^==== .* starting /{up=0} /Started provisioner controller/{up=1} END{exit !up}' \
    "$LOG_DIR/local-path-provisioner.log"
}

start_containerd() {
  mkdir -p "$STATE_DIR/containerd"
  ensure_component containerd 30 containerd_ready -- \
    "$(command -v containerd)" --config "$STATE_DIR/config/containerd.toml"
}

start_etcd() {
  ensure_component etcd 60 etcd_ready -- "$ETCD_BIN" \
    --name "$NODE_NAME" --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "http://$NODE_IP:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://$NODE_IP:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://$NODE_IP:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://$NODE_IP:$ETCD_PEER_PORT" \
    --initial-cluster "$NODE_NAME=http://$NODE_IP:$ETCD_PEER_PORT" \
    --listen-metrics-urls "http://127.0.0.1:$ETCD_METRICS_PORT" \
    --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
}

start_apiserver() {
  local pki="$STATE_DIR/pki"
  ensure_component kube-apiserver 120 apiserver_ready -- "$(k8s_bin kube-apiserver)" \
    --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port=6443 \
    --etcd-servers="http://$NODE_IP:$ETCD_CLIENT_PORT" \
    --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
    --allow-privileged=true --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --client-ca-file="$pki/ca.crt" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --requestheader-client-ca-file="$pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" \
    --proxy-client-key-file="$pki/front-proxy-client.key" \
    --profiling=false --event-ttl=1h --v=1
}

start_controller_manager() {
  local pki="$STATE_DIR/pki" kubeconfig="$STATE_DIR/config/controller-manager.kubeconfig"
  ensure_component kube-controller-manager 60 controller_manager_ready -- \
    "$(k8s_bin kube-controller-manager)" \
    --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" \
    --authorization-kubeconfig="$kubeconfig" \
    --bind-address="$NODE_IP" --leader-elect=false \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$POD_CIDR" \
    --allocate-node-cidrs=false --profiling=false --v=1
}

start_scheduler() {
  local kubeconfig="$STATE_DIR/config/scheduler.kubeconfig"
  ensure_component kube-scheduler 60 scheduler_ready -- "$(k8s_bin kube-scheduler)" \
    --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" \
    --authorization-kubeconfig="$kubeconfig" \
    --bind-address="$NODE_IP" --leader-elect=false --profiling=false --v=1
}

# kubelet wants its cgroupRoot to exist in every mounted v1 hierarchy. A new cpuset cgroup starts
# with no CPUs and no memory nodes: give it its parent's.
ensure_cgroup_root() {
  local hierarchy file
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy" ] && [ "$(basename "$hierarchy")" != unified ] || continue
    mkdir -p "$hierarchy$CGROUP_ROOT"
  done
  for file in cpuset.cpus cpuset.mems; do
    [ -f "/sys/fs/cgroup/cpuset/$CGROUP_ROOT/$file" ] || continue
    [ -n "$(cat "/sys/fs/cgroup/cpuset/$CGROUP_ROOT/$file")" ] ||
      cat "/sys/fs/cgroup/cpuset/$file" > "/sys/fs/cgroup/cpuset/$CGROUP_ROOT/$file"
  done
}

start_kubelet() {
  ensure_cgroup_root
  ensure_component kubelet 60 kubelet_ready -- "$(k8s_bin kubelet)" \
    --config="$STATE_DIR/config/kubelet.yaml" \
    --kubeconfig="$STATE_DIR/config/kubelet.kubeconfig" \
    --root-dir="$STATE_DIR/kubelet" --cert-dir="$STATE_DIR/kubelet/pki" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --node-labels="mlkube.io/node-pool=cpu" --v=1
}

start_kube_proxy() {
  ensure_component kube-proxy 60 kube_proxy_ready -- "$(k8s_bin kube-proxy)" \
    --config="$STATE_DIR/config/kube-proxy.yaml" --v=1
}

start_kwok() {
  local i
  if ! component_running kwok; then
    # A new kwok process has a new lease identity: it would wait for the old holder's leases to
    # expire (40 s) before playing the nodes again.
    for i in $(seq 1 "$FAKE_GPU_NODES"); do
      kubectl_admin -n kube-node-lease delete lease "$FAKE_GPU_NODE_PREFIX-$i" --ignore-not-found >/dev/null
    done
  fi
  ensure_component kwok 60 kwok_ready -- "$KWOK_BIN" \
    --kubeconfig="$KUBECONFIG_ADMIN" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --config="$FILES_DIR/kwok-stages.yaml" \
    --cidr="$FAKE_POD_CIDR" --node-ip="$NODE_IP" \
    --node-lease-duration-seconds=40 \
    --server-address="127.0.0.1:$KWOK_HEALTHZ_PORT"
}

# rancher's local-path-provisioner as a host process: the node is this machine, so its volumes directory is a
# shared filesystem for the provisioner (Immediate binding, any access mode). Each volume's directory is made
# (mode 0777: restricted pods run as arbitrary users) and removed by a helper pod on the real node.
# Its helper pods' logs are not copied into its log: upstream reads them with an in-cluster client, so each volume
# logs "failed to save ... logs" (harmless; the helper's exit status is what counts).
start_provisioner() {
  local helper_pod="$STATE_DIR/config/local-path-helper-pod.yaml"
  mkdir -p "$VOLUMES_DIR"
  # It watches its config file, but reads the helper pod's only at start: one the role wrote since is read anew.
  [ "$helper_pod" -ot "$(pid_file local-path-provisioner)" ] || stop_component local-path-provisioner
  stop_component hostpath-provisioner  # the hand-written provisioner of clusters brought up before this one
  ensure_component local-path-provisioner 60 provisioner_ready -- "$LOCAL_PATH_PROVISIONER_BIN" \
    start --kubeconfig "$STATE_DIR/config/local-path-provisioner.kubeconfig" \
    --config "$STATE_DIR/config/local-path-config.json" \
    --helper-pod-file "$STATE_DIR/config/local-path-helper-pod.yaml" \
    --helper-image "$LOCAL_PATH_HELPER_IMAGE" --provisioner-name "$PROVISIONER_NAME" \
    --namespace kube-system --configmap-name local-path-config --service-account-name local-path-helper
}

# NetworkPolicies are enforced by kube-router's policy controller alone (no routing, no service proxy, no CNI):
# iptables chains and ipsets in the host's filter table, which the pods' bridged traffic traverses.
# Traffic from the node itself (kubelet probes, port-forwards, the tests on this machine) is always allowed.
# A new pod's address joins the policies' ipsets on kube-router's next sync, triggered by the pod's update: a
# connection made within that moment of a pod's start (before the sync) is refused where a policy selects by pod.
start_network_policy_controller() {
  ensure_component kube-router 60 kube_router_ready -- "$KUBE_ROUTER_BIN" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --enable-pod-egress=false --enable-ipv6=false \
    --kubeconfig="$STATE_DIR/config/kube-router.kubeconfig" --hostname-override="$NODE_NAME" \
    --service-cluster-ip-range="$SERVICE_CIDR" --health-port="$KUBE_ROUTER_HEALTH_PORT" --v=1
}

# node_ready_since NAME TIME — Ready, as reported by a heartbeat at or after TIME (UTC, RFC 3339):
# after a restart the stored condition still says Ready from before.
node_ready_since() {
  local status heartbeat
  read -r status heartbeat < <(kubectl_admin get node "$1" -o \
    jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}{"\n"}' 2>/dev/null) || return 1
  [ "$status" = True ] && [[ ! "$heartbeat" < "$2" ]]
}
