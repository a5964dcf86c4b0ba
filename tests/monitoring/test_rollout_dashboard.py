"""The Rollout dashboard's progressive-delivery panels, evaluated by promtool as Grafana sends them (every variable
at "All"): canary vs stable by revision on the analysis tests' series, and the Argo Rollouts controller's series
as its collectors write them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mlkube_monitoring.contracts import NAMESPACE
from mlkube_monitoring.contracts import argo as A
from mlkube_monitoring.contracts import serving as S

from .content import dashboards, panel_queries, substitute
from .test_analysis import CANARY, EVAL_TIME, INPUT, INTERVAL, SAMPLES, STABLE, WINDOW

NS = "ml"
ROLLOUT_QUERIES = panel_queries("rollout", dashboards()["rollout"])


def expr(title: str) -> str:
    """The one query of the panel `title`, with Grafana's variables substituted."""
    (found,) = [q for q in ROLLOUT_QUERIES if q.where == title]
    return substitute(found.expr, rate_interval=WINDOW)


def gauge(metric: str, value: float, /, **labels: str) -> dict:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{body}}}", "values": f"{value:g}x{SAMPLES}"}


def labels(**values: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(values.items())) + "}"


def evaluate(tmp_path: Path, input_series: list[dict], query: str, samples: dict[str, float]) -> None:
    test = {
        "rule_files": [],
        "evaluation_interval": INTERVAL,
        "tests": [
            {
                "interval": INTERVAL,
                "input_series": input_series,
                "promql_expr_test": [
                    {
                        "expr": query,
                        "eval_time": EVAL_TIME,
                        "exp_samples": [{"labels": k, "value": v} for k, v in samples.items()],
                    }
                ],
            }
        ],
    }
    (tmp_path / "dashboard-test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run(
        ["promtool", "test", "rules", "dashboard-test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def rev(revision: str, **extra: str) -> str:
    return labels(**{S.REVISION: revision, **extra})


# The test_analysis series: canary c1 answers 3 + 1 (5xx) requests/s, stable s1 4/s; p99 0.4975 s vs 0.04975 s;
# class mixes m1 3:1 vs 1:1, m2 A/C vs A, m3 canary only; shadow rows 9 agree, 1 disagree (on the stable pods)
# with the canary, 20 disagree with an earlier candidate.
# Values are round(100 x value) (round(1000 x) where no value is near a half).
BY_REVISION = {
    "Traffic share by revision": (1000, {rev(CANARY, model="m1"): 500, rev(STABLE, model="m1"): 500}),
    "Request rate by revision": (1000, {rev(CANARY, model="m1"): 4000, rev(STABLE, model="m1"): 4000}),
    "Server error ratio (5xx) by revision": (1000, {rev(CANARY, model="m1"): 250, rev(STABLE, model="m1"): 0}),
    "Latency p99 by revision": (100, {rev(CANARY): 50, rev(STABLE): 5}),
    "Predicted-class shares by revision": (
        1000,
        {
            rev(CANARY, model="m1", predicted_class="A"): 750,
            rev(CANARY, model="m1", predicted_class="B"): 250,
            rev(STABLE, model="m1", predicted_class="A"): 500,
            rev(STABLE, model="m1", predicted_class="B"): 500,
            rev(CANARY, model="m2", predicted_class="A"): 500,
            rev(CANARY, model="m2", predicted_class="C"): 500,
            rev(STABLE, model="m2", predicted_class="A"): 1000,
            rev(CANARY, model="m3", predicted_class="A"): 1000,
        },
    ),
    # Each candidate apart: the earlier one (20 rows/s, none agreeing: no line) does not dilute the judged one's.
    "Shadow agreement": (1000, {labels(model="m1", candidate_revision=CANARY): 900}),
    "Revisions": (1, {rev(side, model=m): 1 for side in (CANARY, STABLE) for m in ("m1", "m2", "m3")}),
}


@pytest.mark.parametrize("title", sorted(BY_REVISION))
def test_canary_and_stable_side_by_side(tmp_path: Path, title: str) -> None:
    scale, samples = BY_REVISION[title]
    evaluate(tmp_path, INPUT, f"round({scale} * ({expr(title)}))", samples)


def test_every_revision_panel_is_checked() -> None:
    (row,) = [p for p in dashboards()["rollout"]["panels"] if p["type"] == "row" and "by revision" in p["title"]]
    panels = dashboards()["rollout"]["panels"]
    after = panels[panels.index(row) + 1 :]
    end = next((i for i, p in enumerate(after) if p["type"] == "row"), len(after))
    assert {p["title"] for p in after[:end]} == set(BY_REVISION)


ROLLOUT = "mlkube-model-server"
CONTROLLER = {"job": A.JOB, "instance": "10.96.0.20:8090"}
# AnalysisRuns as Argo names them: <rollout>-<new ReplicaSet's pod template hash>-<revision>[-<step>|-pre|-post].
RUNS = {
    f"{ROLLOUT}-7d9f6c5b4-3": ("7d9f6c5b4", "Running"),  # background analysis
    f"{ROLLOUT}-7d9f6c5b4-3-2": ("7d9f6c5b4", "Successful"),  # the analysis of step 2
    f"{ROLLOUT}-5c8b9d7f6-4-pre": ("5c8b9d7f6", "Failed"),  # blue-green pre-promotion
    f"{ROLLOUT}-bc5d8-12-post": ("bc5d8", "Inconclusive"),
}


def run_info() -> list[dict]:
    return [
        gauge(A.ANALYSIS_RUN_INFO, 1, **CONTROLLER, **{NAMESPACE: NS, A.NAME: name, A.PHASE: phase})
        for name, (_, phase) in RUNS.items()
    ]


def test_analysis_runs_name_the_canary_revision(tmp_path: Path) -> None:
    """The revision in each AnalysisRun's name, the `revision` label of the canary's serving metrics."""
    other = gauge(
        A.ANALYSIS_RUN_INFO, 1, **CONTROLLER, **{NAMESPACE: NS, A.NAME: "digits-2-bc5d8-7-1", A.PHASE: "Running"}
    )
    samples = {
        labels(**{NAMESPACE: NS, A.NAME: name, A.PHASE: phase, S.REVISION: revision}): 1
        for name, (revision, phase) in RUNS.items()
    }
    # A Rollout whose name ends in a number: the hash is still the part before the revision.
    samples[labels(**{NAMESPACE: NS, A.NAME: "digits-2-bc5d8-7-1", A.PHASE: "Running", S.REVISION: "bc5d8"})] = 1
    evaluate(tmp_path, [*run_info(), other], expr("Analysis runs"), samples)


def test_each_metric_shows_the_phase_of_its_latest_measurement(tmp_path: Path) -> None:
    """analysis_run_metric_phase has a series per phase, 1 for the current one: the table shows only that one."""
    run = f"{ROLLOUT}-7d9f6c5b4-3-2"
    verdicts = {
        "error-ratio-increase": "Successful",
        "p99-ratio": "Failed",
        "class-mix-divergence": "Inconclusive",
        "shadow-agreement": "Error",
    }
    series = [
        gauge(
            A.ANALYSIS_RUN_METRIC_PHASE,
            int(phase == verdict),
            **CONTROLLER,
            **{
                NAMESPACE: NS,
                A.NAME: run,
                A.METRIC: metric,
                A.METRIC_TYPE: "Prometheus",
                A.DRY_RUN: "false",
                A.PHASE: phase,
            },
        )
        for metric, verdict in verdicts.items()
        for phase in A.ANALYSIS_PHASES
    ]
    samples = {labels(**{A.NAME: run, A.METRIC: metric, A.PHASE: verdict}): 1 for metric, verdict in verdicts.items()}
    evaluate(tmp_path, series, expr("Analysis metric verdicts"), samples)


def test_rollouts_by_phase(tmp_path: Path) -> None:
    def info(name: str, phase: str) -> dict:
        return gauge(
            A.ROLLOUT_INFO,
            1,
            **CONTROLLER,
            **{NAMESPACE: NS, A.NAME: name, A.STRATEGY: "canary", A.TRAFFIC_ROUTER: "", A.PHASE: phase},
        )

    series = [info("a", A.PAUSED), info("b", A.PAUSED), info("c", A.ABORTED), info("d", "Completed")]
    evaluate(
        tmp_path,
        series,
        expr("Rollouts by phase"),
        {labels(phase=A.PAUSED): 2, labels(phase=A.ABORTED): 1, labels(phase="Completed"): 1},
    )


def test_controller_panels_read_the_controller_job_only(tmp_path: Path) -> None:
    series = [
        gauge(A.WORKQUEUE_DEPTH, 3, **CONTROLLER, name="rollouts"),
        gauge(A.WORKQUEUE_DEPTH, 9, job="kube-controller-manager", instance="10.0.0.1:10257", name="rollouts"),
    ]
    evaluate(tmp_path, series, expr("Workqueue depth"), {labels(name="rollouts"): 3})
