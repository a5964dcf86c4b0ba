"""The platform on kind, on this machine: `make up`'s path through the playbook with the kind inventory and the node
image built here. The cluster of manifests/kind-config.yaml (control plane, CPU worker, tainted GPU worker); every
platform image built and loaded with `kind load` (through the docker shim); Argo Rollouts built from its Go module;
the umbrella chart with the kind and kind-offline profiles, its NetworkPolicies enforced by kube-router and its
volumes made by local-path-provisioner; the training Jobs registering the models the server then serves. Then what
`make up` prints for kind answers from this machine as printed: the "Try it" requests on localhost:8080 (the kind
config's port mappings), MLflow on localhost:5000 and Prometheus on localhost:9090. With the host routes the
end-to-end suite brings kind up with (MLKUBE_KIND_HOST_ROUTES=true), Services and pods answer here on their cluster
addresses. The cluster is deleted at the end, and its routes with it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.ansible.host_routes import routes_into
from tests.ansible.playbook import ROOT, VERSIONS, PlaybookRun, built_kubectl_output, run_playbook
from tests.e2e.docs import printed_section

pytestmark = pytest.mark.kind

NAME = "mlkube-kind-platform"
NAMESPACE = "mlkube"
CACHE = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache"))
# manifests/kind-config.yaml's pod and Service ranges, which the host routes lead into.
KIND_NETWORKING = yaml.safe_load((ROOT / "manifests" / "kind-config.yaml").read_text())["networking"]
KIND_RANGES = [KIND_NETWORKING["podSubnet"], KIND_NETWORKING["serviceSubnet"]]
# As `make up WITH_TORCH=false`: the digits Job needs the torch build of the training image.
NO_TORCH = json.dumps({"platform_values": {"training-job": {"jobs": {"digits": {"enabled": False}}}}})


def _play(tmp_path: Path, *args: str) -> PlaybookRun:
    return run_playbook(
        "kind",
        "-e",
        f"kind_cluster_user_kubeconfig={tmp_path / 'user-kubeconfig'}",
        "-e",
        f"kind_cluster_name={NAME}",
        "-e",
        f"kind_cluster_rendered_config={tmp_path / 'rendered' / 'kind-config.yaml'}",
        "-e",
        f"mlkube_kubeconfig={tmp_path / 'kubeconfig'}",
        "-e",
        NO_TORCH,
        *args,
        MLKUBE_KIND_NODE_IMAGE_BUILD="true",
        MLKUBE_KIND_HOST_ROUTES="true",
        MLKUBE_GPU="false",
        WITH_TORCH="false",
        timeout=5400,
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, PlaybookRun]]:
    tmp_path = tmp_path_factory.mktemp("kind-platform")
    # The Docker engine, started as the images role starts it where no service manager runs one.
    subprocess.run([ROOT / "ansible/roles/images/files/dockerd.sh", "start", CACHE / "docker"], check=True, timeout=120)
    run = _play(tmp_path)
    try:
        yield tmp_path, run
    finally:
        if os.environ.get("MLKUBE_KIND_KEEP") != "1":
            down = _play(tmp_path, "--tags", "cluster", "-e", "mlkube_action=down")
            assert down.rc == 0, down.explain()
            left = routes_into(KIND_RANGES)
            assert not left, f"routes into kind's ranges left after down: {left}"


def _kubectl(tmp_path: Path, *args: str, stdin: str | None = None) -> str:
    return built_kubectl_output(tmp_path / "kubeconfig", *args, stdin=stdin)


def _user_env(tmp_path: Path) -> dict[str, str]:
    """The user's shell after `make up`: the kubeconfig the context was exported into, the pinned tools on PATH (what
    `eval "$(make env)"` puts there)."""
    return {
        **os.environ,
        "KUBECONFIG": str(tmp_path / "user-kubeconfig"),
        "PATH": f"{CACHE / 'bin'}:{os.environ['PATH']}",
    }


@pytest.fixture(scope="module")
def printed(platform: tuple[Path, PlaybookRun]) -> str:
    """What `make up` prints for kind once the platform is up (its last step), in the user's shell."""
    tmp_path, _ = platform
    printed = subprocess.run(
        [ROOT / "ansible" / "scripts" / "print-access.sh", "kind", NAMESPACE, "mlkube"],
        env=_user_env(tmp_path), capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    print(printed)
    return printed


def test_make_up_s_path_brings_the_platform_up_on_kind(platform: tuple[Path, PlaybookRun]) -> None:
    tmp_path, run = platform
    assert run.rc == 0, run.explain()
    slowest = run.task_seconds()[:6]
    print("\nkind platform: slowest tasks:", *(f"{s:6.1f} s  {n}" for s, n in slowest), sep="\n  ")
    pods = json.loads(_kubectl(tmp_path, "-n", NAMESPACE, "get", "pods", "-o", "json"))["items"]
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert images and all(i.startswith("mlkube/") for i in images), images
    # Volumes of the default StorageClass, bound on the node where their pod runs.
    claims = json.loads(_kubectl(tmp_path, "-n", NAMESPACE, "get", "pvc", "-o", "json"))["items"]
    assert claims and all(c["status"]["phase"] == "Bound" for c in claims), claims
    # Every pod of the platform is behind a NetworkPolicy, which kube-router enforces on each node.
    routers = json.loads(_kubectl(tmp_path, "-n", "kube-system", "get", "daemonset", "kube-router", "-o", "json"))
    assert routers["status"]["numberReady"] == 3, routers["status"]


def test_the_printed_commands_answer_from_this_machine(printed: str) -> None:
    tries = printed_section(printed, "Try it")
    assert len(tries) == 3, tries
    for command in tries:
        assert "http://127.0.0.1:8080/" in command, command
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", command], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        answer = json.loads(out.stdout)
        assert "detail" not in answer and answer, answer
    assert httpx.get("http://127.0.0.1:5000/health", timeout=10).status_code == 200
    query = httpx.get("http://127.0.0.1:9090/api/v1/query", params={"query": "up"}, timeout=10).json()
    assert query["status"] == "success" and query["data"]["result"], query


def test_the_user_s_own_kubectl_and_helm_reach_the_cluster(platform: tuple[Path, PlaybookRun], printed: str) -> None:
    """`make up` exports the context into the user's kubeconfig and selects it, as kind does; the printed "Roll out"
    commands then work as printed with the pinned tools on PATH (what `eval "$(make env)"` puts there)."""
    tmp_path, _ = platform
    user = yaml.safe_load((tmp_path / "user-kubeconfig").read_text())
    assert user["current-context"] == f"kind-{NAME}", user["current-context"]
    rollout = printed_section(printed, "Roll out")
    assert len(rollout) == 2, rollout
    for command in rollout:
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=_user_env(tmp_path),
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        assert out.returncode == 0, (command, out.stderr)


def test_services_and_pods_answer_on_their_cluster_addresses(platform: tuple[Path, PlaybookRun]) -> None:
    """The host routes: kind's Service range through the control plane, each node's pod range through the node."""
    tmp_path, _ = platform
    nodes = json.loads(_kubectl(tmp_path, "get", "nodes", "-o", "json"))["items"]
    routed = {(r["dst"], r.get("gateway")) for r in routes_into(KIND_RANGES)}
    for node in nodes:
        [address] = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
        assert (node["spec"]["podCIDR"], address) in routed, (node["metadata"]["name"], routed)
    service = json.loads(_kubectl(tmp_path, "-n", NAMESPACE, "get", "service", "mlkube-model-server", "-o", "json"))
    port = service["spec"]["ports"][0]["port"]
    assert httpx.get(f"http://{service['spec']['clusterIP']}:{port}/v2/health/ready", timeout=10).status_code == 200
    server_pods = json.loads(_kubectl(tmp_path, "-n", NAMESPACE, "get", "pods", "-l",
                                      "app.kubernetes.io/name=model-server", "-o", "json"))["items"]  # fmt: skip
    for pod in server_pods:
        assert httpx.get(f"http://{pod['status']['podIP']}:{port}/v2/health/ready", timeout=10).status_code == 200


# A pod in another namespace without any of the platform's client labels: what the policies admit from it.
PROBE = """\
import urllib.error, urllib.request
for url in ("http://mlkube-model-server.mlkube:8080/v2/health/ready", "http://mlkube-mlflow.mlkube:5000/health"):
    try:
        print(url, urllib.request.urlopen(url, timeout=5).status)
    except (urllib.error.URLError, OSError) as error:
        print(url, "refused:", error)
"""


def test_the_platform_s_policies_are_enforced(platform: tuple[Path, PlaybookRun]) -> None:
    """The model server admits any caller on its port; MLflow only its clients (kube-router enforces both)."""
    tmp_path, _ = platform
    image = f"mlkube/kube-proxy:v{VERSIONS['KUBERNETES_VERSION']}"  # on every node (the node image's)
    _kubectl(tmp_path, "run", "probe", f"--image={image}", "--image-pull-policy=Never", "--restart=Never",
             "--command", "--", "python3", "-c", PROBE)  # fmt: skip
    _kubectl(tmp_path, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/probe", "--timeout=120s")
    answers = dict(line.split(" ", 1) for line in _kubectl(tmp_path, "logs", "probe").splitlines())
    assert answers["http://mlkube-model-server.mlkube:8080/v2/health/ready"] == "200", answers
    assert answers["http://mlkube-mlflow.mlkube:5000/health"].startswith("refused:"), answers
