"""Helpers of the chart tests: the real helm and kubeconform binaries and the rendered scenarios."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts import kserve_admission
from tests.cluster.kube import read_env_file

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
CHART_NAMES = ("model-server", "training-job", "mlflow", "monitoring", "mlkube")
NAMESPACE = "mlkube"
RELEASE = "mlkube"


VERSIONS = read_env_file(ROOT / "versions.env")
PLATFORM = read_env_file(ROOT / "platform.env")


def tool(name: str) -> str:
    """A tool installed by charts/charts.mk into .cache/bin (or on PATH)."""
    cache = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache")) / "bin" / name
    found = str(cache) if cache.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run 'make {name}' (or 'make test-charts')", pytrace=False)
    return found


def schema_dir() -> Path:
    default = (
        Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache"))
        / "schemas"
        / f"kubernetes-{VERSIONS['KUBERNETES_VERSION']}"
    )
    path = Path(os.environ.get("MLKUBE_SCHEMA_DIR", default))
    if not (path / "deployment-apps-v1.json").exists():
        pytest.fail(f"no schemas in {path}: run 'make chart-schemas'", pytrace=False)
    return path


def run(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}", pytrace=False)
    return result


@dataclass(frozen=True)
class Scenario:
    chart: str
    values: tuple[str, ...] = ()  # values files, relative to the chart
    sets: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return self.chart + ("/" + "+".join(Path(v).stem for v in self.values) if self.values else "/defaults")

    def helm_args(self) -> list[str]:
        args = [str(CHARTS / self.chart), "--namespace", NAMESPACE]
        for values in self.values:
            args += ["-f", str(CHARTS / self.chart / values)]
        for item in self.sets:
            args += ["--set", item]
        return args


def scenarios() -> list[Scenario]:
    """Every chart with its defaults and with each ci/*-values.yaml; the umbrella with each profile."""
    found = []
    for chart in CHART_NAMES:
        found.append(Scenario(chart))
        for path in sorted((CHARTS / chart / "ci").glob("*-values.yaml")):
            found.append(Scenario(chart, (f"ci/{path.name}",)))
    for path in sorted((CHARTS / "mlkube" / "profiles").glob("*.yaml")):
        values = (f"profiles/{path.name}",)
        if path.stem in ("gpu", "kind-offline"):
            values = ("profiles/kind.yaml", f"profiles/{path.name}")
        if path.stem == "kind-gpu":
            values = ("profiles/kind.yaml", "profiles/gpu.yaml", f"profiles/{path.name}")
        found.append(Scenario("mlkube", values))
    return found


ALL_SCENARIOS = scenarios()


@cache
def render_text(scenario: Scenario) -> str:
    return run([tool("helm"), "template", RELEASE, *scenario.helm_args()]).stdout


@cache
def render(scenario: Scenario) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(render_text(scenario)) if doc)


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def scenario(chart: str, *values: str) -> Scenario:
    return Scenario(chart, tuple(values))


def pod_templates(
    obj: dict[str, Any], objects: tuple[dict[str, Any], ...] = ()
) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(pod labels, pod spec) pairs of a workload, a Pod, or an InferenceService's predictors (each laid over its
    ServingRuntime among ``objects``, as KServe does)."""
    kind, spec = obj["kind"], obj.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet", "Rollout"):
        return [(spec["template"]["metadata"].get("labels", {}), spec["template"]["spec"])]
    if kind == "CronJob":
        template = spec["jobTemplate"]["spec"]["template"]
        return [(template["metadata"].get("labels", {}), template["spec"])]
    if kind == "Pod":
        return [(obj["metadata"].get("labels", {}), spec)]
    if kind == "InferenceService":
        predictors = [spec["predictor"]] + [c["predictor"] for c in spec.get("canary", [])]
        runtimes = find(objects, "ServingRuntime")
        return [(p.get("labels", {}), kserve_admission.predictor_pod(p, runtimes)) for p in predictors]
    return []


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec.get("initContainers", [])) + list(pod_spec.get("containers", []))


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
