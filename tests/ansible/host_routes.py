"""This machine's routing table, as the kind role's host routes (ansible/roles/kind_cluster/tasks/host_routes.yml)
read and change it."""

from __future__ import annotations

import ipaddress
import json
import subprocess


def host_routes() -> list[dict]:
    """`ip -json route show`: each route's `dst`, and its `gateway` where it has a next hop."""
    return json.loads(
        subprocess.run(["ip", "-json", "route", "show"], capture_output=True, text=True, check=True).stdout
    )


def route_keys(routes: list[dict]) -> set[tuple[str, str | None, str | None]]:
    return {(r["dst"], r.get("gateway"), r.get("dev")) for r in routes}


def routes_into(ranges: list[str]) -> list[dict]:
    """The routes whose destination lies in one of `ranges`."""
    networks = [ipaddress.ip_network(r) for r in ranges]
    return [
        r
        for r in host_routes()
        if r["dst"] != "default" and any(ipaddress.ip_network(r["dst"], strict=False).subnet_of(n) for n in networks)
    ]
