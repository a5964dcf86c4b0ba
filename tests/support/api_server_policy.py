"""The egress NetworkPolicy that lets a component of manifests/ (Traefik, the Argo Rollouts controller) reach the API
server's endpoints only: their own policies cannot know that address, so the platform role adds this one before their
workload (ansible/roles/platform/tasks/api_server_egress.yml, templates/api-server-egress.yaml.j2). The end-to-end
suite applies manifests/ itself and builds the same object here; tests/charts/test_network_flows.py proves that the
two agree and that these components reach the API server's address only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cluster.kube import read_env_file

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = read_env_file(ROOT / "platform.env")
# The ports the role admits when the `kubernetes` Service's EndpointSlices list none.
DEFAULT_PORTS = (443, 6443)


@dataclass(frozen=True)
class Caller:
    """A component that calls the API server: its policy's name, its namespace and its pods' labels."""

    name: str
    namespace: str
    pod_labels: Mapping[str, str] = field(default_factory=dict)


# platform_api_server_callers in ansible/roles/platform/defaults/main.yml, by the same keys.
CALLERS = {
    "gateway": Caller(
        "mlkube-gateway-api-server", PLATFORM["GATEWAY_NAMESPACE"], {"app.kubernetes.io/name": "traefik"}
    ),
    "argo_rollouts": Caller(
        "argo-rollouts-api-server", PLATFORM["ARGO_ROLLOUTS_NAMESPACE"], {"app.kubernetes.io/name": "argo-rollouts"}
    ),
}


def endpoints(slices: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    """(addresses, ports) of the `kubernetes` Service's EndpointSlices (`kubectl get endpointslices -o json`), the
    API server's own; the ports are 443 and 6443 when the slices list none, as the role has it."""
    items = slices.get("items", [])
    addresses = sorted({a for s in items for e in s.get("endpoints") or [] for a in e.get("addresses", [])})
    ports = sorted({p["port"] for s in items for p in s.get("ports") or []})
    return addresses, ports or list(DEFAULT_PORTS)


def cidr(address: str) -> str:
    """An address as a NetworkPolicy's ipBlock names it: /32, or /128 for IPv6."""
    return f"{address}/{128 if ':' in address else 32}"


def api_server_policy(
    name: str, namespace: str, pod_labels: Mapping[str, str], addresses: Iterable[str], ports: Iterable[int]
) -> dict[str, Any]:
    """The NetworkPolicy `name` that lets the pods of `namespace` labelled `pod_labels` reach `addresses` on `ports`
    (TCP) and nothing else; NetworkPolicies add up, so the component's own policy keeps its other rules."""
    peers = [{"ipBlock": {"cidr": cidr(address)}} for address in addresses]
    if not peers:  # an egress rule without peers admits every address
        raise ValueError("the API server lists no endpoint address")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "mlkube"}},
        "spec": {
            "podSelector": {"matchLabels": dict(sorted(pod_labels.items()))},
            "policyTypes": ["Egress"],
            "egress": [{"to": peers, "ports": [{"port": int(port), "protocol": "TCP"} for port in ports]}],
        },
    }


def caller_policy(caller: Caller, addresses: Iterable[str], ports: Iterable[int]) -> dict[str, Any]:
    """api_server_policy() for one of CALLERS."""
    return api_server_policy(caller.name, caller.namespace, caller.pod_labels, addresses, ports)
