"""3d. Autoscaling on requests in flight (issue 14.5): KEDA, built from Go modules (manifests/keda), scales the model
server's Deployment on `mlkube_inflight_requests` read from the platform's Prometheus (`autoscaling.keda`).

A crowd of callers that each wait for their answer (100-row batches, so that requests queue in the servers) keeps
more requests in flight per pod than the target: KEDA's HPA adds pods up to `maxReplicas`. When the crowd leaves,
the in-flight average falls to 0 and, after the scale-down stabilisation window, the HPA returns to
`minReplicas`. The seconds each took are printed in the e2e timings table (scrape interval, averaging window, the
HPA's sync period and a new pod's model load add up there). No CPU metric is used: the local cluster runs no
metrics-server, so what moves the replicas here is the in-flight metric alone. The release is put back as the local
profile has it afterwards.
"""

from __future__ import annotations

import threading
import time

import pytest

from . import overload, rollout
from .kube import kubectl_json, service_url, wait_for
from .load import PENGUIN
from .platform import TIMINGS
from .rollout import SERVER

MIN_REPLICAS, MAX_REPLICAS = 2, 3  # the local profile runs 2 server pods
TARGET_INFLIGHT = 2
WINDOW = "30s"
STABILIZATION_S = 30
CROWD_CALLERS, CROWD_S = 24, 150
CROWD_BODY = {"penguins": [PENGUIN] * 100}
KEDA_VALUES = {
    "autoscaling.enabled": "true",
    "autoscaling.minReplicas": str(MIN_REPLICAS),
    "autoscaling.maxReplicas": str(MAX_REPLICAS),
    "autoscaling.keda.enabled": "true",
    "autoscaling.keda.targetInflightRequests": str(TARGET_INFLIGHT),
    "autoscaling.keda.window": WINDOW,
    "autoscaling.keda.scaleDownStabilizationSeconds": str(STABILIZATION_S),
    "autoscaling.keda.scaleOnCpu": "false",
}


def _hpa() -> dict:
    return kubectl_json("get", "hpa", f"keda-hpa-{SERVER}")


def _replicas() -> int:
    return kubectl_json("get", "deployment", SERVER)["spec"].get("replicas", 0)


def _ready_replicas() -> int:
    return kubectl_json("get", "deployment", SERVER)["status"].get("readyReplicas", 0)


def _at_rest() -> bool:
    """The HPA at minReplicas, all of them Ready, reading fewer requests in flight per pod than the target."""
    metric = _inflight_metric(_hpa())
    return (
        metric is not None
        and metric < TARGET_INFLIGHT
        and _replicas() == MIN_REPLICAS
        and _ready_replicas() == MIN_REPLICAS
    )


def _scaled_object_ready() -> bool:
    status = kubectl_json("get", "scaledobject", SERVER).get("status", {})
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


def _inflight_metric(hpa: dict) -> float | None:
    """The external metric's current average per pod, as the HPA last read it from KEDA."""
    for metric in hpa.get("status", {}).get("currentMetrics") or []:
        if metric.get("type") == "External":
            return _quantity(metric["external"]["current"]["averageValue"])
    return None


def _quantity(text: str) -> float:
    """A Kubernetes quantity as the HPA writes metric values: plain, milli (`12500m`) or kilo (`3k`)."""
    scale = {"m": 1e-3, "k": 1e3}.get(text[-1:], 1.0)
    return float(text.rstrip("mk")) * scale


@pytest.fixture(scope="module")
def autoscaled(platform, keda):
    """The release with KEDA scaling its stable Deployment on requests in flight; put back afterwards."""
    rollout.upgrade(**KEDA_VALUES)
    wait_for("KEDA to accept the ScaledObject", _scaled_object_ready, timeout=120, interval=3)
    wait_for("KEDA's HPA to read the in-flight metric", lambda: _inflight_metric(_hpa()) is not None,
             timeout=180, interval=5)  # fmt: skip
    # The load of the tests before this one stays in the averaging window for a while (the fault suite ends with a
    # crowd at 3x capacity), and the HPA may scale out on it at once: start from rest.
    wait_for("the servers to be at rest", _at_rest, timeout=STABILIZATION_S + 240, interval=3)
    yield
    rollout.upgrade()
    wait_for("the local profile's server pods", lambda: _ready_replicas() == MIN_REPLICAS, timeout=300, interval=3)


def test_keda_scales_out_on_requests_in_flight_and_back_in(autoscaled) -> None:
    hpa = _hpa()
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External", hpa["spec"]["metrics"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (MIN_REPLICAS, MAX_REPLICAS)
    assert _replicas() == MIN_REPLICAS, "no load: the HPA keeps minReplicas"

    url = f"{service_url(SERVER)}/predict/batch"
    results: list[overload.Attack] = []
    crowd = threading.Thread(
        target=lambda: results.append(overload.attack(url, CROWD_BODY, CROWD_S, workers=CROWD_CALLERS)), daemon=True
    )
    started = time.monotonic()
    crowd.start()
    try:
        wait_for(f"KEDA to scale the servers out to {MAX_REPLICAS}", lambda: _replicas() == MAX_REPLICAS,
                 timeout=CROWD_S - 10, interval=2)  # fmt: skip
        TIMINGS["autoscaling: scale out (load to replicas)"] = time.monotonic() - started
        seen = _inflight_metric(_hpa())
        wait_for("the new pod to be Ready", lambda: _ready_replicas() == MAX_REPLICAS, timeout=120, interval=2)
        TIMINGS["autoscaling: scale out (load to Ready)"] = time.monotonic() - started
    finally:
        crowd.join(timeout=CROWD_S + 120)
    (attack,) = results
    print(f"\ncrowd: {attack.summary()}; in-flight per pod as the HPA read it: {seen}")
    assert seen is not None and seen > TARGET_INFLIGHT, seen
    assert attack.count(200) > 0 and not attack.errors, attack.summary()

    stopped = time.monotonic()
    wait_for(f"the HPA to scale back in to {MIN_REPLICAS}", lambda: _replicas() == MIN_REPLICAS,
             timeout=STABILIZATION_S + 240, interval=3)  # fmt: skip
    TIMINGS["autoscaling: scale in (idle to replicas)"] = time.monotonic() - stopped
