"""Every dashboard query and every recording rule, evaluated by a real Prometheus scraping the real server.

Two model-server processes (variants stable and canary, serving models trained into a real MLflow) take
bounded traffic over every protocol, including client errors and a failed model load; the trainer pushes its
metrics to a real Pushgateway, one algorithm failing for real. Prometheus scrapes both and evaluates the chart's
recording rules. A query that errors fails; one that returns nothing fails too, unless it reads a metric of
kube-state-metrics or the DCGM exporter, which do not run here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from mlkube_monitoring import promql as q
from mlkube_monitoring import settings
from mlkube_monitoring.contracts import argo
from mlkube_monitoring.contracts import serving as S
from mlkube_monitoring.promql import le_value
from tests.support.mlflow_server import run_mlflow_server
from tests.support.processes import ManagedProcess, free_ports, wait_for_http
from tests.support.training import PENGUINS_FAST_CONFIG, run_trainer

from . import traffic
from .content import (
    RULE_FILES,
    alerts,
    annotation_queries,
    dashboards,
    metric_names_in,
    panel_queries,
    recording_rules,
    substitute,
    variable_queries,
)
from .stack import HOST, PrometheusApi, Target, prometheus_config, run_prometheus, run_pushgateway
from .test_dashboards import EXPORTER_METRICS

pytestmark = pytest.mark.slow

NAMESPACE = "mlkube-live"
SCRAPE = "1s"
TRAFFIC_SECONDS = 25
RF, LR = "penguins-random-forest", "penguins-logistic-regression"
# The repository (load/unload) API is on only with a token; the failed load below goes through it.
REPOSITORY_TOKEN = "monitoring-live-token"
REPORT = Path(os.environ.get("MLKUBE_CACHE", Path(__file__).resolve().parents[2] / ".cache")) / "monitoring-live.txt"


@dataclass
class LiveStack:
    prometheus: PrometheusApi
    start: float
    end: float
    status_codes: dict
    timings: dict


def _train(tracking_uri: str, pushgateway: str, workdir: Path) -> dict[str, list[str]]:
    """LR and RF succeed, SVM fails on an invalid grid (a real failed run, pushed); then RF again (version 2)."""
    env = {"MLKUBE_PUSHGATEWAY_URL": pushgateway}
    config = yaml.safe_load(PENGUINS_FAST_CONFIG.read_text())
    config["grids"]["svm"]["C"] = [-1.0]
    failing = workdir / "penguins-svm-fails.yaml"
    failing.write_text(yaml.safe_dump(config))
    first = run_trainer(
        ["penguins", "--config", str(failing), "--model", "logistic_regression,random_forest,svm"],
        tracking_uri,
        env=env,
    )
    assert first.returncode == 2, f"the SVM run should fail as a configuration error:\n{first.stderr[-2000:]}"
    second = run_trainer(
        ["penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "random_forest"], tracking_uri, env=env
    )
    assert second.returncode == 0, second.stderr[-3000:]
    versions = {}
    for name in (RF, LR):
        response = httpx.get(
            f"{tracking_uri}/api/2.0/mlflow/model-versions/search", params={"filter": f"name='{name}'"}, timeout=30
        )
        response.raise_for_status()
        versions[name] = sorted((v["version"] for v in response.json().get("model_versions", [])), key=int)
    return versions


@contextlib.contextmanager
def _server(variant: str, models: list[str], tracking_uri: str, workdir: Path):
    port, metrics_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLKUBE_", "MLFLOW_"))}
    env.update(
        {
            "MLKUBE_VARIANT": variant,
            "MLKUBE_REVISION": f"{variant}-hash",
            "MLKUBE_SERVER_ACCESS_LOG": "false",
            "MLKUBE_SERVER_REPOSITORY_API_TOKEN": REPOSITORY_TOKEN,
            "MLKUBE_SERVER_MODEL_CACHE_DIR": str(workdir / f"cache-{variant}"),
        }
    )
    argv = [sys.executable, "-m", "mlkube_server", "--host", HOST, "--port", str(port),
            "--metrics-port", str(metrics_port), "--tracking-uri", tracking_uri]  # fmt: skip
    for model in models:
        argv += ["--model", model]
    process = ManagedProcess(f"model server ({variant})", argv, workdir / f"server-{variant}.log", env=env, cwd=workdir)
    try:
        wait_for_http(f"http://{HOST}:{port}/v2/health/ready", timeout=120, process=process)
        yield f"http://{HOST}:{port}", f"http://{HOST}:{metrics_port}"  # serving, and what Prometheus scrapes
    finally:
        process.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("monitoring-live")
    timings: dict[str, float] = {}
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        mlflow = stack.enter_context(run_mlflow_server(workdir / "mlflow"))
        pushgateway = stack.enter_context(run_pushgateway(workdir))
        timings["mlflow+pushgateway start"] = time.monotonic() - began
        mark = time.monotonic()
        versions = _train(mlflow.url, pushgateway, workdir)
        timings["training (3 runs, 1 failing)"] = time.monotonic() - mark
        assert len(versions[RF]) == 2 and len(versions[LR]) == 1, versions
        rf_stable, rf_canary = versions[RF]
        mark = time.monotonic()
        stable_url, stable_metrics = stack.enter_context(
            _server("stable", [f"{RF}=models:/{RF}/{rf_stable}", f"{LR}=models:/{LR}@champion"], mlflow.url, workdir)
        )
        canary_url, canary_metrics = stack.enter_context(
            _server("canary", [f"{RF}=models:/{RF}/{rf_canary}", f"{LR}=models:/{LR}@champion"], mlflow.url, workdir)
        )
        timings["two servers ready"] = time.monotonic() - mark
        target = lambda url, pod: Target(url.split("//")[1], {"namespace": NAMESPACE, "pod": pod})  # noqa: E731
        config = prometheus_config(
            [target(stable_metrics, "model-server-stable-0"), target(canary_metrics, "model-server-canary-0")],
            target(pushgateway, "pushgateway-0"),
            RULE_FILES,
            SCRAPE,
        )
        prometheus = stack.enter_context(run_prometheus(workdir, config))
        prometheus.wait_until("count(up == 1) == 3", 30, "all three targets up")
        start = time.time()
        mark = time.monotonic()
        # A reload of a served model that fails for real: the registry has no such model. The server counts the
        # failure under the served name, answers 422 (the URI names nothing) and keeps the loaded version serving.
        failed = httpx.post(
            f"{canary_url}/v2/repository/models/{LR}/load",
            json={"parameters": {"uri": "models:/penguins-missing@champion"}},
            headers={"Authorization": f"Bearer {REPOSITORY_TOKEN}"},
            timeout=60,
        )
        assert failed.status_code == 422, failed.text
        codes = traffic.send([stable_url, canary_url], [RF, LR], TRAFFIC_SECONDS)
        timings["traffic"] = time.monotonic() - mark
        mark = time.monotonic()
        # Rules evaluate every scrape interval; wait until the last rule group has seen the traffic.
        prometheus.wait_until(f"{recording_rules()[-1]['record']}", 30, "the last recording rule")
        time.sleep(3)
        timings["scrape and rule settle"] = time.monotonic() - mark
        live_stack = LiveStack(prometheus, start, time.time(), dict(codes), timings)
        figures = _figures(prometheus)
        yield live_stack
    lines = [
        "timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
        f"status codes sent: {dict(sorted(codes.items()))}",
        *(f"{name}: {value}" for name, value in figures.items()),
    ]
    # Kept for the record (make test-monitoring prints it): pytest captures a fixture's output.
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")


def _figures(prometheus: PrometheusApi) -> dict[str, str]:
    """A few measured values for the record, read through the recording rules."""
    mix = settings.load().alerts.class_mix.window

    def by_labels(expr: str, *labels: str) -> str:
        return ", ".join(
            f"{'/'.join(s['metric'].get(key, '') for key in labels)}={float(s['value'][1]):.4g}"
            for s in prometheus.instant(expr)
        )

    return {
        "p99 latency (s) per model/variant": by_labels(q.VARIANT_P99, S.MODEL, S.VARIANT),
        "request rate (req/s) per model/variant": by_labels(q.VARIANT_REQUESTS_RATE, S.MODEL, S.VARIANT),
        "class-mix distance per model": by_labels(q.CLASS_MIX_DISTANCE.format(window=mix), S.MODEL),
        "scraped series": by_labels('count(count by (__name__) ({__name__=~"mlkube_.+"}))'),
    }


# Series this stack cannot have: the Argo Rollouts controller does not run here (its panels are evaluated on its
# series in test_rollout_dashboard), and no server copies requests to a shadow candidate.
ARGO_METRICS = set(argo.ALL) | {f"{h}_{suffix}" for h in argo.HISTOGRAMS for suffix in ("bucket", "sum", "count")}
NOT_HERE = EXPORTER_METRICS | ARGO_METRICS | {S.SHADOW_COMPARISONS_TOTAL}


def _optional(expr: str) -> bool:
    return bool(metric_names_in(expr) & NOT_HERE) or f'job="{argo.JOB}"' in expr


def test_traffic_had_successes_and_client_errors(live: LiveStack):
    codes = live.status_codes
    assert codes.get(200, 0) > 50 and sum(n for c, n in codes.items() if 400 <= c < 500) > 20, codes
    assert not any(500 <= c for c in codes), f"the server answered user input with a 5xx: {codes}"


def test_both_variants_and_every_protocol_are_labelled(live: LiveStack):
    series = live.prometheus.instant(f"sum by ({S.VARIANT}, {S.PROTOCOL}) ({S.REQUESTS_TOTAL})")
    seen = {(s["metric"].get(S.VARIANT), s["metric"].get(S.PROTOCOL)) for s in series}
    assert {(v, p) for v in ("stable", "canary") for p in ("seed", "v1", "v2", "mlflow")} <= seen


def test_latency_slo_threshold_is_a_histogram_bucket(live: LiveStack):
    le = le_value(settings.load().slo.latency.threshold_seconds)
    assert live.prometheus.instant(f'{S.REQUEST_DURATION_SECONDS}_bucket{{le="{le}"}}')


def test_rule_groups_evaluate_without_error(live: LiveStack):
    groups = live.prometheus.rule_groups()
    assert {g["file"] for g in groups} == {str(p) for p in RULE_FILES}
    broken = [(r.get("name"), r.get("lastError")) for g in groups for r in g["rules"] if r.get("health") != "ok"]
    assert not broken


@pytest.mark.parametrize("rule", recording_rules(), ids=lambda r: r["record"])
def test_recording_rule_returns_series(live: LiveStack, rule):
    assert live.prometheus.instant(rule["expr"]), f"{rule['record']} returned no series"
    assert live.prometheus.instant(rule["record"]), f"{rule['record']} was not recorded"


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_alert_expression_executes(live: LiveStack, rule):
    live.prometheus.instant(rule["expr"])  # may be empty (nothing is wrong), must not error


def _dashboard_queries():
    for name, dashboard in sorted(dashboards().items()):
        yield from panel_queries(name, dashboard) + annotation_queries(name, dashboard)


@pytest.mark.parametrize("query", list(_dashboard_queries()), ids=lambda q: f"{q.dashboard}:{q.where}:{q.expr[:40]}")
def test_dashboard_query_returns_data(live: LiveStack, query):
    range_seconds = int(live.end - live.start) + 10
    expr = substitute(query.expr, range_seconds=range_seconds, rate_interval="10s")
    result = live.prometheus.range(expr, live.start, live.end, 2)
    if not _optional(query.expr):
        assert result, f"no series for {query.dashboard} / {query.where}: {expr}"


@pytest.mark.parametrize(
    "query",
    [q for n, d in sorted(dashboards().items()) for q in variable_queries(n, d)],
    ids=lambda q: f"{q.dashboard}:{q.where}",
)
def test_template_variable_has_values(live: LiveStack, query):
    inner = query.expr[len("label_values(") : -1]
    selector, label = (part.strip() for part in inner.rsplit(",", 1))
    values = live.prometheus.label_values(label, substitute(selector))
    if not _optional(selector):
        assert values, f"{query.dashboard} {query.where}: no values"
