"""End-to-end fixtures: the umbrella chart installed on the suite's cluster (the local cluster, or kind with
MLKUBE_E2E_TARGET=kind), once per session.

The cluster itself is brought up by `make cluster-up` (tests/e2e/e2e.mk runs it before pytest); these
fixtures only check it, install the platform into a namespace of their own and remove it at the end
unless MLKUBE_E2E_KEEP=1.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.ansible.playbook import run_playbook

from . import kube
from .kube import NAMESPACE, helm, kubectl, kubectl_json
from .platform import (
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    PLATFORM,
    RELEASE,
    TIMINGS,
    UMBRELLA,
    platform_values,
)
from .progressive_versions import progressive_versions  # noqa: F401 - a session fixture of two modules


@pytest.fixture(scope="session")
def cluster():
    if not kube.KUBECONFIG.exists():
        pytest.fail(f"no cluster: {kube.KUBECONFIG} is missing — run `make cluster-up` first", pytrace=False)
    nodes = kubectl_json("get", "nodes", namespace=None)["items"]
    real = [n for n in nodes if not kube.fake(n)]
    assert real and all(kube.ready(n) or _node_ready(n) for n in real), "a node of the cluster is not Ready"
    return nodes


def _node_ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


@pytest.fixture(scope="session")
def cluster_addons(cluster) -> None:
    """What `make up` installs before the chart, by the same path: the platform role with
    platform_release_install=false applies the cluster-level manifests, then the local Gateway (Traefik,
    manifests/gateway), Argo Rollouts (manifests/argo-rollouts) and KEDA (manifests/keda), each after its namespace
    and the NetworkPolicy that lets it reach the API server's endpoints only, and waits until each serves. On kind,
    whose inventory leaves the Gateway and KEDA to the user, the suite asks for both, as the local profile uses them."""
    started = time.monotonic()
    extra = ["-e", "platform_gateway=true", "-e", "platform_keda=true"] if kube.TARGET == "kind" else []
    run = run_playbook(kube.TARGET, "--tags", "platform", "-e", "platform_release_install=false", *extra, timeout=1200)
    if run.rc != 0:
        pytest.fail(f"the platform role's add-ons failed:\n{run.explain()}", pytrace=False)
    TIMINGS["install gateway, argo-rollouts, keda (platform role)"] = time.monotonic() - started


@pytest.fixture(scope="session")
def gateway(cluster_addons) -> str:
    """The local Gateway the local profile's HTTPRoute attaches to; its URL."""
    return kube.service_url(GATEWAY_NAME, "http", namespace=GATEWAY_NAMESPACE)


@pytest.fixture(scope="session")
def argo_rollouts(cluster_addons) -> str:
    """The Argo Rollouts controller's namespace."""
    return PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]


@pytest.fixture(scope="session")
def keda(cluster_addons) -> str:
    """KEDA's namespace (its external metrics API is served: the role waited for the APIService)."""
    return PLATFORM["KEDA_NAMESPACE"]


@pytest.fixture(scope="session")
def platform(cluster, gateway, argo_rollouts):
    """`helm upgrade --install` of the umbrella chart (the target's profiles); yields once every pod is Ready."""
    started = time.monotonic()
    kubectl("create", "namespace", NAMESPACE, namespace=None, check=False)
    kubectl(
        "label",
        "--overwrite",
        "namespace",
        NAMESPACE,
        "pod-security.kubernetes.io/enforce=restricted",
        "app.kubernetes.io/part-of=mlkube",
        namespace=None,
    )
    helm("dependency", "build", str(UMBRELLA), "--skip-refresh", timeout=120)
    helm(
        "upgrade",
        "--install",
        RELEASE,
        str(UMBRELLA),
        "--force-conflicts",
        *platform_values(),
        "--wait",
        "--wait-for-jobs",
        "--timeout",
        "15m",
        timeout=960,
    )
    TIMINGS["install platform"] = time.monotonic() - started
    # MLflow authenticates every call: the session registers and promotes versions as the trainers do. The MLflow
    # client and the trainer subprocesses read these; httpx calls pass kube.mlflow_auth().
    username, password = kube.mlflow_credentials("trainer", RELEASE)
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = username, password
    # ...and signs the versions it registers by hand with the trainers' key, which the servers require.
    os.environ["MLKUBE_TRAIN_SIGNING_KEY"] = kube.secret_value(f"{RELEASE}-mlflow-signing", "private-key.pem")
    yield RELEASE
    if os.environ.get("MLKUBE_E2E_KEEP") != "1":
        helm("uninstall", RELEASE, "--wait", "--timeout", "5m", check=False, timeout=330)
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", namespace=None, check=False)


@pytest.fixture(scope="session")
def server_url(platform) -> str:
    return kube.service_url(f"{RELEASE}-model-server")


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("e2e phase times")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name:<40}{seconds:8.1f}s")
