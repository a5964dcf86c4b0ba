"""Small helpers the smoke suite uses to talk to the local cluster through kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class ClusterPaths:
    cache: Path
    kubeconfig: Path
    kubectl: Path
    cluster_script: Path

    @classmethod
    def discover(cls) -> ClusterPaths:
        versions = read_env_file(ROOT / "versions.env")
        cache = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache"))
        kubeconfig = Path(os.environ.get("MLKUBE_KUBECONFIG", cache / "cluster" / "kubeconfig"))
        kubectl = cache / "cluster-bin" / f"kubernetes-{versions['KUBERNETES_VERSION']}" / "kubectl"
        script = ROOT / "ansible" / "roles" / "local_cluster" / "files" / "cluster.sh"
        return cls(cache, kubeconfig, kubectl, script)


class KubectlError(RuntimeError):
    pass


class Kubectl:
    def __init__(self, paths: ClusterPaths, namespace: str | None = None) -> None:
        self.paths = paths
        self.namespace = namespace

    def in_namespace(self, namespace: str) -> Kubectl:
        return Kubectl(self.paths, namespace)

    def run(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
        command = [str(self.paths.kubectl), "--kubeconfig", str(self.paths.kubeconfig)]
        if self.namespace:
            command += ["--namespace", self.namespace]
        result = subprocess.run(command + list(args), input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout if result.returncode == 0 else result.stderr

    def apply(self, *manifests: dict[str, Any]) -> str:
        return self.run("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))

    def get(self, kind: str, name: str | None = None, *args: str) -> dict[str, Any]:
        target = [kind] + ([name] if name else [])
        return json.loads(self.run("get", *target, *args, "-o", "json"))

    def logs(self, pod: str) -> str:
        return self.run("logs", pod)


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = 90, interval: float = 1) -> T:
    """Polls probe until it returns something truthy; fails with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (KubectlError, OSError) as error:
            last_error = error
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


# A security context that satisfies the `restricted` Pod Security level.
RESTRICTED_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}


def container(name: str, image: str, args: list[str], **extra: Any) -> dict[str, Any]:
    spec = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "securityContext": RESTRICTED_CONTAINER_SECURITY,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }
    spec.update(extra)
    return spec


def pod_spec(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": RESTRICTED_POD_SECURITY,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 2,
        "containers": list(containers),
    }
    spec.update(extra)
    return spec


def apply_staged_crds(kubectl: Callable[..., object], directory: Path) -> None:
    """CRDs that `make images` staged under .cache, applied as the platform role applies them (server-side), then
    waited for until Established; `kubectl` runs kubectl with the arguments it is given."""
    if not directory.is_dir():
        pytest.fail(f"no CRDs at {directory}: run `make images` first", pytrace=False)
    kubectl("apply", "--server-side", "--force-conflicts", "--filename", str(directory))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "--filename", str(directory))
