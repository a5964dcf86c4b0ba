"""The chart's InferenceServices as KServe admits them (issue 15.5): the canary rules of KServe 0.20+, a predictor
that names the chart's ServingRuntime, and updates (canary, promotion, rollback) that KServe accepts in order.

kserve_admission restates KServe's webhook rules; the first test runs KServe's own validation scenarios through
it, so a rule that stopped rejecting would fail here before the chart tests could pass on it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from chart_helpers import RELEASE, Scenario, find, pod_templates, render, run, tool

from tests.charts.kserve_admission import Rejected, serving_runtime, validate_create, validate_update

MODES = {"standard": "ci/kserve-standard-values.yaml", "knative": "ci/kserve-knative-values.yaml"}


def _isvc(predictor: dict[str, Any], canaries: list[dict[str, Any]] | None = None, mode: str = "Standard"):
    spec: dict[str, Any] = {"predictor": predictor}
    if canaries is not None:
        spec["canary"] = canaries
    return {"metadata": {"name": "foo", "annotations": {"serving.kserve.io/deploymentMode": mode}}, "spec": spec}


def _model(uri: str, **extra: Any) -> dict[str, Any]:
    return {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri}, **extra}


def _canary(name: str, percent: int, **extra: Any) -> dict[str, Any]:
    return {"trafficPercent": percent, "predictor": _model(f"gs://test/model-{name}", name=name, **extra)}


STABLE = _model("gs://test/model-v1", minReplicas=4)
CUSTOM = {"containers": [{"name": "kserve-container", "image": "custom-server:latest"}]}

# KServe's TestValidateCanarySpecs and its neighbours: (isvc, the part of KServe's message, or None when admitted).
KSERVE_SCENARIOS = {
    "no canaries": (_isvc(STABLE), None),
    "one canary": (_isvc(STABLE, [_canary("v2", 10)]), None),
    "traffic sum 100": (_isvc(STABLE, [_canary("v2", 50), _canary("v3", 50)]), None),
    "dark launch at 0": (_isvc(STABLE, [_canary("v2", 0)]), None),
    "canary minReplicas equal to stable": (_isvc(STABLE, [_canary("v2", 10, minReplicas=4)]), None),
    "canary in Knative mode": (_isvc(STABLE, [_canary("v2", 10)], mode="Knative"), "only supported in Standard"),
    "canary without a name": (
        _isvc(STABLE, [{"trafficPercent": 10, "predictor": _model("gs://test/v2")}]),
        "predictor.name is required",
    ),
    "duplicate canary names": (_isvc(STABLE, [_canary("v2", 10), _canary("v2", 20)]), "duplicated"),
    "canary named as stable": (
        _isvc({**STABLE, "name": "stable"}, [_canary("stable", 10)]),
        "conflicts with stable",
    ),
    "traffic sum over 100": (_isvc(STABLE, [_canary("v2", 60), _canary("v3", 50)]), "must be <= 100"),
    "canary with maxReplicas": (_isvc(STABLE, [_canary("v2", 10, maxReplicas=5)]), "must not set maxReplicas"),
    "canary minReplicas over stable": (_isvc(STABLE, [_canary("v2", 10, minReplicas=5)]), "must not exceed stable"),
    "canary minReplicas over the default 1": (
        _isvc(_model("gs://test/model-v1"), [_canary("v2", 10, minReplicas=2)]),
        "must not exceed stable",
    ),
    "canary with workerSpec": (_isvc(STABLE, [_canary("v2", 10, workerSpec={})]), "must not set workerSpec"),
    "stable is a custom container": (_isvc(CUSTOM, [_canary("v2", 10)]), "requires a stable predictor with a model"),
    "PYTHONPATH set": (
        _isvc({"containers": [{"name": "kserve-container", "env": [{"name": "PYTHONPATH", "value": "/x"}]}]}),
        "PYTHONPATH",
    ),
    "model with a container name": (
        _isvc({"model": {"modelFormat": {"name": "sklearn"}, "name": "server"}}),
        "'name' field is not allowed",
    ),
    "two implementations": (_isvc({**STABLE, **CUSTOM}), "exactly one implementation"),
    "deploymentStrategy in Knative mode": (
        _isvc(_model("gs://x", deploymentStrategy={"type": "Recreate"}), mode="Knative"),
        "only supported for raw deployment mode",
    ),
}


@pytest.mark.parametrize("name", KSERVE_SCENARIOS)
def test_the_rules_answer_kserves_own_scenarios_as_kserve_does(name: str) -> None:
    isvc, message = KSERVE_SCENARIOS[name]
    if message is None:
        validate_create(isvc)
    else:
        with pytest.raises(Rejected, match=message):
            validate_create(isvc)


def test_a_predictor_name_change_needs_a_model_change_as_in_kserve() -> None:
    v1, v2 = _isvc(_model("gs://test/model-v1")), _isvc(_model("gs://test/model-v2", name="v2"))
    validate_update(v1, v2)  # promotion: the name follows the model
    with pytest.raises(Rejected, match="predictor.name change requires a model change"):
        validate_update(v1, _isvc(_model("gs://test/model-v1", name="v2")))


def _chart(mode: str, *sets: str) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    objects = render(Scenario("model-server", (MODES[mode],), sets))
    [isvc] = find(objects, "InferenceService")
    return isvc, objects


# Each profile a user meets: the ci values (a canary), no canary, and the Knative canary at its ends.
CHART_SETTINGS = [
    ("standard", ()),
    ("standard", ("strategy=rolling",)),
    ("standard", ("canary.weight=0",)),
    ("standard", ("canary.image.tag=next",)),
    ("knative", ()),
    ("knative", ("kserve.canaryTrafficPercent=0",)),
    ("knative", ("kserve.canaryTrafficPercent=null",)),
]


@pytest.mark.parametrize(("mode", "sets"), CHART_SETTINGS, ids=lambda v: str(v))
def test_kserve_admits_every_inference_service_the_chart_renders(mode: str, sets: tuple[str, ...]) -> None:
    isvc, objects = _chart(mode, *sets)
    validate_create(isvc)
    runtimes = find(objects, "ServingRuntime")
    predictors = [isvc["spec"]["predictor"]] + [c["predictor"] for c in isvc["spec"].get("canary", [])]
    for predictor in predictors:
        assert "containers" not in predictor and predictor["model"]["runtime"] == "mlkube-model-server"
        assert "storageUri" not in predictor["model"]  # the server reads MLflow's registry: no storage initializer
        assert serving_runtime(predictor, runtimes)["metadata"]["name"] == "mlkube-model-server"


@pytest.mark.parametrize("mode", MODES)
def test_the_serving_runtime_is_only_chosen_by_name_and_serves_one_port(mode: str) -> None:
    isvc, objects = _chart(mode)
    [runtime] = find(objects, "ServingRuntime")
    spec = runtime["spec"]
    assert [f.get("autoSelect") for f in spec["supportedModelFormats"]] == [False]  # never picked for others' models
    assert {"v1", "v2"} <= set(spec["protocolVersions"]) and spec["multiModel"] is False
    [container] = spec["containers"]
    assert container["name"] == "kserve-container"
    assert [p["name"] for p in container["ports"]] == ["http1"]  # Knative: one port, named http1
    unnamed = copy.deepcopy(isvc["spec"]["predictor"])
    unnamed["model"].pop("runtime")
    with pytest.raises(Rejected, match="no runtime found"):
        serving_runtime(unnamed, find(objects, "ServingRuntime"))


@pytest.mark.parametrize("mode", MODES)
def test_each_predictor_pod_runs_its_own_variant_on_the_runtimes_image(mode: str) -> None:
    isvc, objects = _chart(mode, "canary.image.tag=next")
    [runtime] = find(objects, "ServingRuntime")
    pods = pod_templates(isvc, objects)
    for labels, pod in pods:
        [container] = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MLKUBE_VARIANT"] == labels["mlkube.io/variant"]
        assert env["MLKUBE_MODEL_VERSION"] == labels["mlkube.io/model-version"]
        assert container["ports"] == runtime["spec"]["containers"][0]["ports"]
    images = {labels["mlkube.io/variant"]: pod["containers"][0]["image"] for labels, pod in pods}
    if mode == "standard":
        assert images["stable"] == runtime["spec"]["containers"][0]["image"]
        assert images["canary"].endswith(":next")


def test_a_standard_canary_then_its_promotion_and_rollback_are_admitted_in_order() -> None:
    """helm upgrade from no canary, to a canary, to the canary's version as stable (or back): every step an update
    KServe admits; the stable predictor keeps its name, so no step asks for a storage change."""
    before, _ = _chart("standard", "strategy=rolling")
    canary, _ = _chart("standard")
    args = Scenario("model-server", (MODES["standard"],), ("strategy=rolling",)).helm_args()
    rendered = run([tool("helm"), "template", RELEASE, *args, "--set-string", "model.version=2"]).stdout
    [promoted] = [o for o in yaml.safe_load_all(rendered) if o and o["kind"] == "InferenceService"]
    for old, new in [(before, canary), (canary, promoted), (canary, before)]:
        validate_update(old, new)
    assert {c["predictor"]["name"] for c in canary["spec"]["canary"]} == {"canary"}
    assert before["spec"]["predictor"]["name"] == promoted["spec"]["predictor"]["name"] == "stable"
    assert promoted["spec"]["predictor"]["labels"]["mlkube.io/model-version"] == "2"


def test_a_canary_with_more_replicas_than_its_stable_predictor_fails_at_render_with_the_reason() -> None:
    scenario = Scenario("model-server", (MODES["standard"],), ("canary.replicas=3",))
    result = run([tool("helm"), "template", RELEASE, *scenario.helm_args()], check=False)
    assert result.returncode != 0
    assert "canary.replicas (3) must not exceed kserve.minReplicas (2)" in result.stderr
