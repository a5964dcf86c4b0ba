"""The model-server chart's autoscaling: an HPA on CPU, or with `autoscaling.keda` a KEDA ScaledObject that scales the
same target on the requests in flight (the query generated from the metric contracts), and the query itself run
by the real promtool against series of pods of two variants and two namespaces."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from chart_helpers import CHARTS, NAMESPACE, find, render, scenario, tool

from mlkube_server import metric_names

FULL = "mlkube-model-server"
KEDA = scenario("model-server", "ci/keda-values.yaml")
PROGRESSIVE_KEDA = scenario("model-server", "ci/progressive-canary-keda-values.yaml")
QUERIES = yaml.safe_load((CHARTS / "model-server" / "files" / "autoscaling-queries.yaml").read_text())["queries"]


def _scaled_object(objects: tuple) -> dict:
    (scaled,) = find(objects, "ScaledObject")
    assert not find(objects, "HorizontalPodAutoscaler"), "KEDA creates the HPA: the chart renders none beside it"
    return scaled


def _triggers(scaled: dict) -> dict[str, dict]:
    return {t["name"]: t for t in scaled["spec"]["triggers"]}


def test_keda_scales_the_stable_deployment_on_requests_in_flight_and_cpu() -> None:
    objects = render(KEDA)
    scaled = _scaled_object(objects)
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULL}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (2, 8)
    (deployment,) = find(objects, "Deployment", FULL)
    assert "replicas" not in deployment["spec"], "the HPA KEDA creates owns the replicas"
    triggers = _triggers(scaled)
    assert set(triggers) == {"inflight-requests", "cpu"}
    inflight = triggers["inflight-requests"]
    assert inflight["type"] == "prometheus" and inflight["metricType"] == "AverageValue"
    assert inflight["metadata"]["threshold"] == "6"
    assert inflight["metadata"]["serverAddress"] == f"http://mlkube-monitoring-prometheus.{NAMESPACE}:9090"
    expected = QUERIES["inflight-requests"].strip()
    for placeholder, value in {"<namespace>": NAMESPACE, "<variant>": "stable", "<window>": "1m"}.items():
        expected = expected.replace(placeholder, value)
    assert inflight["metadata"]["query"] == expected
    assert metric_names.INFLIGHT_REQUESTS in expected
    assert triggers["cpu"]["metadata"] == {"value": "70"}
    behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior == {"scaleDown": {"stabilizationWindowSeconds": 300}}


def test_keda_scales_the_rollout_of_a_progressive_strategy_on_requests_in_flight_only() -> None:
    objects = render(PROGRESSIVE_KEDA)
    scaled = _scaled_object(objects)
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": FULL}
    (inflight,) = scaled["spec"]["triggers"]
    assert inflight["metadata"]["serverAddress"] == "http://prometheus.monitoring:9090"
    assert 'variant="rollout"' in inflight["metadata"]["query"] and "[30s]" in inflight["metadata"]["query"]
    (rollout,) = find(objects, "Rollout", FULL)
    assert "replicas" not in rollout["spec"]


def test_without_keda_the_hpa_scales_on_cpu() -> None:
    objects = render(scenario("model-server", "ci/rolling-values.yaml"))
    assert not find(objects, "ScaledObject")
    (hpa,) = find(objects, "HorizontalPodAutoscaler")
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_the_in_flight_query_sums_the_variants_pods_of_its_namespace_only(tmp_path: Path) -> None:
    """promtool evaluates the rendered query over pods of the scaled variant (two), of another variant and of another
    namespace: only the first two count, each averaged over the window."""
    (inflight,) = [t for t in _scaled_object(render(KEDA))["spec"]["triggers"] if t["type"] == "prometheus"]
    gauge = metric_names.INFLIGHT_REQUESTS

    def series(namespace: str, variant: str, pod: str, values: str) -> dict:
        labels = f'namespace="{namespace}", variant="{variant}", pod="{pod}", model="penguins-svm"'
        return {"series": f"{gauge}{{{labels}}}", "values": values}

    rule = {"record": "inflight", "expr": inflight["metadata"]["query"]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "keda", "rules": [rule]}]}))
    tests = {
        "rule_files": [str(tmp_path / "rules.yaml")],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    series(NAMESPACE, "stable", "a", "4 4 4 4 4 4"),
                    series(NAMESPACE, "stable", "b", "6 6 6 6 2 10"),
                    series(NAMESPACE, "canary", "c", "50 50 50 50 50 50"),
                    series("elsewhere", "stable", "d", "50 50 50 50 50 50"),
                ],
                # At 75 s pod b's last sample is 10 but its 1m average 6, whether the window's left edge is closed
                # (Prometheus 2) or open (3); pod a's is 4.
                "promql_expr_test": [
                    {"expr": "inflight", "eval_time": "75s", "exp_samples": [{"labels": "inflight", "value": 10}]}
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        [tool("promtool"), "test", "rules", str(tmp_path / "tests.yaml")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
