"""``GET /analysis/prometheus``: what the AnalysisTemplates' `prometheus-reachable` web metric reads. It always
answers 200 (Argo counts a non-2xx as an error, and errors abort a rollout); "unreachable" is a value, with the
reason, which meets neither condition of the metric: Inconclusive, so the rollout pauses."""

from __future__ import annotations

import httpx

from tests.monitoring.stack import run_prometheus
from tests.support.processes import free_port

from .conftest import HOST


def _ask(trigger) -> dict:
    answer = httpx.get(f"{trigger.url}/analysis/prometheus", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_answers_whether_a_real_prometheus_answers_and_why_not(trigger_factory, tmp_path):
    config = {"global": {"scrape_interval": "15s"}, "scrape_configs": []}
    with run_prometheus(tmp_path, config) as prometheus:
        url = str(prometheus.client.base_url).rstrip("/")
        with trigger_factory("probe-server", MLKUBE_TRIGGER_PROMETHEUS_URL=url) as trigger:
            assert _ask(trigger) == {"reachable": True}
            prometheus.process.stop()
            down = _ask(trigger)
            assert down["reachable"] is False and f"{url}/-/ready" in down["reason"], down
            assert trigger.messages("analysis asked for Prometheus: unreachable")


def test_a_prometheus_that_is_not_there_and_one_not_configured(trigger_factory):
    nothing = f"http://{HOST}:{free_port(HOST)}"
    with trigger_factory("probe-nothing", MLKUBE_TRIGGER_PROMETHEUS_URL=nothing) as trigger:
        answer = _ask(trigger)
        assert answer["reachable"] is False and nothing in answer["reason"], answer
    with trigger_factory("probe-unset") as trigger:
        unset = httpx.get(f"{trigger.url}/analysis/prometheus", timeout=10)
        assert unset.status_code == 404 and "MLKUBE_TRIGGER_PROMETHEUS_URL" in unset.json()["error"]
