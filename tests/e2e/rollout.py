"""Steps of the rollout scenarios: helm upgrades of the model-server part of the umbrella release."""

from __future__ import annotations

import collections
import subprocess
import time

import httpx

from .kube import helm, kubectl, node_runtime, pods, wait_for, workload_nodes
from .load import PENGUIN
from .platform import RELEASE, UMBRELLA, platform_values

SERVER = f"{RELEASE}-model-server"
IMAGE = "docker.io/mlkube/model-server"
SERVER_PODS = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=model-server"


def serving_pods() -> list[dict]:
    """The model-server pods that are not on their way out."""
    return [p for p in pods(SERVER_PODS) if not p["metadata"].get("deletionTimestamp")]


def running_server_pod() -> str:
    """One of them that is Running: its name, to exec into."""
    running = [p["metadata"]["name"] for p in serving_pods() if p["status"].get("phase") == "Running"]
    assert running, f"no Running pod matches {SERVER_PODS}"
    return running[0]


def upgrade(wait: bool = True, **values: str) -> None:
    """helm upgrade of the umbrella release: the local profile plus `model-server.<key>=<value>` settings."""
    settings = {f"model-server.{key}": value for key, value in values.items()}
    # `kubectl rollout undo` owns the fields it changed; Helm 4's server-side apply takes them back.
    args = ["upgrade", RELEASE, str(UMBRELLA), "--force-conflicts", *platform_values(**settings)]
    if wait:
        args += ["--wait", "--timeout", "10m"]
    helm(*args, timeout=660)


def tag_image(source: str, target_tag: str) -> str:
    """Adds a tag to an image already in the containerd of every node that runs the server (no registry involved)."""
    target = f"{IMAGE}:{target_tag}"
    for node in workload_nodes():
        node_runtime(node, "images", "tag", "--force", source, target)
    return target


def rollout_status(deployment: str, timeout: str = "5m") -> subprocess.CompletedProcess:
    return kubectl("rollout", "status", f"deployment/{deployment}", f"--timeout={timeout}", check=False, timeout=330)


def version_split(url: str, requests: int) -> collections.Counter[str]:
    """Model versions answering `requests` predictions, one new connection each so kube-proxy picks anew."""
    counts: collections.Counter[str] = collections.Counter()
    for _ in range(requests):
        response = httpx.post(f"{url}/predict", json=PENGUIN, headers={"Connection": "close"}, timeout=10)
        response.raise_for_status()
        counts[response.headers["x-model-version"]] += 1
    return counts


def only_version(url: str, version: str, requests: int = 40) -> bool:
    split = version_split(url, requests)
    return set(split) == {version}


def wait_only_version(url: str, version: str, what: str, timeout: float = 300) -> None:
    wait_for(what, lambda: only_version(url, version), timeout=timeout, interval=3)


def seconds_until_only_version(url: str, version: str, what: str, timeout: float = 60) -> float:
    """How long after now the Service answers with `version` alone (kube-proxy applies a selector change
    asynchronously, so "at once" means within a few seconds of `helm upgrade` returning)."""
    started = time.monotonic()
    wait_for(what, lambda: only_version(url, version, requests=20), timeout=timeout, interval=0.5)
    return time.monotonic() - started


def settle(seconds: float) -> None:
    time.sleep(seconds)
