"""Thin helpers around the real `kubectl` and `helm` binaries, pointed at the suite's cluster: the local cluster, or
kind (MLKUBE_E2E_TARGET=kind, which `MLKUBE_TARGET=kind make test-e2e` sets)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache"))
TARGET = os.environ.get("MLKUBE_E2E_TARGET", "local")
# The kubeconfig each target's role writes (ansible/inventories/<target>: mlkube_kubeconfig).
TARGET_KUBECONFIGS = {"local": CACHE / "cluster" / "kubeconfig", "kind": CACHE / "kind" / "kubeconfig"}
if TARGET not in TARGET_KUBECONFIGS:
    raise SystemExit(f"MLKUBE_E2E_TARGET={TARGET}: the suite runs on {' or '.join(TARGET_KUBECONFIGS)}")
KUBECONFIG = Path(os.environ.get("KUBECONFIG", TARGET_KUBECONFIGS[TARGET]))
# The local cluster's containerd, on this machine; kind's run inside its node containers.
CONTAINERD_SOCK = CACHE / "cluster" / "containerd" / "containerd.sock"
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
    """`make -s <target>` for the suite's cluster, as a user runs it. `stream`: its output goes to the suite's own as
    it runs (a long target reports its progress), not into the error."""
    command = ["make", "-s", target, f"MLKUBE_TARGET={TARGET}", *args]
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


def node_runtime(node: str, *args: str) -> subprocess.CompletedProcess:
    """`ctr -n k8s.io <args>` against the containerd of `node`: the local cluster's on this machine, a kind node's
    inside its container."""
    if TARGET == "kind":
        return run("docker", "exec", node, "ctr", "-n", "k8s.io", *args)
    return run("ctr", "--address", str(CONTAINERD_SOCK), "-n", "k8s.io", *args)


def fake(node: dict) -> bool:
    """A KWOK node of the local cluster: the API server lists it, nothing runs on it."""
    return node["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"


def workload_nodes() -> list[str]:
    """The nodes that hold the platform's images and may run its pods: kind's workers (`make images` loads them
    there; the control plane is tainted), the local cluster's one real node."""
    nodes = kubectl_json("get", "nodes", namespace=None)["items"]
    return [
        n["metadata"]["name"]
        for n in nodes
        if not fake(n)
        and not any(t["key"] == "node-role.kubernetes.io/control-plane" for t in n["spec"].get("taints", []))
    ]


@contextlib.contextmanager
def port_forward(target: str, port: int, namespace: str, timeout: float = 30) -> Iterator[str]:
    """`kubectl port-forward <target> :<port>` while the block runs: the URL of the local end. For what a policy lets
    only the cluster's nodes reach: the local cluster's host is one of them, kind's Docker host is not."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    command = ["kubectl", "-n", namespace, "port-forward", "--address=127.0.0.1", target, f"{local_port}:{port}"]
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if "Forwarding from" not in line:
            raise AssertionError(
                f"`{' '.join(command)}` did not forward: {line}{proc.stdout.read() if proc.stdout else ''}"
            )
        # It prints a line per connection: read on, so that a full pipe never stalls it.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield f"http://127.0.0.1:{local_port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
