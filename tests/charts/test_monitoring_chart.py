"""The monitoring chart carries the rule and dashboard files verbatim, both ways, and its self-contained
Prometheus configuration is accepted by the real promtool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from chart_helpers import CHARTS, Scenario, find, render, scenario, tool

FILES = CHARTS / "monitoring" / "files"
RULE_FILES = sorted((FILES / "rules").glob("*.yaml"))
DASHBOARD_FILES = sorted((FILES / "dashboards").glob("*.json"))
STACK = scenario("monitoring", "ci/kube-prometheus-stack-values.yaml")
SELF = scenario("monitoring", "ci/self-contained-values.yaml")


def test_content_is_present() -> None:
    assert RULE_FILES and DASHBOARD_FILES


def test_prometheus_rules_for_the_stack_keep_prometheus_templates() -> None:
    objects = render(STACK)
    rules = find(objects, "PrometheusRule")
    assert len(rules) == len(RULE_FILES)
    for path in RULE_FILES:
        (rule,) = [r for r in rules if r["metadata"]["name"].endswith("-" + path.stem)]
        assert rule["spec"]["groups"] == yaml.safe_load(path.read_text())["groups"], path.name
        assert rule["metadata"]["labels"]["release"] == "monitoring"
    if any("{{" in p.read_text() for p in RULE_FILES):
        assert any("{{ $labels." in json.dumps(r["spec"]) for r in rules), "Prometheus templates were altered"


def test_dashboards_for_the_stack_sidecar() -> None:
    configmaps = [c for c in find(render(STACK), "ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]]
    assert len(configmaps) == len(DASHBOARD_FILES)
    for path in DASHBOARD_FILES:
        (cm,) = [c for c in configmaps if path.name in c["data"]]
        assert json.loads(cm["data"][path.name]) == json.loads(path.read_text())
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "mlkube"


def test_dashboard_label_is_configurable() -> None:
    objects = render(Scenario("monitoring", STACK.values, ("kubePrometheusStack.dashboards.label=my_dashboards",
                                                          "kubePrometheusStack.dashboards.labelValue=yes")))
    labelled = [c for c in find(objects, "ConfigMap") if c["metadata"]["labels"].get("my_dashboards") == "yes"]
    assert len(labelled) == len(DASHBOARD_FILES)


def test_stack_mode_runs_no_prometheus_and_monitors_the_server() -> None:
    objects = render(STACK)
    assert not find(objects, "Deployment", "mlkube-monitoring-prometheus")
    (monitor,) = [m for m in find(objects, "PodMonitor") if m["metadata"]["name"].endswith("model-server")]
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "model-server",
                                                          "app.kubernetes.io/component": "server"}
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"


def test_self_contained_rules_and_dashboards_are_verbatim() -> None:
    objects = render(SELF)
    rules = find(objects, "ConfigMap", "mlkube-monitoring-rules")[0]["data"]
    assert {p.name: p.read_text().rstrip("\n") for p in RULE_FILES} == {k: v.rstrip("\n") for k, v in rules.items()}
    dashboards = find(objects, "ConfigMap", "mlkube-monitoring-grafana-dashboards")[0]["data"]
    assert {p.name: json.loads(p.read_text()) for p in DASHBOARD_FILES} == {k: json.loads(v) for k, v in dashboards.items()}
    provisioning = find(objects, "ConfigMap", "mlkube-monitoring-grafana-provisioning")[0]["data"]
    datasource = yaml.safe_load(provisioning["datasources.yaml"])["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["url"] == "http://mlkube-monitoring-prometheus:9090"
    assert not find(objects, "PrometheusRule") and not find(objects, "PodMonitor")


def test_self_contained_discovery_rbac_is_read_only() -> None:
    objects = render(SELF)
    roles = find(objects, "Role")
    assert {r["metadata"]["namespace"] for r in roles} == {"mlkube", "mlkube-canary"}
    for role in roles:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}
    prometheus = find(objects, "Deployment", "mlkube-monitoring-prometheus")[0]["spec"]["template"]["spec"]
    assert prometheus["automountServiceAccountToken"] is True


def test_dns_discovery_needs_no_api_access() -> None:
    """Debian's prometheus (the local profile's image) has no Kubernetes discovery: it finds pods by DNS."""
    objects = render(scenario("monitoring", "ci/local-values.yaml"))
    assert not find(objects, "Role") and not find(objects, "ClusterRole")
    prometheus = find(objects, "Deployment", "mlkube-monitoring-prometheus")[0]["spec"]["template"]["spec"]
    assert prometheus["automountServiceAccountToken"] is False
    config = yaml.safe_load(find(objects, "ConfigMap", "mlkube-monitoring-prometheus")[0]["data"]["prometheus.yml"])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "model-server"]
    assert job["dns_sd_configs"][0]["names"] == ["mlkube-model-server-metrics.mlkube.svc.cluster.local"]


def test_dns_names_are_the_model_server_headless_service() -> None:
    """The name the monitoring chart resolves is the headless Service the model-server chart creates."""
    objects = render(scenario("mlkube", "profiles/local.yaml"))
    (service,) = find(objects, "Service", "mlkube-model-server-metrics")
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    config = yaml.safe_load(find(objects, "ConfigMap", "mlkube-monitoring-prometheus")[0]["data"]["prometheus.yml"])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "model-server"]
    assert job["dns_sd_configs"][0]["names"] == ["mlkube-model-server-metrics.mlkube.svc.cluster.local"]
    assert job["dns_sd_configs"][0]["port"] == service["spec"]["ports"][0]["port"]


@pytest.mark.parametrize("source", [SELF, scenario("monitoring"), scenario("monitoring", "ci/local-values.yaml"),
                                    scenario("mlkube", "profiles/local.yaml"), scenario("mlkube", "profiles/kind.yaml")],
                         ids=lambda s: s.id)
def test_promtool_accepts_the_rendered_configuration(tmp_path: Path, source: Scenario) -> None:
    """The real promtool checks the generated prometheus.yml together with the rule files it loads."""
    objects = render(source)
    config = yaml.safe_load(find(objects, "ConfigMap", "mlkube-monitoring-prometheus")[0]["data"]["prometheus.yml"])
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for name, content in find(objects, "ConfigMap", "mlkube-monitoring-rules")[0]["data"].items():
        (rules_dir / name).write_text(content)
    config["rule_files"] = [str(rules_dir / "*.yaml")]
    for job in config["scrape_configs"]:
        # Debian's promtool is built without Kubernetes discovery; check the rest of such a job.
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:8080"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run([tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "model-server" in jobs
