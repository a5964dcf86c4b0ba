"""Values: strict schemas that name the bad key, defaults that agree with platform.env, documentation,
generated READMEs and chart versions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import CHART_NAMES, CHARTS, PLATFORM, RELEASE, ROOT, run, tool

sys.path.insert(0, str(CHARTS / "tools"))
import chart_readmes  # noqa: E402

BAD_VALUES = [
    ("model-server", ["--set", "strategy=canery"], "/strategy"),
    ("model-server", ["--set", "rolling.maxSurg=1"], "maxSurg"),
    ("model-server", ["--set", "image.tag=latest"], "/image/tag"),
    ("model-server", ["--set", "canary.weight=150"], "/canary/weight"),
    ("model-server", ["--set", "blueGreen.active=purple"], "/blueGreen/active"),
    ("model-server", ["--set", "backend=kserve", "--set", "strategy=blueGreen"], "/strategy"),
    ("model-server", ["--set", "kserve.deploymentMode=Serverless"], "/kserve/deploymentMode"),
    ("model-server", ["--set", "replicaCount=-1"], "/replicaCount"),
    (
        "model-server",
        ["--set", "strategy=progressiveCanary", "--set", "progressive.shadow.enabled=true"],
        "/gateway/enabled",
    ),
    ("model-server", ["--set-json", 'progressive.steps=[{"setWeight":10,"pause":{}}]'], "/progressive/steps/0"),
    ("model-server", ["--set-json", 'progressive.steps=[{"pause":{}}]'], "/progressive/steps"),
    (
        "model-server",
        ["--set", "progressive.analysis.thresholds.maxP99Ratio=0.5"],
        "/progressive/analysis/thresholds/maxP99Ratio",
    ),
    ("model-server", ["--set", "progressive.analysis.interval=5"], "/progressive/analysis/interval"),
    ("model-server", ["--set", "progressive.shadow.minAgreement=95"], "/progressive/shadow/minAgreement"),
    ("model-server", ["--set", "progressive.prometheus.address=prometheus:9090"], "/progressive/prometheus/address"),
    ("model-server", ["--set", "progressive.blueGreen.autoPromotion=false"], "autoPromotion"),
    ("model-server", ["--set", "server.loadShedding.maxQueuedRequests=-1"], "/server/loadShedding/maxQueuedRequests"),
    ("model-server", ["--set", "server.loadShedding.retryAfterSeconds=0"], "/server/loadShedding/retryAfterSeconds"),
    ("model-server", ["--set", "server.loadShedding.maxQueued=8"], "maxQueued"),
    ("training-job", ["--set", "gpu.count=0"], "/gpu/count"),
    ("training-job", ["--set", "jobs.penguins.typo=x"], "typo"),
    ("training-job", ["--set", "jobs.penguins.type=evaluate"], "/jobs/penguins/type"),
    ("training-job", ["--set-json", "configErrorExitCodes=[0]"], "/configErrorExitCodes/0"),
    ("mlflow", ["--set", "backend=mysql"], "/backend"),
    ("mlflow", ["--set", "replicaCount=2"], "/replicaCount"),
    ("mlflow", ["--set", "backend=postgres", "--set", "postgres.mode=external"], "/postgres/external/existingSecret"),
    ("mlflow", ["--set-json", 'webhooks.allowedSchemes=["ftp"]'], "/webhooks/allowedSchemes/0"),
    ("mlflow", ["--set", "webhooks.allowPrivateIps=yes"], "/webhooks/allowPrivateIps"),
    ("mlflow", ["--set", "webhooks.enable=true"], "enable"),
    ("mlflow", ["--set-json", 'server.extraEnv=[{"value":"x"}]'], "/server/extraEnv/0"),
    ("monitoring", ["--set", "mode=operator"], "/mode"),
    ("monitoring", ["--set-json", "slo.availability=99.5"], "/slo/availability"),
    ("monitoring", ["--set", "scrape.interval=often"], "/scrape/interval"),
    ("mlkube", ["--set", "model-server.strategy=canery"], "/strategy"),
    ("mlkube", ["--set", "modelserver.enabled=true"], "modelserver"),
    ("mlkube", ["--set", "global.mlflow.url=mlflow:5000"], "/global/mlflow/url"),
]


@pytest.mark.parametrize(
    ("chart", "args", "key"), BAD_VALUES, ids=[f"{c}:{' '.join(a[1::2])}" for c, a, _ in BAD_VALUES]
)
def test_bad_values_name_the_key(helm: str, chart: str, args: list[str], key: str) -> None:
    result = run([helm, "template", RELEASE, str(CHARTS / chart), *args], check=False)
    assert result.returncode != 0, f"accepted: {args}"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert key in result.stderr, result.stderr
    assert "error calling" not in result.stderr and "nil pointer" not in result.stderr, result.stderr


def schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        if "$ref" not in sub and sub.get("type") == "object" and "properties" in sub:
            paths |= schema_paths(sub, path)
    return paths


def value_paths(values: Any, prefix: str = "") -> set[str]:
    paths = set()
    if isinstance(values, dict):
        for key, value in values.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            paths |= value_paths(value, path)
    return paths


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_schema_is_strict_and_every_value_is_declared(chart: str) -> None:
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    values = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    declared = schema_paths(schema)
    top = {p for p in value_paths(values) if "." not in p}
    assert top <= declared, f"values without schema: {top - declared}"
    # Every schema property has a documented default in values.yaml (the umbrella passes sections through).
    in_values = value_paths(values)
    missing = {p for p in declared if p not in in_values and not p.startswith("global.")}
    assert not missing, f"schema keys missing from values.yaml: {sorted(missing)}"


def helm_docs(search_root: Path, chart: str) -> str:
    """The README.md that helm-docs renders for one chart, as make chart-docs writes it."""
    return chart_readmes.render(tool("helm-docs"), search_root, chart)


def undocumented_rows(readme: str) -> list[str]:
    """Values-table rows without a description: helm-docs lists an undocumented value unless a key above it is
    documented (its strict mode wants a `# key --` comment on every key, a style these charts do not use)."""
    rows = readme.split("## Values", 1)[-1].splitlines()
    return [row.split("|")[1].strip() for row in rows if row.startswith("| ") and row.rstrip().endswith("|  |")]


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_readmes_are_generated_from_values(chart: str) -> None:
    readme = helm_docs(CHARTS, chart)
    assert readme == (CHARTS / chart / "README.md").read_text(), f"charts/{chart}/README.md is stale: make chart-docs"
    assert not undocumented_rows(readme), f"charts/{chart}/values.yaml: no '# --' description for those values"


def test_readme_check_catches_an_undocumented_value(tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    (chart / "ci").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("# -- documented\na: 1\nb: 2\nc:\n  # -- documented below\n  d: 3\n")
    assert undocumented_rows(helm_docs(tmp_path, "demo")) == ["b"]


def test_chart_versions_change_with_their_content() -> None:
    result = subprocess.run(
        [sys.executable, str(CHARTS / "tools" / "chart_versions.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_chart_metadata(chart: str) -> None:
    meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["name"] == chart
    assert SEMVER.match(meta["version"]), meta["version"]
    assert meta.get("description") and meta.get("kubeVersion")
    assert (CHARTS / chart / "templates" / "NOTES.txt").exists()


def test_umbrella_depends_on_the_charts_of_this_repository() -> None:
    deps = yaml.safe_load((CHARTS / "mlkube" / "Chart.yaml").read_text())["dependencies"]
    assert {d["name"] for d in deps} == set(CHART_NAMES) - {"mlkube"}
    for dep in deps:
        assert dep["repository"] == f"file://../{dep['name']}"
        assert dep["condition"] == f"{dep['name']}.enabled"
        assert dep["version"] == yaml.safe_load((CHARTS / dep["name"] / "Chart.yaml").read_text())["version"]


def test_defaults_agree_with_platform_env() -> None:
    load = lambda chart: yaml.safe_load((CHARTS / chart / "values.yaml").read_text())  # noqa: E731
    server, trainer, mlflow, monitoring = (load(c) for c in ("model-server", "training-job", "mlflow", "monitoring"))
    tag = PLATFORM["IMAGE_TAG"]
    assert (server["image"]["repository"], server["image"]["tag"]) == (PLATFORM["MODEL_SERVER_IMAGE"], tag)
    assert (trainer["image"]["repository"], trainer["image"]["tag"]) == (PLATFORM["TRAINING_IMAGE"], tag)
    assert (mlflow["image"]["repository"], mlflow["image"]["tag"]) == (PLATFORM["TRAINING_IMAGE"], tag)
    prefix = PLATFORM["IMAGE_PREFIX"] + "/"
    for image in (
        mlflow["postgres"]["internal"]["image"],
        monitoring["prometheus"]["image"],
        monitoring["grafana"]["image"],
        monitoring["pushgateway"]["image"],
    ):
        assert image["repository"].startswith(prefix) and image["tag"] == tag, image
    assert server["server"]["port"] == server["service"]["port"] == int(PLATFORM["MODEL_SERVER_PORT"])
    metrics_port = int(PLATFORM["MODEL_SERVER_METRICS_PORT"])
    assert server["server"]["metricsPort"] == monitoring["scrape"]["modelServer"]["servicePort"] == metrics_port
    assert mlflow["server"]["port"] == mlflow["service"]["port"] == int(PLATFORM["MLFLOW_PORT"])
    assert monitoring["prometheus"]["port"] == int(PLATFORM["PROMETHEUS_PORT"])
    assert monitoring["grafana"]["port"] == int(PLATFORM["GRAFANA_PORT"])
    assert monitoring["pushgateway"]["port"] == int(PLATFORM["PUSHGATEWAY_PORT"])
    argo = monitoring["scrape"]["argoRollouts"]
    assert argo["servicePort"] == int(PLATFORM["ARGO_ROLLOUTS_METRICS_PORT"])
    assert argo["namespace"] == PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]


def test_label_keys_come_from_platform_env() -> None:
    helpers = (CHARTS / "model-server" / "templates" / "_helpers.tpl").read_text()
    templates = "".join(p.read_text() for p in (CHARTS / "model-server" / "templates").rglob("*.yaml"))
    for key in ("LABEL_VARIANT", "LABEL_MODEL", "LABEL_MODEL_VERSION", "LABEL_TRACK"):
        assert PLATFORM[key] + ":" in helpers + templates, PLATFORM[key]
    for key in ("ENV_VARIANT", "ENV_MODEL_VERSION"):
        assert f"name: {PLATFORM[key]}" in helpers, PLATFORM[key]


def _registry_hosts() -> list[str]:
    """The package registries this machine is configured for (pip, apt, npm, Go), read from their config."""
    texts = []
    for command in (["pip", "config", "list"], ["npm", "config", "get", "registry"], ["go", "env", "GOPROXY"]):
        try:
            texts.append(subprocess.run(command, capture_output=True, text=True, timeout=20).stdout)
        except (OSError, subprocess.SubprocessError):
            pass
    for sources in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if sources.is_file():
            texts.append(sources.read_text(errors="ignore"))
    return sorted({h for h in re.findall(r"https?://([A-Za-z0-9.-]+)", "\n".join(texts)) if "." in h})


def test_no_registry_hosts_or_machine_paths_in_charts() -> None:
    home_dot = str(Path.home()) + "/."
    patterns = [re.escape(str(ROOT) + "/"), re.escape(home_dot), *map(re.escape, _registry_hosts())]
    forbidden = re.compile("|".join(patterns))
    for path in list(CHARTS.rglob("*")) + list((ROOT / "manifests").rglob("*")):
        if (
            path.is_file()
            and path.suffix in {".yaml", ".json", ".tpl", ".txt", ".md", ".py", ".mk"}
            and "/charts/mlkube/charts/" not in str(path)
        ):
            assert not forbidden.search(path.read_text(errors="ignore")), path
