"""End-to-end fixtures: the umbrella chart installed on the local cluster, once per session.

The cluster itself is brought up by `make cluster-up` (tests/e2e/e2e.mk runs it before pytest); these
fixtures only check it, install the platform into a namespace of their own and remove it at the end
unless MLKUBE_E2E_KEEP=1.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.cluster.kube import apply_staged_crds, read_env_file
from tests.support.api_server_policy import CALLERS, caller_policy

from . import kube
from .kube import CACHE, NAMESPACE, ROOT, helm, kubectl, kubectl_json
from .platform import (
    GATEWAY_CRDS,
    GATEWAY_MANIFESTS,
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    PLATFORM,
    RELEASE,
    TIMINGS,
    UMBRELLA,
    api_server_endpoints,
    platform_values,
)
from .progressive_versions import progressive_versions  # noqa: F401 - a session fixture of two modules

VERSIONS = read_env_file(ROOT / "versions.env")
# Traefik's own CRDs (TraefikService backends) and Argo Rollouts' CRDs, staged by `make images`.
TRAEFIK_CRDS = CACHE / "gateway" / f"traefik-crds-{VERSIONS['TRAEFIK_VERSION']}"
ARGO_ROLLOUTS_CRDS = CACHE / "argo-rollouts" / f"crds-{VERSIONS['ARGO_ROLLOUTS_VERSION']}"


@pytest.fixture(scope="session")
def cluster():
    if not kube.KUBECONFIG.exists():
        pytest.fail(f"no cluster: {kube.KUBECONFIG} is missing — run `make cluster-up` first", pytrace=False)
    nodes = kubectl_json("get", "nodes", namespace=None)["items"]
    real = [n for n in nodes if n["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") != "fake"]
    assert real and all(kube.ready(n) or _node_ready(n) for n in real), "the cluster's real node is not Ready"
    return nodes


def _node_ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


@pytest.fixture(scope="session")
def gateway(cluster) -> str:
    """The local Gateway (Traefik, manifests/gateway/) the local profile's HTTPRoute attaches to; its URL."""
    started = time.monotonic()
    kubectl("apply", "-f", str(ROOT / "manifests" / "priority-classes.yaml"), namespace=None)
    if not GATEWAY_CRDS.is_dir():
        pytest.fail(f"no Gateway API CRDs at {GATEWAY_CRDS}: run `make images` first", pytrace=False)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(GATEWAY_CRDS), namespace=None)
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(GATEWAY_CRDS), namespace=None)
    _apply_crds(TRAEFIK_CRDS)
    _let_reach_the_api_server("gateway", GATEWAY_MANIFESTS / "00-namespace.yaml")
    kubectl("apply", "-f", str(GATEWAY_MANIFESTS), namespace=None)
    kubectl(
        "wait",
        "--for=condition=Programmed",
        "--timeout=180s",
        f"gateway/{GATEWAY_NAME}",
        namespace=GATEWAY_NAMESPACE,
        timeout=200,
    )
    TIMINGS["install gateway"] = time.monotonic() - started
    return kube.service_url(GATEWAY_NAME, "http", namespace=GATEWAY_NAMESPACE)


@pytest.fixture(scope="session")
def argo_rollouts(cluster) -> str:
    """The Argo Rollouts controller (manifests/argo-rollouts/, image built by `make images`); its namespace."""
    started = time.monotonic()
    kubectl("apply", "-f", str(ROOT / "manifests" / "priority-classes.yaml"), namespace=None)
    _apply_crds(ARGO_ROLLOUTS_CRDS)
    _let_reach_the_api_server("argo_rollouts", ROOT / "manifests" / "argo-rollouts" / "00-namespace.yaml")
    kubectl("apply", "-f", str(ROOT / "manifests" / "argo-rollouts"), namespace=None)
    namespace = PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]
    kubectl(
        "wait",
        "--for=condition=Available",
        "--timeout=180s",
        "deployment/argo-rollouts",
        namespace=namespace,
        timeout=200,
    )
    TIMINGS["install argo-rollouts"] = time.monotonic() - started
    return namespace


def _let_reach_the_api_server(caller: str, namespace_file: Path) -> None:
    """As the platform role does before the workload of manifests/gateway or manifests/argo-rollouts, whose own
    policies cannot know the API server's address: their namespace, then the policy that admits its endpoints."""
    kubectl("apply", "-f", str(namespace_file), namespace=None)
    policy = caller_policy(CALLERS[caller], *api_server_endpoints())
    kubectl("apply", "-f", "-", namespace=None, input=json.dumps(policy))


def _apply_crds(directory: Path) -> None:
    apply_staged_crds(lambda *args: kubectl(*args, namespace=None), directory)


@pytest.fixture(scope="session")
def platform(cluster, gateway, argo_rollouts):
    """`helm upgrade --install` of the umbrella chart (local profile); yields once every pod is Ready."""
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
