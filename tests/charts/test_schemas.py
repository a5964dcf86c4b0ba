"""Every rendered object validated strictly by kubeconform against schemas generated from upstream packages."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from chart_helpers import ALL_SCENARIOS, ROOT, Scenario, render, render_text, scenario

KINDS_FROM_CRDS = {
    "InferenceService": "inferenceservice-serving-v1beta1.json",
    "ServingRuntime": "servingruntime-serving-v1alpha1.json",
    "PodMonitor": "podmonitor-monitoring-v1.json",
    "ServiceMonitor": "servicemonitor-monitoring-v1.json",
    "PrometheusRule": "prometheusrule-monitoring-v1.json",
    "HTTPRoute": "httproute-gateway-v1.json",
    "Rollout": "rollout-argoproj-v1alpha1.json",
    "AnalysisTemplate": "analysistemplate-argoproj-v1alpha1.json",
    "TraefikService": "traefikservice-traefik-v1alpha1.json",
    "ScaledObject": "scaledobject-keda-v1alpha1.json",
}


def kubeconform_run(kubeconform: str, schemas: Path, manifest: str) -> subprocess.CompletedProcess[str]:
    # No -ignore-missing-schemas: a kind without a schema fails, it is never skipped.
    return subprocess.run(
        [
            kubeconform,
            "-strict",
            "-summary",
            "-output",
            "text",
            "-schema-location",
            str(schemas / "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
            "-",
        ],
        input=manifest,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=[s.id for s in ALL_SCENARIOS])
def test_rendered_objects_are_valid(kubeconform: str, schemas: Path, scenario: Scenario) -> None:
    result = kubeconform_run(kubeconform, schemas, render_text(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Valid: {len(render(scenario))}," in result.stdout, result.stdout


def test_custom_resources_have_generated_schemas(schemas: Path) -> None:
    for kind, name in KINDS_FROM_CRDS.items():
        schema = json.loads((schemas / name).read_text())
        assert schema["properties"]["kind"]["enum"] == [kind]
        assert schema["additionalProperties"] is False, f"{name} is not strict"


def test_every_custom_kind_is_rendered_somewhere() -> None:
    rendered = {o["kind"] for s in ALL_SCENARIOS for o in render(s)}
    assert set(KINDS_FROM_CRDS) <= rendered, set(KINDS_FROM_CRDS) - rendered


@pytest.mark.parametrize(
    ("source", "kind", "path", "field"),
    [
        (scenario("model-server"), "Deployment", ["spec", "template", "spec", "containers", 0], "imagePullPolic"),
        (
            scenario("model-server", "ci/kserve-standard-values.yaml"),
            "InferenceService",
            ["spec", "predictor"],
            "minReplica",
        ),
        (scenario("model-server", "ci/canary-gateway-values.yaml"), "HTTPRoute", ["spec", "rules", 0], "backendRef"),
        (scenario("monitoring", "ci/kube-prometheus-stack-values.yaml"), "PodMonitor", ["spec"], "podMetricEndpoints"),
        (
            scenario("monitoring", "ci/kube-prometheus-stack-values.yaml"),
            "PrometheusRule",
            ["spec", "groups", 0],
            "rule",
        ),
        (scenario("training-job"), "Job", ["spec"], "backofLimit"),
        (
            scenario("model-server", "ci/progressive-canary-gateway-values.yaml"),
            "Rollout",
            ["spec", "strategy", "canary"],
            "stepz",
        ),
        (
            scenario("model-server", "ci/progressive-canary-gateway-values.yaml"),
            "AnalysisTemplate",
            ["spec", "metrics", 0],
            "sucessCondition",
        ),
        (
            scenario("model-server", "ci/progressive-canary-gateway-values.yaml"),
            "TraefikService",
            ["spec", "weighted"],
            "service",
        ),
        (scenario("model-server", "ci/keda-values.yaml"), "ScaledObject", ["spec", "triggers", 0], "metadataa"),
    ],
)
def test_validation_rejects_a_misspelt_field(
    kubeconform: str, schemas: Path, source: Scenario, kind: str, path: list, field: str
) -> None:
    """The validation can fail: a typo in any of these kinds is caught."""
    obj = next(o for o in render(source) if o["kind"] == kind)
    obj = json.loads(json.dumps(obj))
    target = obj
    for step in path:
        target = target[step]
    target[field] = target.get(field, 1) if isinstance(target, dict) else 1
    result = kubeconform_run(kubeconform, schemas, yaml.safe_dump(obj))
    assert result.returncode != 0 and field in result.stdout, result.stdout


def test_unknown_kind_fails_instead_of_being_skipped(kubeconform: str, schemas: Path) -> None:
    manifest = "apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: x}\n"
    assert kubeconform_run(kubeconform, schemas, manifest).returncode != 0


def test_manifests_are_valid(kubeconform: str, schemas: Path) -> None:
    files = [p for p in sorted((ROOT / "manifests").rglob("*.yaml")) if p.name != "kind-config.yaml"]
    assert {"gateway", "argo-rollouts", "keda"} <= {p.parent.name for p in files}, files
    result = kubeconform_run(kubeconform, schemas, "\n---\n".join(p.read_text() for p in files))
    assert result.returncode == 0, result.stdout + result.stderr
