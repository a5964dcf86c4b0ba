# shellcheck shell=bash
# What runs inside the cluster once the node is Ready: DNS, storage and the fake GPU nodes.

# apply_manifest LABEL — applies stdin; prints what changed, records whether anything did.
apply_manifest() {
  local label="$1" output
  output=$(kubectl_admin apply -f - 2>&1) || { printf '%s\n' "$output" >&2; die "$label: kubectl apply failed"; }
  if grep -qE ' (created|configured)$' <<< "$output"; then
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

addon_fake_gpu_nodes() {
  step "KWOK controller and $FAKE_GPU_NODES fake GPU node(s) with $FAKE_GPUS_PER_NODE x nvidia.com/gpu"
  start_kwok
  local i
  for i in $(seq 1 "$FAKE_GPU_NODES"); do
    FAKE_NODE_NAME="$FAKE_GPU_NODE_PREFIX-$i" render_template addons/fake-gpu-node.yaml |
      apply_manifest "fake node $FAKE_GPU_NODE_PREFIX-$i"
  done
}

wait_addons() {
  local deadline=$((SECONDS + 120)) i
  until kubectl_admin -n kube-system rollout status deployment/coredns --timeout=5s >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kubectl_admin -n kube-system get pods -o wide >&2 || true
      kubectl_admin -n kube-system describe pods -l k8s-app=kube-dns 2>&1 | tail -n 25 >&2 || true
      fail_component kubelet "CoreDNS did not become ready in 120 s"
    fi
  done
  for i in $(seq 1 "$FAKE_GPU_NODES"); do
    wait_for 60 node_ready "$FAKE_GPU_NODE_PREFIX-$i" ||
      fail_component kwok "fake node $FAKE_GPU_NODE_PREFIX-$i is not Ready after 60 s"
  done
}
