"""kind for real on this machine, through the kind_cluster role: the node image built offline (Kubernetes, etcd and
CoreDNS from their Go modules, Debian's containerd, no registry), a control plane and a worker started from it
by the pinned kind CLI (through files/docker-shim where the host cannot start privileged containers), the nodes
Ready with every system pod, a pod on one node reaching a pod on the other by its address and through a Service
by name with its own address as the source (the pod network, kube-proxy and CoreDNS), NetworkPolicies enforced
(kube-router), a claim of the default StorageClass bound and written (local-path-provisioner), and a second run that
changes nothing. The cluster is deleted at the end; the node image stays cached."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.ansible.host_routes import host_routes, route_keys
from tests.ansible.playbook import ROOT, VERSIONS, PlaybookRun, built_kubectl_output, run_playbook
from tests.cluster.kube import read_env_file

pytestmark = pytest.mark.kind

NAME = "mlkube-kind-test"
PLATFORM = read_env_file(ROOT / "platform.env")
# A small image of the platform's, built if missing and loaded with `kind load` (through the docker shim).
LOADED_IMAGE = f"{PLATFORM['IMAGE_PREFIX']}/pushgateway"
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
POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-ingress}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {server-access: "true"}}}]}]
"""
# A non-root pod writes into a claim of the default StorageClass (the provisioner makes its directory writable).
# Scheduled, not placed: the class binds a claim where the scheduler puts its first pod.
CLAIM = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data}}
spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 16Mi}}}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: writer}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  restartPolicy: Never
  securityContext: {{runAsUser: 65534, runAsGroup: 65534}}
  containers:
    - name: main
      image: {image}
      command: [sh, -c, "echo written > /data/file && cat /data/file"]
      volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
"""


def _play(tmp_path: Path, *args: str) -> PlaybookRun:
    return run_playbook(
        "kind",
        "--tags",
        "tools,cluster,images",
        "-e",
        f"kind_cluster_user_kubeconfig={tmp_path / 'user-kubeconfig'}",
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
        MLKUBE_IMAGES=LOADED_IMAGE,
        timeout=3600,
    )


@pytest.fixture(scope="module")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, PlaybookRun]]:
    tmp_path = tmp_path_factory.mktemp("kind")
    (tmp_path / "kind-config.yaml").write_text(CONFIG)
    # The Docker engine, started as the images role starts it where no service manager runs one.
    docker_dir = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache")) / "docker"
    subprocess.run([ROOT / "ansible/roles/images/files/dockerd.sh", "start", docker_dir], check=True, timeout=120)
    # What `down` must leave as it found it: the role takes out only routes into kind's ranges through its nodes, and
    # this cluster's ranges (kind's defaults) are the local cluster's, whose own route to its pods may be here.
    routes_before = route_keys(host_routes())
    run = _play(tmp_path)
    try:
        yield tmp_path, run
    finally:
        down = _play(tmp_path, "-e", "mlkube_action=down")
        assert down.rc == 0, down.explain()
        lost = routes_before - route_keys(host_routes())
        assert not lost, f"`down` took out routes it did not add: {sorted(lost, key=str)}"
        # kind took the context out of the user's kubeconfig again.
        user = yaml.safe_load((tmp_path / "user-kubeconfig").read_text()) or {}
        assert f"kind-{NAME}" not in {c["name"] for c in user.get("contexts") or []}, user


def _kubectl(tmp_path: Path, *args: str, stdin: str | None = None) -> str:
    return built_kubectl_output(tmp_path / "kubeconfig", *args, stdin=stdin)


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
    # The user's own kubectl reaches the cluster: its context exported into their kubeconfig and selected.
    user = yaml.safe_load((tmp_path / "user-kubeconfig").read_text())
    assert user["current-context"] == f"kind-{NAME}", user["current-context"]


def _fetch(tmp_path: Path, url: str) -> bool:
    """Whether the client pod gets a 200 from url (within 5 s)."""
    fetch = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=5).status)"
    try:
        return _kubectl(tmp_path, "exec", "client", "--", "python3", "-c", fetch).strip() == "200"
    except subprocess.CalledProcessError:
        return False


def _until(what: str, check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(2)


@pytest.fixture(scope="module")
def pods(kind_cluster: tuple[Path, PlaybookRun]) -> tuple[str, str]:
    """A server pod on the worker, a client pod on the control plane and a Service in front of the server; their
    addresses."""
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
    return server_ip, client_ip


def test_pods_on_two_nodes_reach_each_other_and_the_cluster_dns(
    kind_cluster: tuple[Path, PlaybookRun], pods: tuple[str, str]
) -> None:
    tmp_path, _ = kind_cluster
    server_ip, client_ip = pods
    for url in (f"http://{server_ip}:8080/", "http://server.default.svc.cluster.local/"):
        _until(f"the client fetches {url}", lambda url=url: _fetch(tmp_path, url))
    # Pod to pod across nodes keeps the sender's address (no masquerading inside the pod range): what
    # NetworkPolicies match on. The server logs each request's source.
    sources = {line.split()[0] for line in _kubectl(tmp_path, "logs", "server").splitlines() if "GET /" in line}
    assert sources == {client_ip}, sources


def test_network_policies_are_enforced(kind_cluster: tuple[Path, PlaybookRun], pods: tuple[str, str]) -> None:
    """A policy admitting only labelled pods to the server shuts the client out until it carries the label."""
    tmp_path, _ = kind_cluster
    server_ip, _ = pods
    url = f"http://{server_ip}:8080/"
    _until("the client reaches the server before any policy", lambda: _fetch(tmp_path, url))
    _kubectl(tmp_path, "apply", "-f", "-", stdin=POLICY)
    _until("the policy shuts the unlabelled client out", lambda: not _fetch(tmp_path, url))
    _kubectl(tmp_path, "label", "pod", "client", "server-access=true")
    _until("the labelled client gets in", lambda: _fetch(tmp_path, url))
    _kubectl(tmp_path, "delete", "networkpolicy", "server-ingress")


def test_a_claim_of_the_default_storage_class_is_bound_and_written(kind_cluster: tuple[Path, PlaybookRun]) -> None:
    tmp_path, _ = kind_cluster
    classes = json.loads(_kubectl(tmp_path, "get", "storageclass", "-o", "json"))["items"]
    default = "storageclass.kubernetes.io/is-default-class"
    defaults = [c["metadata"]["name"] for c in classes if c["metadata"].get("annotations", {}).get(default) == "true"]
    assert defaults == ["standard"], defaults
    claim = CLAIM.format(node=f"{NAME}-worker", image=f"mlkube/kube-proxy:v{VERSIONS['KUBERNETES_VERSION']}")
    _kubectl(tmp_path, "apply", "-f", "-", stdin=claim)
    _kubectl(tmp_path, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/writer", "--timeout=120s")
    assert _kubectl(tmp_path, "get", "pvc", "data", "-o", "jsonpath={.status.phase}") == "Bound"
    assert _kubectl(tmp_path, "logs", "writer").strip() == "written"


def test_an_image_loaded_by_the_images_role_runs(kind_cluster: tuple[Path, PlaybookRun]) -> None:
    """The images role's `kind load` (through the docker shim: kind execs into the nodes with --privileged)."""
    tmp_path, run = kind_cluster
    ref = f"{LOADED_IMAGE}:{PLATFORM['IMAGE_TAG']}"
    load = run.result("Load the images into the cluster of target kind")
    assert [(item["item"]["ref"], item["changed"]) for item in load["results"]] == [(ref, True)], load
    overrides = {"spec": {"containers": [{"name": "loaded", "image": ref, "imagePullPolicy": "Never",
                                          "args": ["--version"]}]}}  # fmt: skip
    _kubectl(tmp_path, "run", "loaded", f"--image={ref}", "--restart=Never", f"--overrides={json.dumps(overrides)}")
    _kubectl(tmp_path, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/loaded", "--timeout=120s")


def test_a_second_run_changes_nothing(kind_cluster: tuple[Path, PlaybookRun]) -> None:
    tmp_path, _ = kind_cluster
    again = _play(tmp_path)
    assert again.rc == 0, again.explain()
    changed = [name for name, result in again.results().items() if result.get("changed")]
    assert not changed, changed
