"""The Argo Rollouts analysis queries, evaluated by promtool on known series: the numbers they give for a
canary against its stable pods, and no sample at all (Inconclusive in the AnalysisTemplates) for a canary
without data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mlkube_monitoring import analysis
from mlkube_monitoring.contracts import NAMESPACE
from mlkube_monitoring.contracts import serving as S
from mlkube_monitoring.outputs import generated_files

from .content import REPO_ROOT, metric_names_in

NS, CANARY, STABLE, SILENT_CANARY = "ml", "c1", "s1", "c2"
# Samples every 15 s for 10 min; queries evaluated at the end over 1 min windows (5 samples each).
INTERVAL, SAMPLES, EVAL_TIME, WINDOW = "15s", 40, "10m", "1m"
GENERATED = REPO_ROOT / "charts" / "model-server" / analysis.GENERATED_PATH


def series(name: str, revision: str, per_step: float, **labels: str) -> dict:
    body = ", ".join(f'{k}="{v}"' for k, v in {NAMESPACE: NS, S.REVISION: revision, **labels}.items())
    return {"series": f"{name}{{{body}}}", "values": f"0+{per_step:g}x{SAMPLES}"}


def gauge(name: str, revision: str, value: float, **labels: str) -> dict:
    body = ", ".join(f'{k}="{v}"' for k, v in {NAMESPACE: NS, S.REVISION: revision, **labels}.items())
    return {"series": f"{name}{{{body}}}", "values": f"{value:g}x{SAMPLES}"}


def requests(revision: str, code: str, per_second: float) -> dict:
    return series(S.REQUESTS_TOTAL, revision, per_second * 15, **{S.MODEL: "m1", S.CODE: code, "pod": revision})


def buckets(revision: str, slow_bucket: str, per_second: float) -> list[dict]:
    """Every request lands in the bucket whose upper bound is `slow_bucket` (and all above it)."""
    bounds = ["0.025", "0.05", "0.25", "0.5", "+Inf"]
    return [
        series(
            f"{S.REQUEST_DURATION_SECONDS}_bucket",
            revision,
            per_second * 15 if float(le) >= float(slow_bucket) else 0,
            le=le,
        )
        for le in bounds
    ]


def predictions(revision: str, model: str, cls: str, per_second: float) -> dict:
    return series(S.PREDICTIONS_TOTAL, revision, per_second * 15, **{S.MODEL: model, S.PREDICTED_CLASS: cls})


def loaded(revision: str, instance: str, model: str) -> dict:
    return gauge(S.MODEL_LOADED, revision, 1, instance=instance, **{S.MODEL: model})


def pending(revision: str, instance: str, count: int) -> dict:
    return gauge(S.MODELS_PENDING, revision, count, instance=instance)


def shadow(outcome: str, per_second: float, candidate: str = CANARY) -> dict:
    return series(
        S.SHADOW_COMPARISONS_TOTAL,
        STABLE,
        per_second * 15,
        **{S.MODEL: "m1", S.OUTCOME: outcome, S.CANDIDATE_REVISION: candidate},
    )


INPUT = [
    # 5xx: canary 15 of 60 per second, stable none (its ratio is 0, not "no data").
    requests(CANARY, "200", 3),
    requests(CANARY, "500", 1),
    requests(STABLE, "200", 4),
    # p99: canary in (0.25, 0.5] -> 0.4975, stable in (0.025, 0.05] -> 0.04975.
    *buckets(CANARY, "0.5", 2),
    *buckets(STABLE, "0.05", 2),
    # Class mix. m1: canary 3:1 vs stable 1:1 -> 0.25. m2: the canary predicts class C the stable never does,
    # 1:1 A/C vs all A -> 0.5. m3: only the canary predicts it (no stable to compare with) -> left out.
    predictions(CANARY, "m1", "A", 3),
    predictions(CANARY, "m1", "B", 1),
    predictions(STABLE, "m1", "A", 2),
    predictions(STABLE, "m1", "B", 2),
    predictions(CANARY, "m2", "A", 1),
    predictions(CANARY, "m2", "C", 1),
    predictions(STABLE, "m2", "A", 2),
    predictions(CANARY, "m3", "A", 5),
    # Models loaded: settled canary pods with 3 and 2 models, a stable pod with 3 -> 2/3. A third canary pod,
    # mid-load (1 loaded, 2 pending), is left out: counted, it would make the ratio 1/3.
    *[loaded(CANARY, "10.0.0.1:8080", m) for m in ("m1", "m2", "m3")],
    *[loaded(CANARY, "10.0.0.2:8080", m) for m in ("m1", "m2")],
    loaded(CANARY, "10.0.0.4:8080", "m1"),
    *[
        pending(CANARY, instance, count)
        for instance, count in (("10.0.0.1:8080", 0), ("10.0.0.2:8080", 0), ("10.0.0.4:8080", 2))
    ],
    *[loaded(STABLE, "10.0.0.3:8080", m) for m in ("m1", "m2", "m3")],
    pending(STABLE, "10.0.0.3:8080", 0),
    # Shadow: 9 rows agree, 1 disagrees per second; failed copies do not count as rows, nor do the answers of
    # an earlier candidate still behind the candidate Service.
    shadow("agree", 9),
    shadow("disagree", 1),
    shadow("error", 5),
    shadow("disagree", 20, candidate="earlier0hash"),
]
# round(1000 x value): promtool compares floats exactly.
EXPECTED_MILLIS = {
    "error-ratio-increase": 250,
    "p99-ratio": 10000,
    "class-mix-divergence": 500,
    "models-loaded": 667,
    "shadow-agreement": 900,
}


def bind(query: str, canary: str, p99_floor: float = 0.01) -> str:
    values = {
        "namespace": NS,
        "canary-hash": canary,
        "stable-hash": STABLE,
        "window": WINDOW,
        "baseline-window": WINDOW,
        "p99-floor": repr(p99_floor),
    }
    for name, value in values.items():
        query = query.replace(analysis.arg(name), value)
    assert "{{args." not in query, query
    return query


def run_promtool(tmp_path: Path, checks: list[dict]) -> subprocess.CompletedProcess[str]:
    test = {
        "rule_files": [],
        "evaluation_interval": INTERVAL,
        "tests": [{"interval": INTERVAL, "input_series": INPUT, "promql_expr_test": checks}],
    }
    (tmp_path / "analysis-test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run(
        ["promtool", "test", "rules", "analysis-test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_every_metric_has_an_expected_value() -> None:
    assert set(EXPECTED_MILLIS) == {m.name for m in analysis.analysis_metrics()}


def test_the_chart_file_is_generated_and_checked() -> None:
    """`generate` writes the model-server chart's copy and `check` (test_rules) compares it."""
    path = Path("model-server") / analysis.GENERATED_PATH
    assert GENERATED.read_text() == generated_files()[path]


@pytest.mark.parametrize("metric", analysis.analysis_metrics(), ids=lambda m: m.name)
def test_query_gives_the_expected_number(tmp_path: Path, metric: analysis.AnalysisMetric) -> None:
    check = {
        "expr": f"round(1000 * ({bind(metric.query, CANARY)}))",
        "eval_time": EVAL_TIME,
        "exp_samples": [{"labels": "{}", "value": EXPECTED_MILLIS[metric.name]}],
    }
    result = run_promtool(tmp_path, [check])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "metric", [m for m in analysis.analysis_metrics() if analysis.arg("canary-hash") in m.query], ids=lambda m: m.name
)
def test_a_canary_without_data_gives_no_sample(tmp_path: Path, metric: analysis.AnalysisMetric) -> None:
    check = {"expr": bind(metric.query, SILENT_CANARY), "eval_time": EVAL_TIME, "exp_samples": []}
    result = run_promtool(tmp_path, [check])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_stable_p99_under_the_floor_is_raised_to_it(tmp_path: Path) -> None:
    """Stable p99 0.04975 s, canary 0.4975 s: over a 0.1 s floor the ratio is 4.975, not 10."""
    [ratio] = [m for m in analysis.analysis_metrics() if m.name == "p99-ratio"]
    check = {
        "expr": f"round(1000 * ({bind(ratio.query, CANARY, p99_floor=0.1)}))",
        "eval_time": EVAL_TIME,
        "exp_samples": [{"labels": "{}", "value": 4975}],
    }
    result = run_promtool(tmp_path, [check])
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_shadow_comparisons_give_no_sample(tmp_path: Path) -> None:
    [agreement] = [m for m in analysis.analysis_metrics() if m.name == "shadow-agreement"]
    query = bind(agreement.query, CANARY).replace(f'"{STABLE}"', '"s2"')
    result = run_promtool(tmp_path, [{"expr": query, "eval_time": EVAL_TIME, "exp_samples": []}])
    assert result.returncode == 0, result.stdout + result.stderr


def test_identical_class_mixes_do_not_diverge(tmp_path: Path) -> None:
    [divergence] = [m for m in analysis.analysis_metrics() if m.name == "class-mix-divergence"]
    query = bind(divergence.query, STABLE)  # the stable compared with itself
    result = run_promtool(
        tmp_path,
        [{"expr": f"round(1000 * ({query}))", "eval_time": EVAL_TIME, "exp_samples": [{"labels": "{}", "value": 0}]}],
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("metric", analysis.analysis_metrics(), ids=lambda m: m.name)
def test_queries_read_only_contract_metrics(metric: analysis.AnalysisMetric) -> None:
    allowed = set(S.ALL) | {f"{S.REQUEST_DURATION_SECONDS}_bucket"}
    assert metric_names_in(bind(metric.query, CANARY)) <= allowed
