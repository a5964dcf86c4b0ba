# shellcheck shell=bash
# Host networking: the role sets it up (tasks/network.yml, which says why each route is there); `down` takes the
# bridges out and leaves the cluster's ranges unreachable.

network_routes_present() {
  ip link show "$HOST_BRIDGE" >/dev/null 2>&1 &&
    [[ "$(ip route show "$SERVICE_CIDR")" == *"dev $HOST_BRIDGE"* ]] &&
    [[ "$(ip route show type unreachable)" == *"unreachable $POD_CIDR"* ]]
}

# Chains left by the CNI plugins (portmap, firewall) and by the kubelet and kube-proxy
# (KUBE-*, after `kube-proxy --cleanup` removed its own): jumps into them first, then the chains.
iptables_chains_cleanup() {
  local tool table chain rule
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle; do
      { "$tool" -t "$table" -S 2>/dev/null | grep -E -- '-j (CNI|KUBE)-' || true; } | sed 's/^-A /-D /' |
        while read -r rule; do eval "$tool -t $table $rule" 2>/dev/null || true; done
      for chain in $("$tool" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(CNI|KUBE)-/ {print $2}'); do
        "$tool" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$tool" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(CNI|KUBE)-/ {print $2}'); do
        "$tool" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# kube-router's ipsets (KUBE-SRC-*, KUBE-DST-*, and TMP-* of an interrupted sync), once no rule refers to them.
ipsets_cleanup() {
  command -v ipset >/dev/null || return 0
  local set
  for set in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-(SRC|DST)-|TMP-)' || true); do
    ipset destroy "$set" 2>/dev/null || true
  done
}

# Without the bridge, a client still aimed at a cluster address would follow the default route off
# the machine: unless purging, the cluster's ranges stay `unreachable` so such packets die here.
network_down() {
  local purge="${1:-}" cidr
  iptables_chains_cleanup
  ipsets_cleanup
  ip link del "$CNI_BRIDGE" 2>/dev/null || true
  ip route del "$SERVICE_CIDR" dev "$HOST_BRIDGE" 2>/dev/null || true
  ip link del "$HOST_BRIDGE" 2>/dev/null || true
  for cidr in "$NODE_IP/32" "$SERVICE_CIDR" "$POD_CIDR"; do
    if [ "$purge" = "--purge" ]; then
      ip route del unreachable "$cidr" 2>/dev/null || true
    else
      ip route replace unreachable "$cidr"
    fi
  done
  rm -rf "$STATE_DIR/cni/networks"
}
