"""helm lint --strict, helm template and the NOTES of every chart and scenario, with the real helm binary."""

from __future__ import annotations

import pytest
import yaml
from chart_helpers import ALL_SCENARIOS, CHART_NAMES, CHARTS, RELEASE, Scenario, render, run

SCENARIO_IDS = [s.id for s in ALL_SCENARIOS]


def test_every_chart_has_scenarios() -> None:
    expected = {
        "model-server": {
            "rolling",
            "canary-gateway",
            "canary-replicas",
            "blue-green-blue",
            "blue-green-green",
            "kserve-knative",
            "kserve-standard",
        },
        "training-job": {"gpu-on", "gpu-off"},
        "mlflow": {"sqlite", "postgres"},
        "monitoring": {"kube-prometheus-stack", "self-contained"},
    }
    for chart, names in expected.items():
        present = {p.name.removesuffix("-values.yaml") for p in (CHARTS / chart / "ci").glob("*-values.yaml")}
        assert names <= present, f"{chart}/ci lacks {sorted(names - present)}"
    profiles = {p.stem for p in (CHARTS / "mlkube" / "profiles").glob("*.yaml")}
    assert {"kind", "cloud", "gpu", "local"} <= profiles


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=SCENARIO_IDS)
def test_lint_strict(helm: str, scenario: Scenario) -> None:
    result = run([helm, "lint", "--strict", *scenario.helm_args()], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=SCENARIO_IDS)
def test_template_renders_objects(scenario: Scenario) -> None:
    objects = render(scenario)
    assert objects, f"{scenario.id} rendered nothing"
    for obj in objects:
        assert obj.get("apiVersion") and obj.get("kind") and obj["metadata"].get("name"), obj


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=SCENARIO_IDS)
def test_notes_render_next_steps(helm: str, scenario: Scenario) -> None:
    result = run([helm, "install", RELEASE, *scenario.helm_args(), "--dry-run=client"])
    notes = result.stdout.split("NOTES:", 1)
    assert len(notes) == 2, f"{scenario.id}: no NOTES"
    text = notes[1]
    assert "kubectl" in text or "helm test" in text, text
    assert "<no value>" not in text and "%!" not in text, text


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_helm_test_hook_exists(chart: str) -> None:
    objects = render(Scenario(chart))
    hooks = [
        o for o in objects if o["kind"] == "Pod" and o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"
    ]
    assert hooks, f"{chart} has no helm test hook"


def test_umbrella_notes_tell_about_grafana_in_local_profile(helm: str) -> None:
    scenario = Scenario("mlkube", ("profiles/local.yaml",))
    notes = run([helm, "install", RELEASE, *scenario.helm_args(), "--dry-run=client"]).stdout.split("NOTES:", 1)[1]
    assert "Grafana is off" in notes and "offline" in notes
    assert not [o for o in render(scenario) if "grafana" in o["metadata"]["name"]]


def test_the_umbrella_chart_lock_pins_the_versions_its_chart_asks_for() -> None:
    """`helm dependency build` (every install, `make up`) refuses a Chart.lock behind Chart.yaml; `make chart-docs`
    updates it with the versions it bumps."""
    wanted = yaml.safe_load((CHARTS / "mlkube" / "Chart.yaml").read_text())["dependencies"]
    locked = yaml.safe_load((CHARTS / "mlkube" / "Chart.lock").read_text())["dependencies"]
    assert {d["name"]: d["version"] for d in locked} == {d["name"]: d["version"] for d in wanted}
