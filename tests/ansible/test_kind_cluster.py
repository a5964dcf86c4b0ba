"""kind for real on this machine, through the kind_cluster role: the node image built offline (Kubernetes, etcd and
CoreDNS from their Go modules, Debian's containerd, no registry), a control plane and a worker started from it
by the pinned kind CLI (through files/docker-shim where the host cannot start privileged containers), the nodes
Ready with every system pod, a pod on one node reaching a pod on the other by its address and through a Service
by name with its own address as the source (the pod network, kube-proxy and CoreDNS), and a second run that
changes nothing. The cluster is deleted
at the end; the node image stays cached."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.playbook import ROOT, PlaybookRun, run_playbook

pytestmark = pytest.mark.kind

NAME = "mlkube-kind-test"
VERSIONS = dict(
    line.split("=", 1) for line in (ROOT / "versions.env").read_text().splitlines() if "=" in line and line[0] != "#"
)
# The kubectl the node image's build compiles (the local cluster's).
KUBECTL = ROOT / ".cache" / "cluster-bin" / f"kubernetes-{VERSIONS['KUBERNETES_VERSION']}" / "kubectl"
CONFIG = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  apiServerAddress: 127.0.0.1
nodes:
  - role: control-plane
  - role: worker
"""
# Both test pods run the kube-proxy image every node carries (Debian with Python).
POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  nodeName: {node}
  tolerations: [{{operator: Exists}}]
  containers:
    - name: main
      image: {image}
      command: [python3, -c, {code!r}]
      ports: [{{containerPort: 8080}}]
"""
SERVE = "import http.server as h; h.ThreadingHTTPServer(('', 8080), h.SimpleHTTPRequestHandler).serve_forever()"
SLEEP = "import time; time.sleep(3600)"


def _play(tmp_path: Path, *args: str) -> PlaybookRun:
    return run_playbook(
        "kind",
        "--tags",
        "tools,cluster",
        "-e",
        "cluster_tools_kubectl=false",
        "-e",
        f"kind_cluster_kubectl={KUBECTL}",
        "-e",
        f"kind_cluster_name={NAME}",
        "-e",
        f"kind_cluster_config={tmp_path / 'kind-config.yaml'}",
        "-e",
        f"kind_cluster_rendered_config={tmp_path / 'rendered' / 'kind-config.yaml'}",
        "-e",
        f"kind_cluster_kubeconfig={tmp_path / 'kubeconfig'}",
        *args,
        MLKUBE_KIND_NODE_IMAGE_BUILD="true",
        MLKUBE_GPU="false",
        timeout=3600,
    )


@pytest.fixture(scope="module")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, PlaybookRun]]:
    tmp_path = tmp_path_factory.mktemp("kind")
    (tmp_path / "kind-config.yaml").write_text(CONFIG)
    # The Docker engine, started as the images role starts it where no service manager runs one.
    subprocess.run([ROOT / "ansible/roles/images/files/mlkube-images.sh", "base"], check=True, timeout=1200)
    run = _play(tmp_path)
    try:
        yield tmp_path, run
    finally:
        down = _play(tmp_path, "-e", "mlkube_action=down")
        assert down.rc == 0, down.explain()


def _kubectl(tmp_path: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [KUBECTL, f"--kubeconfig={tmp_path / 'kubeconfig'}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def test_the_cluster_comes_up_from_the_node_image_built_here(kind_cluster: tuple[Path, PlaybookRun]) -> None:
    tmp_path, run = kind_cluster
    assert run.rc == 0, run.explain()
    slowest = run.task_seconds()[:4]
    print("\nkind: slowest tasks of the first run:", *(f"{s:6.1f} s  {n}" for s, n in slowest), sep="\n  ")
    nodes = json.loads(_kubectl(tmp_path, "get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == [f"{NAME}-control-plane", f"{NAME}-worker"]
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{VERSIONS['KUBERNETES_VERSION']}"
    _kubectl(tmp_path, "-n", "kube-system", "wait", "--for=condition=Ready", "pods", "--all", "--timeout=180s")
    images = {c["image"] for p in json.loads(_kubectl(tmp_path, "-n", "kube-system", "get", "pods", "-o", "json"))[
        "items"] for c in p["spec"]["containers"]}  # fmt: skip
    assert all(image.startswith("mlkube/") for image in images), images


def test_pods_on_two_nodes_reach_each_other_and_the_cluster_dns(kind_cluster: tuple[Path, PlaybookRun]) -> None:
    tmp_path, _ = kind_cluster
    image = f"mlkube/kube-proxy:v{VERSIONS['KUBERNETES_VERSION']}"
    manifests = [
        POD.format(name="server", node=f"{NAME}-worker", image=image, code=SERVE),
        POD.format(name="client", node=f"{NAME}-control-plane", image=image, code=SLEEP),
        "apiVersion: v1\nkind: Service\nmetadata: {name: server}\n"
        "spec: {selector: {app: server}, ports: [{port: 80, targetPort: 8080}]}\n",
    ]
    _kubectl(tmp_path, "apply", "-f", "-", stdin="---\n".join(manifests))
    _kubectl(tmp_path, "wait", "--for=condition=Ready", "pod/server", "pod/client", "--timeout=120s")
    server_ip = _kubectl(tmp_path, "get", "pod", "server", "-o", "jsonpath={.status.podIP}")
    client_ip = _kubectl(tmp_path, "get", "pod", "client", "-o", "jsonpath={.status.podIP}")
    for url in (f"http://{server_ip}:8080/", "http://server.default.svc.cluster.local/"):
        fetch = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=10).status)"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _kubectl(tmp_path, "exec", "client", "--", "python3", "-c", fetch).strip() == "200"
                break
            except (subprocess.CalledProcessError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
    # Pod to pod across nodes keeps the sender's address (no masquerading inside the pod range): what
    # NetworkPolicies match on. The server logs each request's source.
    sources = {line.split()[0] for line in _kubectl(tmp_path, "logs", "server").splitlines() if "GET /" in line}
    assert sources == {client_ip}, sources


def test_a_second_run_changes_nothing(kind_cluster: tuple[Path, PlaybookRun]) -> None:
    tmp_path, _ = kind_cluster
    again = _play(tmp_path)
    assert again.rc == 0, again.explain()
    changed = [name for name, result in again.results().items() if result.get("changed")]
    assert not changed, changed
