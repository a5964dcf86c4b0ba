"""The monitoring chart carries the rule and dashboard files verbatim, both ways, and its self-contained
Prometheus configuration is accepted by the real promtool."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from chart_helpers import CHARTS, PLATFORM, RELEASE, ROOT, Scenario, find, render, run, scenario, tool

# The monitoring content's contract (the Argo Rollouts job name its rules and dashboards select).
for _path in (CHARTS / "monitoring" / "dashboards-src", ROOT / "model-server" / "src", ROOT / "training-jobs" / "src"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from mlkube_monitoring.contracts import argo  # noqa: E402

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
    objects = render(
        Scenario(
            "monitoring",
            STACK.values,
            ("kubePrometheusStack.dashboards.label=my_dashboards", "kubePrometheusStack.dashboards.labelValue=yes"),
        )
    )
    labelled = [c for c in find(objects, "ConfigMap") if c["metadata"]["labels"].get("my_dashboards") == "yes"]
    assert len(labelled) == len(DASHBOARD_FILES)


def test_stack_mode_runs_no_prometheus_and_monitors_the_server() -> None:
    objects = render(STACK)
    assert not find(objects, "Deployment", "mlkube-monitoring-prometheus")
    (monitor,) = [m for m in find(objects, "PodMonitor") if m["metadata"]["name"].endswith("model-server")]
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "model-server",
        "app.kubernetes.io/component": "server",
    }
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"


def test_self_contained_rules_and_dashboards_are_verbatim() -> None:
    objects = render(SELF)
    rules = find(objects, "ConfigMap", "mlkube-monitoring-rules")[0]["data"]
    assert {p.name: p.read_text().rstrip("\n") for p in RULE_FILES} == {k: v.rstrip("\n") for k, v in rules.items()}
    dashboards = find(objects, "ConfigMap", "mlkube-monitoring-grafana-dashboards")[0]["data"]
    assert {p.name: json.loads(p.read_text()) for p in DASHBOARD_FILES} == {
        k: json.loads(v) for k, v in dashboards.items()
    }
    provisioning = find(objects, "ConfigMap", "mlkube-monitoring-grafana-provisioning")[0]["data"]
    datasource = yaml.safe_load(provisioning["datasources.yaml"])["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["url"] == "http://mlkube-monitoring-prometheus:9090"
    assert not find(objects, "PrometheusRule") and not find(objects, "PodMonitor")


def test_self_contained_discovery_rbac_is_read_only() -> None:
    objects = render(SELF)
    roles = find(objects, "Role")
    argo_namespace = PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]
    assert {r["metadata"]["namespace"] for r in roles} == {"mlkube", "mlkube-canary", argo_namespace}
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


@pytest.mark.parametrize(
    "source",
    [
        SELF,
        scenario("monitoring"),
        scenario("monitoring", "ci/local-values.yaml"),
        scenario("mlkube", "profiles/local.yaml"),
        scenario("mlkube", "profiles/kind.yaml"),
        # MLflow scraped with its basic-auth user, from the mounted Secret
        Scenario("monitoring", sets=("scrape.mlflow.enabled=true", "scrape.mlflow.basicAuthSecret=mlkube-mlflow-auth")),
    ],
    ids=lambda s: s.id + ("+mlflow-auth" if s.sets else ""),
)
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
        for key, path in job.get("basic_auth", {}).items():  # promtool reads the files: the mounted Secret's
            if key.endswith("_file"):
                local = tmp_path / Path(path).name
                local.write_text("a password")
                job["basic_auth"][key] = str(local)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "model-server" in jobs


ARGO_MANIFESTS = [
    o
    for path in sorted((ROOT / "manifests" / "argo-rollouts").glob("*.yaml"))
    for o in yaml.safe_load_all(path.read_text())
    if o
]


def argo_manifest(kind: str) -> dict:
    (obj,) = [o for o in ARGO_MANIFESTS if o["kind"] == kind]
    return obj


def scrape_jobs(objects) -> dict[str, dict]:
    config = yaml.safe_load(find(objects, "ConfigMap", "mlkube-monitoring-prometheus")[0]["data"]["prometheus.yml"])
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_argo_rollouts_job_resolves_the_controllers_metrics_service() -> None:
    """DNS discovery (the local profile): the name and port of the metrics Service manifests/argo-rollouts creates
    (upstream's release manifest has the same), keeping the namespace and name labels of the controller's series."""
    job = scrape_jobs(render(scenario("mlkube", "profiles/local.yaml")))[argo.JOB]
    service = argo_manifest("Service")
    (port,) = service["spec"]["ports"]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"]
    assert sd["port"] == port["port"] == int(PLATFORM["ARGO_ROLLOUTS_METRICS_PORT"])
    assert service["metadata"]["namespace"] == PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]
    assert job["metrics_path"] == "/metrics" and job["honor_labels"] is True


def test_argo_rollouts_pod_discovery_keeps_the_controller_pods_only() -> None:
    objects = render(SELF)
    job = scrape_jobs(objects)[argo.JOB]
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["namespaces"]["names"] == [PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]]
    assert job["honor_labels"] is True
    pod = argo_manifest("Deployment")["spec"]["template"]
    keeps = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
    on_labels = {k: v for k, v in keeps.items() if k.startswith("__meta_kubernetes_pod_label_")}
    pod_labels = {
        "__meta_kubernetes_pod_label_" + re.sub("[^a-zA-Z0-9_]", "_", k): v
        for k, v in pod["metadata"]["labels"].items()
    }
    assert on_labels and on_labels.items() <= pod_labels.items(), "a pod label the controller's pods do not carry"
    ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    assert ports[keeps["__meta_kubernetes_pod_container_port_name"]] == int(PLATFORM["ARGO_ROLLOUTS_METRICS_PORT"])
    (role,) = [r for r in find(objects, "Role") if r["metadata"]["namespace"] == PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]]
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in role["rules"])


def test_stack_mode_monitors_the_argo_rollouts_controller() -> None:
    (monitor,) = [m for m in find(render(STACK), "PodMonitor") if m["metadata"]["name"].endswith("argo-rollouts")]
    spec = monitor["spec"]
    assert spec["namespaceSelector"]["matchNames"] == [PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]]
    pod = argo_manifest("Deployment")["spec"]["template"]
    assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    # The operator names the job after this pod label: the job the rules and dashboards select.
    assert pod["metadata"]["labels"][spec["jobLabel"]] == argo.JOB
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["honorLabels"] is True and endpoint["path"] == "/metrics"
    assert {"name": endpoint["port"], "containerPort": int(PLATFORM["ARGO_ROLLOUTS_METRICS_PORT"])} in pod["spec"][
        "containers"
    ][0]["ports"]


def test_argo_rollouts_scrape_is_off_by_default() -> None:
    """The chart alone does not know whether a controller runs: no job, no Role in a namespace that may not exist."""
    objects = render(scenario("monitoring"))
    assert argo.JOB not in scrape_jobs(objects)
    stack = render(Scenario("monitoring", STACK.values, ("scrape.argoRollouts.enabled=false",)))
    assert not [m for m in find(stack, "PodMonitor") if m["metadata"]["name"].endswith("argo-rollouts")]
    kubernetes = render(Scenario("monitoring", SELF.values, ("scrape.argoRollouts.enabled=false",)))
    assert PLATFORM["ARGO_ROLLOUTS_NAMESPACE"] not in {r["metadata"]["namespace"] for r in find(kubernetes, "Role")}


@pytest.mark.parametrize(
    "inventory",
    sorted((ROOT / "ansible" / "inventories").glob("*/group_vars/mlkube.yml")),
    ids=lambda p: p.parents[1].name,
)
def test_profiles_scrape_argo_rollouts_where_the_platform_installs_it(inventory: Path) -> None:
    group_vars = yaml.safe_load(inventory.read_text())
    profile = group_vars["mlkube_profile"]
    objects = render(scenario("mlkube", f"profiles/{profile}.yaml"))
    monitored = [m for m in find(objects, "PodMonitor") if m["metadata"]["name"].endswith("argo-rollouts")]
    scraped = bool(find(objects, "ConfigMap", "mlkube-monitoring-prometheus")) and argo.JOB in scrape_jobs(objects)
    assert bool(monitored or scraped) == bool(group_vars.get("platform_argo_rollouts", False)), profile


@pytest.mark.parametrize(
    ("chart", "setting"),
    [
        ("monitoring", "slo.periodDays=7"),
        ("monitoring", "alerts.canary.for=5m"),
        ("mlkube", "monitoring.alerts.training.maxHoursWithoutSuccess=24"),
    ],
)
def test_slo_and_alert_values_set_at_install_are_refused_not_ignored(chart: str, setting: str) -> None:
    """The rules are generated from values.yaml before packaging; an install-time value would change nothing."""
    result = run([tool("helm"), "template", RELEASE, *Scenario(chart, (), (setting,)).helm_args()], check=False)
    assert result.returncode != 0, result.stdout[:500]
    assert "make monitoring-generate" in result.stderr, result.stderr


def test_the_same_slo_values_given_again_are_accepted() -> None:
    """A values file that repeats the chart's own numbers (a GitOps copy of values.yaml) renders."""
    values = yaml.safe_load((CHARTS / "monitoring" / "values.yaml").read_text())
    sets = (f"slo.periodDays={values['slo']['periodDays']}", f"alerts.canary.for={values['alerts']['canary']['for']}")
    run([tool("helm"), "template", RELEASE, *Scenario("monitoring", (), sets).helm_args()])
