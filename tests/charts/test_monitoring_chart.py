"""The monitoring chart fills the `slo:` / `alerts:` values into the generated rule and dashboard files exactly as
the generator renders them, both ways, at the defaults and at other values, and the real promtool accepts its
self-contained Prometheus configuration and passes the rule tests on what it installs."""

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
from mlkube_monitoring import outputs, settings  # noqa: E402
from mlkube_monitoring.contracts import argo  # noqa: E402

FILES = CHARTS / "monitoring" / "files"
RULE_FILES = sorted((FILES / "rules").glob("*.yaml"))
DASHBOARD_FILES = sorted((FILES / "dashboards").glob("*.json"))
STACK = scenario("monitoring", "ci/kube-prometheus-stack-values.yaml")
SELF = scenario("monitoring", "ci/self-contained-values.yaml")
DEFAULTS = settings.load()
RENDERED = outputs.rendered_files(DEFAULTS)

# Every SLO target and alert threshold changed from the chart's defaults.
OTHER_VALUES = {
    "slo": {"availability": 0.999, "latency": {"objective": 0.98, "thresholdSeconds": 0.5}, "periodDays": 28},
    "alerts": {
        "runbookBaseUrl": "https://runbooks.example.com/mlkube",
        "modelNotLoaded": {"lookback": "2h", "for": "10m"},
        "modelLoadFailures": {"window": "30m"},
        "noPredictions": {"for": "20m"},
        "classMix": {"maxDistance": 0.2, "window": "30m", "for": "15m", "minPredictionsPerSecond": 0.05},
        "canary": {"maxErrorRatioIncrease": 0.05, "maxP99Ratio": 2.5, "minRequestsPerSecond": 0.1, "for": "5m"},
        "rollouts": {"abortedWindow": "30m", "pausedFor": "20m", "controllerDownFor": "10m"},
        "training": {"maxHoursWithoutSuccess": 48},
    },
}


def test_content_is_present() -> None:
    assert RULE_FILES and DASHBOARD_FILES


def test_prometheus_rules_for_the_stack_keep_prometheus_templates() -> None:
    objects = render(STACK)
    rules = find(objects, "PrometheusRule")
    assert len(rules) == len(RULE_FILES)
    for path in RULE_FILES:
        (rule,) = [r for r in rules if r["metadata"]["name"].endswith("-" + path.stem)]
        assert rule["spec"]["groups"] == yaml.safe_load(RENDERED[Path("rules") / path.name])["groups"], path.name
        assert rule["metadata"]["labels"]["release"] == "monitoring"
    if any("{{" in p.read_text() for p in RULE_FILES):
        assert any("{{ $labels." in json.dumps(r["spec"]) for r in rules), "Prometheus templates were altered"


def test_dashboards_for_the_stack_sidecar() -> None:
    configmaps = [c for c in find(render(STACK), "ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]]
    assert len(configmaps) == len(DASHBOARD_FILES)
    for path in DASHBOARD_FILES:
        (cm,) = [c for c in configmaps if path.name in c["data"]]
        assert cm["data"][path.name] + "\n" == RENDERED[Path("dashboards") / path.name]
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


def test_self_contained_rules_and_dashboards_are_rendered() -> None:
    objects = render(SELF)
    rules = find(objects, "ConfigMap", "mlkube-monitoring-rules")[0]["data"]
    assert {p.name: RENDERED[Path("rules") / p.name] for p in RULE_FILES} == {k: v + "\n" for k, v in rules.items()}
    dashboards = find(objects, "ConfigMap", "mlkube-monitoring-grafana-dashboards")[0]["data"]
    assert {p.name: RENDERED[Path("dashboards") / p.name] for p in DASHBOARD_FILES} == {
        k: v + "\n" for k, v in dashboards.items()
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
    # ... and that port is the server's metrics port, open from the start (the serving port waits for the models).
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    containers = [
        c
        for o in objects
        if o["kind"] in ("Deployment", "Rollout") and o["spec"].get("template")
        for c in o["spec"]["template"]["spec"]["containers"]
        if c["name"] == "server"
    ]
    assert containers
    for container in containers:
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == job["dns_sd_configs"][0]["port"]


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


def render_with(tmp_path: Path, source: Scenario, values: dict | None, *args: str) -> tuple[dict, ...]:
    """`helm template` of `source` with `values` as one more values file."""
    extra = list(args)
    if values is not None:
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        extra += ["-f", str(tmp_path / "values.yaml")]
    text = run([tool("helm"), "template", RELEASE, *source.helm_args(), *extra]).stdout
    return tuple(doc for doc in yaml.safe_load_all(text) if doc)


def values_of(values: dict | None) -> settings.MonitoringValues:
    raw = settings.load_raw()
    return settings.MonitoringValues.model_validate(settings.merged(raw, values) if values else raw)


SETTINGS = pytest.mark.parametrize("values", [None, OTHER_VALUES], ids=["defaults", "other-values"])
# Numbers Go prints with an exponent, and a whole-number bucket boundary (its `le` keeps the ".0").
EDGE_NUMBERS = {
    "slo": {"latency": {"thresholdSeconds": 1}},
    "alerts": {"classMix": {"minPredictionsPerSecond": 0.00001}, "training": {"maxHoursWithoutSuccess": 1000000}},
}


@pytest.mark.parametrize("values", [None, OTHER_VALUES, EDGE_NUMBERS], ids=["defaults", "other-values", "edge-numbers"])
def test_helm_renders_the_files_as_the_generator_does(tmp_path: Path, values: dict | None) -> None:
    """Byte for byte (but the final newline, which a `|-` block drops), in both modes."""
    expected = outputs.rendered_files(values_of(values))
    objects = render_with(tmp_path, SELF, values)
    rules = find(objects, "ConfigMap", "mlkube-monitoring-rules")[0]["data"]
    assert {k: v + "\n" for k, v in rules.items()} == {p.name: t for p, t in expected.items() if p.parts[0] == "rules"}
    dashboards = find(objects, "ConfigMap", "mlkube-monitoring-grafana-dashboards")[0]["data"]
    assert {k: v + "\n" for k, v in dashboards.items()} == {
        p.name: t for p, t in expected.items() if p.parts[0] == "dashboards"
    }
    stack = render_with(tmp_path, STACK, values)
    for rule in find(stack, "PrometheusRule"):
        (name,) = [p for p in expected if p.parts[0] == "rules" and rule["metadata"]["name"].endswith("-" + p.stem)]
        assert rule["spec"]["groups"] == yaml.safe_load(expected[name])["groups"], name
    for configmap in find(stack, "ConfigMap"):
        for key, text in configmap.get("data", {}).items():
            if key.endswith(".json"):
                assert text + "\n" == expected[Path("dashboards") / key], key
    assert "@@" not in json.dumps(objects) + json.dumps(stack)
    if values is EDGE_NUMBERS:
        assert 'le="1.0"' in rules["recording.yaml"] and "> 3600 * 1e+06" in rules["training-alerts.yaml"]
        assert "> 1e-05" in rules["serving-alerts.yaml"]


def test_other_values_reach_the_rules_and_restart_grafana(tmp_path: Path) -> None:
    default_objects, other = render(SELF), render_with(tmp_path, SELF, OTHER_VALUES)
    rules = "".join(find(other, "ConfigMap", "mlkube-monitoring-rules")[0]["data"].values())
    assert "> 14.4 * (1 - 0.999)" in rules and 'le="0.5"' in rules and "> 3600 * 48" in rules
    assert "https://runbooks.example.com/mlkube#mlkubetrainingstale" in rules

    def checksum(objects: tuple[dict, ...]) -> str:
        grafana = find(objects, "Deployment", "mlkube-monitoring-grafana")[0]
        return grafana["spec"]["template"]["metadata"]["annotations"]["checksum/dashboards"]

    assert checksum(default_objects) != checksum(other)


@SETTINGS
def test_promtool_passes_the_rule_tests_on_what_helm_installs(tmp_path: Path, values: dict | None) -> None:
    """The rule files of the rendered ConfigMap, checked and unit-tested by the real promtool with the cases
    written for those values (which fail on rules rendered with other numbers)."""
    objects = render_with(tmp_path, SELF, values)
    (tmp_path / "rules").mkdir()
    for name, content in find(objects, "ConfigMap", "mlkube-monitoring-rules")[0]["data"].items():
        (tmp_path / "rules" / name).write_text(content + "\n")
    for path, text in outputs.test_files(values_of(values)).items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text)
    rule_files = sorted(str(p) for p in (tmp_path / "rules").glob("*.yaml"))
    check = subprocess.run([tool("promtool"), "check", "rules", *rule_files], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = sorted(p.name for p in (tmp_path / "rules-tests").glob("*.yaml"))
    result = subprocess.run(
        [tool("promtool"), "test", "rules", *tests], cwd=tmp_path / "rules-tests", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests) == 3


def test_rule_tests_fail_on_rules_rendered_with_other_values(tmp_path: Path) -> None:
    """The promtool cases depend on the values: those written for OTHER_VALUES fail on the default rules."""
    (tmp_path / "rules").mkdir()
    for name, content in find(render(SELF), "ConfigMap", "mlkube-monitoring-rules")[0]["data"].items():
        (tmp_path / "rules" / name).write_text(content + "\n")
    for path, text in outputs.test_files(values_of(OTHER_VALUES)).items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text)
    tests = sorted(p.name for p in (tmp_path / "rules-tests").glob("*.yaml"))
    result = subprocess.run(
        [tool("promtool"), "test", "rules", *tests], cwd=tmp_path / "rules-tests", capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count("FAILED") == len(tests) == 3, output


def test_umbrella_passes_the_values_to_the_rules() -> None:
    source = Scenario("mlkube", ("profiles/local.yaml",))
    args = ["--set-json", "monitoring.alerts.training.maxHoursWithoutSuccess=24"]
    text = run([tool("helm"), "template", RELEASE, *source.helm_args(), *args]).stdout
    (rules,) = [d for d in yaml.safe_load_all(text) if d and d["metadata"]["name"] == "mlkube-monitoring-rules"]
    assert "> 3600 * 24" in rules["data"]["training-alerts.yaml"]


@pytest.mark.parametrize(
    ("flag", "setting", "where"),
    [
        # --set passes a fraction as a string: the documented way is --set-json or a values file.
        ("--set", "slo.availability=0.999", "/slo/availability"),
        ("--set-json", "slo.availability=1", "/slo/availability"),
        ("--set-json", "slo.availability=0", "/slo/availability"),
        ("--set-json", 'slo.latency.objective="0.99"', "/slo/latency/objective"),
        ("--set-json", "slo.latency.thresholdSeconds=-0.25", "/slo/latency/thresholdSeconds"),
        ("--set-json", "alerts.canary.maxP99Ratio=0.5", "/alerts/canary/maxP99Ratio"),
        ("--set-json", "alerts.classMix.window=30", "/alerts/classMix/window"),
        ("--set-json", 'alerts.classMix.window="30 m"', "/alerts/classMix/window"),
        ("--set-json", 'alerts.runbookBaseUrl="https://example.com/run\'book"', "/alerts/runbookBaseUrl"),
        ("--set-json", 'alerts.runbookBaseUrl="https://example.com/{{ x }}"', "/alerts/runbookBaseUrl"),
        ("--set-json", 'alerts.runbookBaseUrl="ftp://example.com"', "/alerts/runbookBaseUrl"),
    ],
)
def test_bad_slo_and_alert_values_are_refused(flag: str, setting: str, where: str) -> None:
    result = run([tool("helm"), "template", RELEASE, *Scenario("monitoring").helm_args(), flag, setting], check=False)
    assert result.returncode != 0, result.stdout[:500]
    assert where in result.stderr, result.stderr


def test_fractions_are_accepted_through_set_json() -> None:
    """The way values.yaml documents: the whole `slo` object through --set-json, merged with the defaults."""
    args = ["--set-json", 'slo={"availability":0.999}']
    text = run([tool("helm"), "template", RELEASE, *Scenario("monitoring").helm_args(), *args]).stdout
    assert "> 14.4 * (1 - 0.999)" in text and "1 - 0.995" not in text
