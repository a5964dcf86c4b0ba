# shellcheck shell=bash
# What runs inside the cluster once the node is Ready: NetworkPolicy enforcement, DNS, storage and the fake GPU nodes.

# apply_manifest LABEL — applies stdin; prints what changed, records whether anything did.
apply_manifest() {
  local label="$1" output
  output=$(kubectl_admin apply -f - 2>&1) || { printf '%s\n' "$output" >&2; die "$label: kubectl apply failed"; }
  if grep -qE ' (created|configured)$' <<< "$output"; then
    # shellcheck disable=SC2034 # read by cluster.sh, which sources this file
    CHANGED=1
    grep -E ' (created|configured)$' <<< "$output" | sed 's/^/    /'
  fi
}

addon_coredns() {
  step "cluster DNS (CoreDNS $COREDNS_VERSION, Service kube-dns $DNS_IP)"
  render_template addons/coredns.yaml | apply_manifest coredns
}

addon_storage() {
  step "default StorageClass 'standard' and its host-side provisioner"
  render_template addons/storage.yaml | apply_manifest storage
  start_provisioner
}

addon_network_policies() {
  step "NetworkPolicy enforcement (kube-router $KUBE_ROUTER_VERSION's policy controller on the host)"
  render_template addons/network-policy.yaml | apply_manifest "network policy RBAC"
  start_network_policy_controller
}

addon_fake_gpu_nodes() {
  step "KWOK controller and $FAKE_GPU_NODES fake GPU node(s) with $FAKE_GPUS_PER_NODE x nvidia.com/gpu"
  local i
  if ! component_running kwok; then
    # A new kwok process has a new lease identity: it would wait for the old holder's leases to
    # expire (40 s) before playing the nodes again.
    for i in $(seq 1 "$FAKE_GPU_NODES"); do
      kubectl_admin -n kube-node-lease delete lease "$FAKE_GPU_NODE_PREFIX-$i" --ignore-not-found >/dev/null
    done
  fi
  start_kwok
  for i in $(seq 1 "$FAKE_GPU_NODES"); do
    FAKE_NODE_NAME="$FAKE_GPU_NODE_PREFIX-$i" render_template addons/fake-gpu-node.yaml |
      apply_manifest "fake node $FAKE_GPU_NODE_PREFIX-$i"
  done
}

# The whole path a pod's lookup takes: Service IP, kube-proxy's rules, CoreDNS, the API.
# dig exits 0 for an empty answer too: the A record itself must come back.
cluster_dns_answers() {
  dig +short +time=2 +tries=1 @"$DNS_IP" "kubernetes.default.svc.$CLUSTER_DOMAIN" A | grep -qE '^[0-9]+(\.[0-9]+){3}$'
}

wait_addons() {
  local deadline=$((SECONDS + 120)) i
  until cluster_dns_answers >/dev/null 2>&1; do
    sleep 1
    if [ "$SECONDS" -ge "$deadline" ]; then
      kubectl_admin -n kube-system get pods -o wide >&2 || true
      kubectl_admin -n kube-system describe pods -l k8s-app=kube-dns 2>&1 | tail -n 25 >&2 || true
      fail_component kubelet "cluster DNS at $DNS_IP did not answer within 120 s (CoreDNS pod above)"
    fi
  done
  for i in $(seq 1 "$FAKE_GPU_NODES"); do
    wait_for 60 node_ready "$FAKE_GPU_NODE_PREFIX-$i" ||
      fail_component kwok "fake node $FAKE_GPU_NODE_PREFIX-$i is not Ready after 60 s"
  done
}
