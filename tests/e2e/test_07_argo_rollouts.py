"""Argo Rollouts on the suite's cluster: the controller built from Go modules serves its metrics; a canary
Rollout steps through setWeight 50 and a timed pause to Healthy after a template change, as
`kubectl argo rollouts get rollout` (the plugin built beside it) shows; and with the Traefik router the
controller sets the weights of a TraefikService that an HTTPRoute of the local Gateway sends traffic to."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cluster.kube import read_env_file

from .kube import ROOT, TARGET, kubectl, kubectl_json, port_forward, run, service_url, wait_for
from .platform import PLATFORM

VERSIONS = read_env_file(ROOT / "versions.env")

# The local cluster's sandbox image: always present, runs as a non-root user, needs no model or network.
IMAGE = f"{PLATFORM['IMAGE_PREFIX']}/pause:{PLATFORM['IMAGE_TAG']}"
# An HTTP backend that needs nothing either: Traefik (the gateway image) answering GET /ping with 200.
PING_IMAGE = f"{PLATFORM['GATEWAY_IMAGE']}:{PLATFORM['IMAGE_TAG']}"
PING_PORT = 8080
NAME = "canary-smoke"
HOST = "argo-canary.smoke.test"


def rollout(revision: str, traffic: dict | None = None) -> dict:
    labels = {"app": NAME}
    canary: dict = {"steps": [{"setWeight": 50}, {"pause": {"duration": "5s"}}]}
    server: dict = {"name": "pause", "image": IMAGE}
    if traffic:
        canary.update(traffic)
        server = {
            "name": "ping",
            "image": PING_IMAGE,
            "args": ["--ping=true", f"--entryPoints.traefik.address=:{PING_PORT}"],
            "ports": [{"name": "http", "containerPort": PING_PORT}],
            "readinessProbe": {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 1},
        }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": NAME},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 1,
            "selector": {"matchLabels": labels},
            "strategy": {"canary": canary},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 1,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65535,
                        "runAsGroup": 65535,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            **server,
                            "imagePullPolicy": "IfNotPresent",
                            "env": [{"name": "REVISION", "value": revision}],
                            "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "128Mi"}},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


@pytest.fixture
def namespace(argo_rollouts: str) -> Iterator[str]:
    name = f"argo-smoke-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name, namespace=None)
    # part-of mlkube: the local Gateway admits HTTPRoutes from such namespaces only.
    kubectl(
        "label",
        "namespace",
        name,
        "pod-security.kubernetes.io/enforce=restricted",
        "app.kubernetes.io/part-of=mlkube",
        namespace=None,
    )
    yield name
    kubectl("delete", "namespace", name, "--wait=false", namespace=None, check=False)


def status(namespace: str) -> dict:
    return kubectl_json("get", f"rollout/{NAME}", namespace=namespace).get("status", {})


def healthy(namespace: str) -> dict | None:
    """The status once the newest template is the stable one, fully available, and every step done."""
    s = status(namespace)
    done = (
        s.get("phase") == "Healthy"
        and s.get("stableRS") == s.get("currentPodHash")
        and s.get("availableReplicas") == 2
        and s.get("currentStepIndex") == 2
    )
    return s if done else None


def plugin_view(namespace: str) -> str:
    return run("kubectl", "argo", "rollouts", "get", "rollout", NAME, "--namespace", namespace, "--no-color").stdout


def metrics(namespace: str) -> dict[str, list]:
    """The controller's /metrics through its Service, as {family name: samples}. Its policy admits Prometheus and the
    cluster's nodes: the local cluster's host is its node; from kind's Docker host, through a port-forward."""
    url = service_url("argo-rollouts-metrics", "metrics", namespace=namespace)
    port = PLATFORM["ARGO_ROLLOUTS_METRICS_PORT"]
    assert url.endswith(f":{port}")
    if TARGET == "kind":
        with port_forward("service/argo-rollouts-metrics", int(port), namespace) as forwarded:
            text = httpx.get(f"{forwarded}/metrics", timeout=5).raise_for_status().text
    else:
        text = httpx.get(f"{url}/metrics", timeout=5).raise_for_status().text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_controller_metrics_answer(argo_rollouts: str) -> None:
    families = wait_for("the controller's /metrics", lambda: metrics(argo_rollouts), timeout=60)
    (info,) = families["argo_rollouts_controller_info"]
    assert info.labels["version"].startswith(f"v{VERSIONS['ARGO_ROLLOUTS_VERSION']}+"), info.labels


def test_canary_steps_through_weight_and_pause_to_healthy(argo_rollouts: str, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(rollout("1")), namespace=namespace)
    first = wait_for("the first revision to be Healthy", lambda: healthy(namespace), timeout=120, interval=1)

    kubectl("apply", "-f", "-", input=json.dumps(rollout("2")), namespace=namespace)
    # The canary holds at step 1 (weight 50: one of two pods) during the 5 s pause.
    paused = wait_for(
        "the canary to pause after setWeight 50",
        lambda: (s := status(namespace)).get("currentStepIndex") == 1 and s.get("pauseConditions") and s,
        timeout=120,
        interval=0.5,
    )
    assert paused["currentPodHash"] != first["stableRS"]
    view = plugin_view(namespace)
    assert re.search(r"Step:\s+1/2\n", view) and re.search(r"SetWeight:\s+50\n", view), view

    done = wait_for(
        "the canary to finish its steps and become stable", lambda: healthy(namespace), timeout=120, interval=1
    )
    assert done["stableRS"] == paused["currentPodHash"]
    view = plugin_view(namespace)
    assert re.search(r"Status:\s+\S+ Healthy\n", view) and re.search(r"Step:\s+2/2\n", view), view

    (info,) = [
        s
        for s in metrics(argo_rollouts)["rollout_info"]
        if (s.labels["namespace"], s.labels["name"]) == (namespace, NAME)
    ]
    # The controller's own metric calls a rollout whose steps all ran "Completed" (its status phase says Healthy).
    assert info.labels["phase"] in ("Healthy", "Completed") and info.labels["strategy"] == "canary", info.labels


def traffic_objects() -> list[dict]:
    """Stable and canary Services, the weighted TraefikService over them, and the HTTPRoute to it."""
    services = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{NAME}-{track}"},
            "spec": {"selector": {"app": NAME}, "ports": [{"name": "http", "port": PING_PORT, "targetPort": "http"}]},
        }
        for track in ("stable", "canary")
    ]
    weighted = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TraefikService",
        "metadata": {"name": NAME},
        "spec": {
            "weighted": {
                "services": [
                    {"name": f"{NAME}-stable", "port": PING_PORT, "weight": 100},
                    {"name": f"{NAME}-canary", "port": PING_PORT, "weight": 0},
                ]
            }
        },
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": NAME},
        "spec": {
            "parentRefs": [{"name": PLATFORM["GATEWAY_NAME"], "namespace": PLATFORM["GATEWAY_NAMESPACE"]}],
            "hostnames": [HOST],
            "rules": [{"backendRefs": [{"group": "traefik.io", "kind": "TraefikService", "name": NAME}]}],
        },
    }
    return [*services, weighted, route]


def weights(namespace: str) -> dict[str, int]:
    spec = kubectl_json("get", f"traefikservice/{NAME}", namespace=namespace)["spec"]
    return {s["name"].removeprefix(f"{NAME}-"): s["weight"] for s in spec["weighted"]["services"]}


def route_resolved(namespace: str) -> bool:
    parents = kubectl_json("get", f"httproute/{NAME}", namespace=namespace).get("status", {}).get("parents", [])
    return any(c["type"] == "ResolvedRefs" and c["status"] == "True" for p in parents for c in p["conditions"])


def test_canary_weights_reach_the_traefik_service_behind_the_gateway(gateway: str, namespace: str) -> None:
    traffic = {
        "canaryService": f"{NAME}-canary",
        "stableService": f"{NAME}-stable",
        "trafficRouting": {"traefik": {"weightedTraefikServiceName": NAME}},
    }
    kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": traffic_objects()}),
        namespace=namespace,
    )
    kubectl("apply", "-f", "-", input=json.dumps(rollout("1", traffic)), namespace=namespace)
    wait_for("the first revision to be Healthy", lambda: healthy(namespace), timeout=180, interval=1)
    # Traefik's Gateway provider resolves a traefik.io/TraefikService backendRef through its CRD provider.
    wait_for("the HTTPRoute's TraefikService backend to resolve", lambda: route_resolved(namespace), timeout=60)
    answer = wait_for(
        "the Gateway to answer through the TraefikService",
        lambda: (r := httpx.get(f"{gateway}/ping", headers={"Host": HOST}, timeout=5)).status_code == 200 and r,
        timeout=60,
    )
    assert answer.status_code == 200

    kubectl("apply", "-f", "-", input=json.dumps(rollout("2", traffic)), namespace=namespace)
    wait_for(
        "the canary to pause with half the weight",
        lambda: status(namespace).get("pauseConditions") and weights(namespace) == {"stable": 50, "canary": 50},
        timeout=120,
        interval=0.5,
    )
    wait_for("the canary to finish its steps and become stable", lambda: healthy(namespace), timeout=120, interval=1)
    assert weights(namespace) == {"stable": 100, "canary": 0}
    assert httpx.get(f"{gateway}/ping", headers={"Host": HOST}, timeout=5).status_code == 200
