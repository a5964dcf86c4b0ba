"""KServe's admission of an InferenceService, and its controller's choice of a ServingRuntime, as far as a chart sets.

KServe's webhook is Go (``pkg/apis/serving/v1beta1/inference_service_validation.go``) and its module is not on this
machine's Go proxy, so the rules the chart's InferenceServices meet are restated here from that file and its tests
at the pinned KServe version (versions.env KSERVE_VERSION); test_kserve_admission runs KServe's own test scenarios
through them so that each rule is seen to reject what KServe rejects. Each error message is KServe's.
"""

from __future__ import annotations

import re
from typing import Any

Obj = dict[str, Any]

NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
FRAMEWORKS = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml", "lightgbm",
              "paddle", "model")  # fmt: skip
BLOCKED_ENV = ("PYTHONPATH",)
AUTOSCALER_CLASSES = ("hpa", "external", "keda", "none")
KPA_METRICS = ("concurrency", "rps")
CANARY_FORBIDDEN = ("maxReplicas", "scaleTarget", "scaleMetric", "autoScaling", "workerSpec")
RUNTIME_CONTAINER = "kserve-container"


class Rejected(ValueError):
    """The webhook's (or the controller's) answer: the object is not admitted, or its predictor never runs."""


def _implementations(predictor: Obj) -> list[str]:
    found = [key for key in FRAMEWORKS if predictor.get(key) is not None]
    if predictor.get("containers"):
        found.append("containers")
    return found


def _env_names(container: Obj) -> list[str]:
    return [env["name"] for env in container.get("env", [])]


def _check_blocked_env(isvc_name: str, predictor: Obj) -> None:
    containers = [*predictor.get("containers", []), *predictor.get("initContainers", [])]
    containers += [predictor[key] for key in FRAMEWORKS if predictor.get(key) is not None]
    for container in containers:
        for name in _env_names(container):
            if name in BLOCKED_ENV:
                raise Rejected(f'the InferenceService "{isvc_name}" is invalid: setting {name} in container '
                               f'"{container.get("name", "")}" is not allowed for security reasons')  # fmt: skip


def _check_component(predictor: Obj, standard: bool, annotations: dict[str, str]) -> None:
    found = _implementations(predictor)
    if len(found) != 1:
        raise Rejected(f"exactly one implementation is required, found {found or 'none'}")
    if any(predictor.get(key, {}).get("name") for key in FRAMEWORKS if predictor.get(key) is not None):
        raise Rejected("the 'name' field is not allowed in standard predictor")
    if not standard:
        if predictor.get("deploymentStrategy") is not None:
            raise Rejected("customizing deploymentStrategy is only supported for raw deployment mode")
        if annotations.get("autoscaling.knative.dev/class") != "hpa.autoscaling.knative.dev":
            metric = predictor.get("scaleMetric", "concurrency")
            if metric not in KPA_METRICS:
                raise Rejected(f"[{metric}] is not a supported metric")


def _check_canaries(isvc: Obj, standard: bool) -> None:
    spec = isvc["spec"]
    canaries = spec.get("canary") or []
    if not canaries:
        return
    if not standard:
        raise Rejected("spec.canary is only supported in Standard deployment mode")
    stable = spec["predictor"]
    if stable.get("model") is None:
        raise Rejected("spec.canary requires a stable predictor with a model (predictor.model)")
    stable_min = stable.get("minReplicas", 1)
    names: set[str] = set()
    total = 0
    for index, canary in enumerate(canaries):
        where = f"spec.canary[{index}]"
        predictor = canary.get("predictor", {})
        name = predictor.get("name")
        if not name:
            raise Rejected(f"{where}.predictor.name is required")
        if name in names:
            raise Rejected(f"{where}.predictor.name {name!r} is duplicated")
        if name == stable.get("name"):
            raise Rejected(f"{where}.predictor.name {name!r} conflicts with stable predictor name")
        names.add(name)
        percent = canary.get("trafficPercent", 0)
        if not 0 <= percent <= 100:
            raise Rejected(f"{where}.trafficPercent must be between 0 and 100")
        total += percent
        for field in CANARY_FORBIDDEN:
            if predictor.get(field) is not None:
                raise Rejected(f"{where}.predictor must not set {field}")
        minimum = predictor.get("minReplicas")
        if minimum is not None and minimum > stable_min:
            raise Rejected(f"{where}.predictor.minReplicas {minimum} must not exceed stable minReplicas {stable_min}")
    if total > 100:
        raise Rejected(f"sum of canary trafficPercent ({total}) must be <= 100")


def validate_create(isvc: Obj) -> None:
    """Raise Rejected where KServe's validating webhook refuses ``isvc`` on create."""
    name = isvc["metadata"]["name"]
    annotations = isvc["metadata"].get("annotations", {})
    if not NAME.match(name):
        raise Rejected(f"the InferenceService {name!r} is invalid: the name must match {NAME.pattern}")
    autoscaler = annotations.get("serving.kserve.io/autoscalerClass")
    if autoscaler is not None and autoscaler not in AUTOSCALER_CLASSES:
        raise Rejected(f"[{autoscaler}] is not a supported autoscaler class type")
    standard = annotations.get("serving.kserve.io/deploymentMode") == "Standard"
    predictor = isvc["spec"]["predictor"]
    _check_blocked_env(name, predictor)
    _check_component(predictor, standard, annotations)
    _check_canaries(isvc, standard)


def _storage_uri(predictor: Obj) -> str | None:
    for key in FRAMEWORKS:
        if predictor.get(key) is not None:
            return predictor[key].get("storageUri")
    for container in predictor.get("containers", []):
        for env in container.get("env", []):
            if env["name"] == "STORAGE_URI":
                return env.get("value")
    return None


def validate_update(old: Obj, new: Obj) -> None:
    """Raise Rejected where KServe refuses ``new`` as an update of ``old`` (then checks it as on create)."""
    old_mode = old["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode")
    new_mode = new["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode")
    if old_mode and new_mode and old_mode != new_mode:
        raise Rejected(f"update rejected: deploymentMode cannot be changed from '{old_mode}' to '{new_mode}'")
    old_predictor, new_predictor = old["spec"]["predictor"], new["spec"]["predictor"]
    if old_predictor.get("name") != new_predictor.get("name"):
        if _storage_uri(old_predictor) == _storage_uri(new_predictor):
            raise Rejected("predictor.name change requires a model change (e.g. storageUri)")
    validate_create(new)


def serving_runtime(predictor: Obj, runtimes: list[Obj]) -> Obj:
    """The ServingRuntime KServe's controller picks for a predictor.model, or Rejected where none fits."""
    model = predictor["model"]
    wanted = model.get("runtime")
    fmt = model["modelFormat"]
    protocol = model.get("protocolVersion", "v1")
    for runtime in runtimes:
        if wanted is not None and runtime["metadata"]["name"] != wanted:
            continue
        spec = runtime["spec"]
        if spec.get("disabled") or spec.get("multiModel"):
            continue
        formats = [f for f in spec.get("supportedModelFormats", []) if f["name"] == fmt["name"]]
        if "version" in fmt:
            formats = [f for f in formats if f.get("version", "").split(".")[0] == fmt["version"].split(".")[0]]
        if wanted is None:
            formats = [f for f in formats if f.get("autoSelect")]
        if formats and protocol in spec.get("protocolVersions", ["v1"]):
            return runtime
    raise Rejected(f"no runtime found to support predictor with model type: {fmt} (runtime {wanted!r})")


def predictor_pod(predictor: Obj, runtimes: list[Obj]) -> Obj:
    """The pod spec KServe builds for a predictor: a model's fields laid over its runtime's kserve-container."""
    if predictor.get("model") is None:
        return predictor
    runtime = serving_runtime(predictor, runtimes)
    [base] = [c for c in runtime["spec"]["containers"] if c["name"] == RUNTIME_CONTAINER]
    model = {k: v for k, v in predictor["model"].items()
             if k not in ("modelFormat", "runtime", "protocolVersion", "storageUri", "runtimeVersion")}  # fmt: skip
    container = {**base, **model}
    env = {e["name"]: e for e in base.get("env", [])} | {e["name"]: e for e in model.get("env", [])}
    if env:
        container["env"] = list(env.values())
    pod = {k: v for k, v in predictor.items() if k != "model"}
    pod["containers"] = [container]
    return pod
