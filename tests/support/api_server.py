"""The Kubernetes API server's endpoints, as the platform role reads them (ansible/roles/platform/tasks/api_server.yml):
the addresses and ports that the charts' egress policies (`global.networkPolicy.apiServer`) and the role's policies
for the components of manifests/ admit. The end-to-end suite passes them to its own release as `make up` does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The ports the role admits when the `kubernetes` Service's EndpointSlices list none.
DEFAULT_PORTS = (443, 6443)


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
