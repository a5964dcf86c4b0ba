"""Thin helpers around the real `kubectl` and `helm` binaries, pointed at the local cluster."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache"))
KUBECONFIG = Path(os.environ.get("KUBECONFIG", CACHE / "cluster" / "kubeconfig"))
NAMESPACE = os.environ.get("MLKUBE_E2E_NAMESPACE", "mlkube-e2e")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["KUBECONFIG"] = str(KUBECONFIG)
    env["PATH"] = f"{CACHE / 'bin'}:{env.get('PATH', '')}"
    return env


def run(*args: str, check: bool = True, timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess:
    """Runs a command with the cluster's kubeconfig; on failure raises with its output, not a trace of ours."""
    proc = subprocess.run(list(args), capture_output=True, text=True, env=_env(), timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{' '.join(args)}` exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def make(target: str, *args: str, timeout: float = 1800, stream: bool = False) -> subprocess.CompletedProcess:
    """`make -s <target>` for the local cluster, as a user runs it, pointed at the suite's kubeconfig. `stream`: its
    output goes to the suite's own as it runs (a long target reports its progress), not into the error."""
    command = ["make", "-s", target, "MLKUBE_TARGET=local", *args]
    output = {} if stream else {"capture_output": True, "text": True}
    proc = subprocess.run(command, cwd=ROOT, timeout=timeout, env=dict(os.environ), **output)
    assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}" + (
        "" if stream else f":\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def kubectl(*args: str, namespace: str | None = NAMESPACE, **kwargs: Any) -> subprocess.CompletedProcess:
    ns = ["-n", namespace] if namespace else []
    return run("kubectl", *ns, *args, **kwargs)


def kubectl_json(*args: str, namespace: str | None = NAMESPACE) -> dict:
    return json.loads(kubectl(*args, "-o", "json", namespace=namespace).stdout)


def helm(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return run("helm", "--namespace", NAMESPACE, *args, **kwargs)


def wait_for(what: str, predicate, timeout: float = 180, interval: float = 2.0):
    """Polls `predicate` until it returns a truthy value; the timeout names what it was waiting for."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (AssertionError, subprocess.SubprocessError, OSError, ValueError, httpx.HTTPError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def service_url(name: str, port_name: str | None = None, namespace: str = NAMESPACE) -> str:
    """http://<ClusterIP>:<port> of a Service: the host reaches the service range through kube-proxy."""
    svc = kubectl_json("get", "service", name, namespace=namespace)
    ports = svc["spec"]["ports"]
    port = next((p for p in ports if port_name is None or p.get("name") == port_name), ports[0])
    return f"http://{svc['spec']['clusterIP']}:{port['port']}"


def prometheus_query(prometheus_url: str, query: str) -> list[dict]:
    """The result vector of an instant PromQL query."""
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=10)
    return response.raise_for_status().json()["data"]["result"]


def pods(selector: str) -> list[dict]:
    return kubectl_json("get", "pods", "-l", selector)["items"]


def ready(pod: dict) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def secret_value(name: str, key: str) -> str:
    return base64.b64decode(kubectl_json("get", "secret", name)["data"][key]).decode()


def mlflow_credentials(role: str, release: str) -> tuple[str, str]:
    """(username, password) of one MLflow role from the mlflow chart's Secret (<release>-mlflow-auth)."""
    secret = f"{release}-mlflow-auth"
    return secret_value(secret, f"{role}-username"), secret_value(secret, f"{role}-password")


def mlflow_auth() -> httpx.BasicAuth:
    """The credentials the session runs as (the platform fixture puts the trainer's in the environment)."""
    return httpx.BasicAuth(os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])


TCP_CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
except OSError as error:
    print(f"{sys.argv[1]}:{sys.argv[2]} {error}")
    sys.exit(1)
print(f"{sys.argv[1]}:{sys.argv[2]} connected")
"""


def connects(target: str, host: str, port: int, *exec_args: str) -> bool:
    """Whether a TCP connection from inside `target` (a pod, or deployment/<name>, with Python) to host:port opens."""
    result = kubectl(
        "exec", target, *exec_args, "--", "python", "-c", TCP_CONNECT, host, str(port), check=False, timeout=30
    )
    return result.returncode == 0
