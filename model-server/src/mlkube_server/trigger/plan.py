"""What to do with the Rollout, decided from its JSON alone (no I/O): JSON Patch operations and verdicts.

The pod template carries the state of a registry-started rollout:
- env ``MLKUBE_SERVER_MODELS`` (JSON ``{name: uri}``) points the model at ``models:/<name>/<version>``,
- env ``MLKUBE_MODEL_VERSION`` is that version,
- annotation ``mlkube.io/challenger`` is ``<name>/<version>``.
The Rollout's own metadata (not the template, so Argo ignores it) keeps the stable template's values in
``mlkube.io/stable-template``, to put back after an abort: the template then equals the stable ReplicaSet's
again, which Argo treats as a rollback and fast-tracks (no steps, no analysis).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import RolloutShapeError

ENV_MODELS = "MLKUBE_SERVER_MODELS"
ENV_MODEL_VERSION = "MLKUBE_MODEL_VERSION"
LABEL_MODEL_VERSION = "mlkube.io/model-version"  # platform.env LABEL_MODEL_VERSION, on the pod template
ANNOTATION_CHALLENGER = "mlkube.io/challenger"
ANNOTATION_STABLE_TEMPLATE = "mlkube.io/stable-template"
ANNOTATION_RECORDED = "mlkube.io/recorded"  # the last <name>/<version> whose outcome is in the registry

# Rollout states, as far as the trigger cares.
STABLE = "stable"  # the template is the stable ReplicaSet's and the Rollout is Healthy
PROGRESSING = "progressing"  # a rollout of the template is under way (or paused)
ABORTED = "aborted"  # Argo aborted it: traffic is back on stable, the template still holds the candidate
PENDING = "pending"  # Argo has not observed the latest spec yet


@dataclass(frozen=True)
class Template:
    container: int  # index of the container that has ENV_MODELS
    models_env: int  # index of ENV_MODELS in its env
    version_env: int | None  # index of ENV_MODEL_VERSION, if present
    models: dict[str, str]
    models_raw: str  # the value as written (a revert must restore it byte for byte: the pod hash depends on it)
    version: str | None
    challenger: str | None  # the template's mlkube.io/challenger annotation

    def challenger_of(self, name: str) -> int | None:
        """Version the template's challenger annotation names for ``name``."""
        if self.challenger and self.challenger.rpartition("/")[0] == name:
            return _int(self.challenger.rpartition("/")[2])
        return None


@dataclass(frozen=True)
class Start:
    ops: list[dict[str, Any]]
    message: str


@dataclass(frozen=True)
class Skip:
    message: str


@dataclass(frozen=True)
class Verdict:
    """A finished rollout whose outcome is not yet in the registry."""

    name: str
    version: int
    promoted: bool


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _pointer(*parts: str | int) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def read_template(rollout: dict) -> Template:
    pod = rollout.get("spec", {}).get("template", {})
    for ci, container in enumerate(pod.get("spec", {}).get("containers", [])):
        env = container.get("env") or []
        names = [item.get("name") for item in env]
        if ENV_MODELS not in names:
            continue
        mi = names.index(ENV_MODELS)
        try:
            models = json.loads(env[mi].get("value") or "{}")
        except json.JSONDecodeError:
            raise RolloutShapeError(f"{ENV_MODELS} in the Rollout's pod template is not JSON") from None
        if not isinstance(models, dict):
            raise RolloutShapeError(f"{ENV_MODELS} in the Rollout's pod template is not a JSON object")
        vi = names.index(ENV_MODEL_VERSION) if ENV_MODEL_VERSION in names else None
        annotations = pod.get("metadata", {}).get("annotations") or {}
        return Template(
            container=ci,
            models_env=mi,
            version_env=vi,
            models={str(k): str(v) for k, v in models.items()},
            models_raw=env[mi].get("value") or "{}",
            version=env[vi].get("value") if vi is not None else None,
            challenger=annotations.get(ANNOTATION_CHALLENGER),
        )
    raise RolloutShapeError(f"no container of the Rollout's pod template sets {ENV_MODELS} as a plain value")


def pinned_version(uri: str, name: str) -> int | None:
    """``models:/<name>/<n>`` -> n; None for an alias or any other URI."""
    match = re.fullmatch(rf"models:/{re.escape(name)}/(\d+)", uri)
    return int(match.group(1)) if match else None


def state(rollout: dict) -> str:
    status = rollout.get("status") or {}
    if str(status.get("observedGeneration", "")) != str(rollout.get("metadata", {}).get("generation", "")):
        return PENDING
    if status.get("abort"):
        return ABORTED
    if (
        status.get("phase") == "Healthy"
        and status.get("stableRS")
        and status.get("stableRS") == status.get("currentPodHash")
    ):
        return STABLE
    return PROGRESSING


def _set_template_ops(
    rollout: dict, tpl: Template, models_raw: str, version: str | None, challenger: str | None
) -> list[dict[str, Any]]:
    base = ("spec", "template", "spec", "containers", tpl.container, "env")
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": _pointer(*base, tpl.models_env, "value"), "value": models_raw}
    ]
    if version is not None:
        if tpl.version_env is None:
            ops.append(
                {"op": "add", "path": _pointer(*base, "-"), "value": {"name": ENV_MODEL_VERSION, "value": version}}
            )
        else:
            ops.append({"op": "replace", "path": _pointer(*base, tpl.version_env, "value"), "value": version})
        # The label says which version the pods serve (dashboards, kubectl); with it the template equals,
        # byte for byte, what `helm upgrade` renders for the same version.
        labels = (rollout.get("spec", {}).get("template", {}).get("metadata") or {}).get("labels")
        if labels is not None:
            ops.append({"op": "add", "path": _pointer("spec", "template", "metadata", "labels", LABEL_MODEL_VERSION),
                        "value": version})  # fmt: skip
    meta = rollout.get("spec", {}).get("template", {}).get("metadata")
    if challenger is not None:
        if meta is None:
            ops.append({"op": "add", "path": "/spec/template/metadata", "value": {}})
        if not (meta or {}).get("annotations"):
            ops.append({"op": "add", "path": "/spec/template/metadata/annotations", "value": {}})
        ops.append({"op": "add", "path": _pointer("spec", "template", "metadata", "annotations", ANNOTATION_CHALLENGER),
                    "value": challenger})  # fmt: skip
    elif tpl.challenger is not None:
        ops.append(
            {"op": "remove", "path": _pointer("spec", "template", "metadata", "annotations", ANNOTATION_CHALLENGER)}
        )
    return ops


def _guard(rollout: dict) -> dict[str, Any]:
    """A JSON Patch test: the patch fails (422) if the Rollout changed since it was read."""
    return {"op": "test", "path": "/metadata/resourceVersion", "value": rollout["metadata"]["resourceVersion"]}


def set_rollout_annotation(rollout: dict, key: str, value: str) -> list[dict[str, Any]]:
    ops = []
    if not rollout.get("metadata", {}).get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    ops.append({"op": "add", "path": _pointer("metadata", "annotations", key), "value": value})
    return ops


@dataclass(frozen=True)
class Adopted:
    """The Rollout as it reads once the referenced Deployment's template is its own, and the ops that make it so."""

    rollout: dict
    ops: list[dict[str, Any]]


def workload_ref(rollout: dict) -> str | None:
    """The Deployment a Rollout takes its template from (Argo's ``workloadRef``, the chart's take-over), or None."""
    ref = rollout.get("spec", {}).get("workloadRef")
    if not ref:
        return None
    if ref.get("apiVersion") != "apps/v1" or ref.get("kind") != "Deployment" or not ref.get("name"):
        raise RolloutShapeError(f"the Rollout's workloadRef is not an apps/v1 Deployment: {ref}")
    return str(ref["name"])


def adopt_template(rollout: dict, deployment: dict) -> Adopted | Skip:
    """Put the referenced Deployment's template into the Rollout, once the take-over is over (the Rollout Healthy
    on it and the Deployment scaled to zero): the template equals the running ReplicaSet's, so nothing restarts.
    The ops carry no guard of their own: they go first into ``start``'s patch, under its guard."""
    name = workload_ref(rollout)
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    if state(rollout) != STABLE or replicas:
        return Skip(f"the Rollout is still taking over from deployment/{name} ({replicas} replicas); "
                    "set @challenger again once it is Healthy")  # fmt: skip
    template = copy.deepcopy(deployment["spec"]["template"])
    spec = {key: value for key, value in rollout["spec"].items() if key != "workloadRef"}
    ops: list[dict[str, Any]] = [
        {"op": "remove", "path": "/spec/workloadRef"},
        {"op": "add", "path": "/spec/template", "value": template},
    ]
    return Adopted({**rollout, "spec": {**spec, "template": template}}, ops)


def start(rollout: dict, name: str, version: int, deployment: dict | None = None) -> Start | Skip:
    """Point the model ``name`` of the Rollout at ``models:/<name>/<version>``, or say why not.

    A Rollout that still references a Deployment (``workload_ref``) needs that ``deployment``: its template is
    adopted first, in the same patch."""
    adopt: list[dict[str, Any]] = []
    if workload_ref(rollout) is not None:
        if deployment is None:
            raise RolloutShapeError("the Rollout references a Deployment and none was given")
        adopted = adopt_template(rollout, deployment)
        if isinstance(adopted, Skip):
            return adopted
        rollout, adopt = adopted.rollout, adopted.ops
    tpl = read_template(rollout)
    if name not in tpl.models:
        return Skip(f"model {name!r} is not served by this Rollout (it serves {', '.join(sorted(tpl.models))})")
    current = state(rollout)
    in_flight = tpl.challenger if current in (PROGRESSING, PENDING, ABORTED) else None
    if in_flight and in_flight.rpartition("/")[0] != name:
        return Skip(f"a rollout of {in_flight} is under way; {name} version {version} waits for it to end "
                    f"(set @challenger again then)")  # fmt: skip
    have = pinned_version(tpl.models[name], name)
    if have is not None and version <= have:
        return Skip(f"{name} version {version} is not newer than version {have} in the Rollout's template")
    models = {**tpl.models, name: f"models:/{name}/{version}"}
    ops = [_guard(rollout), *adopt]
    if current == STABLE:  # remember what to go back to; mid-rollout the stored stable values stay
        stable = {"models": tpl.models_raw, "version": tpl.version, "challenger": tpl.challenger}
        ops += set_rollout_annotation(rollout, ANNOTATION_STABLE_TEMPLATE, json.dumps(stable, sort_keys=True))
    # Sorted and compact, as Helm's toJson writes it.
    raw = json.dumps(models, sort_keys=True, separators=(",", ":"))
    ops += _set_template_ops(rollout, tpl, raw, str(version), f"{name}/{version}")
    verb = "replaces the rollout of " + in_flight if in_flight else "starts a rollout"
    return Start(ops, f"{name} version {version} {verb} ({tpl.models[name]} -> {models[name]})")


def verdict(rollout: dict) -> Verdict | None:
    """The outcome of the template's challenger, once Argo has decided and it is not yet recorded."""
    tpl = read_template(rollout)
    if not tpl.challenger:
        return None
    name, _, number = tpl.challenger.rpartition("/")
    version = _int(number)
    recorded = (rollout.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_RECORDED)
    if version is None or not name or recorded == tpl.challenger:
        return None
    current = state(rollout)
    if current == STABLE:
        return Verdict(name, version, promoted=True)
    if current == ABORTED:
        return Verdict(name, version, promoted=False)
    return None


def revert(rollout: dict, recorded: str) -> list[dict[str, Any]]:
    """Put the stable template's values back (after an abort) and mark ``recorded`` as done.

    Without a stored stable template (someone removed the annotation) only the recorded mark is set: the
    Rollout stays Degraded for a person to fix rather than the trigger guessing a template.
    """
    tpl = read_template(rollout)
    annotations = rollout.get("metadata", {}).get("annotations") or {}
    ops = [_guard(rollout)]
    stored = annotations.get(ANNOTATION_STABLE_TEMPLATE)
    if stored:
        stable = json.loads(stored)
        ops += _set_template_ops(rollout, tpl, stable["models"], stable.get("version"), stable.get("challenger"))
    ops += set_rollout_annotation(rollout, ANNOTATION_RECORDED, recorded)
    return ops


def abort_reason(rollout: dict, analysis_runs: list[dict]) -> str:
    """One line: Argo's status message, then each failed metric of the failed AnalysisRuns."""
    status = rollout.get("status") or {}
    parts = [status.get("message") or "aborted"]
    for run in analysis_runs:
        for result in (run.get("status") or {}).get("metricResults") or []:
            if result.get("phase") in ("Failed", "Error", "Inconclusive"):
                detail = result.get("message") or ""
                parts.append(
                    f"metric {result.get('name')} {result['phase'].lower()}" + (f": {detail}" if detail else "")
                )
    return "; ".join(parts)[:4000]


def analysis_run_names(rollout: dict) -> list[str]:
    """Names of the AnalysisRuns the Rollout's status points at that did not succeed."""
    status = rollout.get("status") or {}
    runs = [
        (status.get("canary") or {}).get("currentStepAnalysisRunStatus"),
        (status.get("canary") or {}).get("currentBackgroundAnalysisRunStatus"),
        (status.get("blueGreen") or {}).get("prePromotionAnalysisRunStatus"),
        (status.get("blueGreen") or {}).get("postPromotionAnalysisRunStatus"),
    ]
    return [run["name"] for run in runs if run and run.get("name") and run.get("status") != "Successful"]
