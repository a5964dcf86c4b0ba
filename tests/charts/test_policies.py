"""Policy checks on the rendered output of every scenario: Pod Security, resources, probes, images,
selectors, Service ports, labels, variants and GPU placement."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from chart_helpers import (
    ALL_SCENARIOS,
    CHARTS,
    PLATFORM,
    Scenario,
    containers,
    find,
    pod_templates,
    render,
    render_text,
    scenario,
    selects,
)

IDS = [s.id for s in ALL_SCENARIOS]
ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
LONG_RUNNING = ("Deployment", "StatefulSet", "InferenceService", "Rollout")
WORKLOADS = ("Deployment", "StatefulSet", "Rollout")


def pods(objects: tuple[dict[str, Any], ...]):
    for obj in objects:
        for labels, spec in pod_templates(obj, objects):
            yield obj, labels, spec


def is_hook(obj: dict[str, Any]) -> bool:
    return "helm.sh/hook" in obj["metadata"].get("annotations", {})


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=IDS)
def test_restricted_pod_security(scenario: Scenario) -> None:
    """The `restricted` Pod Security Standard, plus a read-only root filesystem, for every pod."""
    for obj, _, spec in pods(render(scenario)):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(field), f"{where}: {field}"
        for volume in spec.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= ALLOWED_VOLUME_TYPES, f"{where}: volume {volume['name']} of type {kinds}"
        pod_ctx = spec.get("securityContext", {})
        assert pod_ctx.get("runAsUser", 1) != 0, where
        for container in containers(spec):
            cwhere = f"{where} container {container['name']}"
            ctx = container.get("securityContext", {})
            assert ctx.get("allowPrivilegeEscalation") is False, cwhere
            assert not ctx.get("privileged"), cwhere
            assert "ALL" in ctx.get("capabilities", {}).get("drop", []), cwhere
            assert set(ctx.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}, cwhere
            assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, cwhere
            assert ctx.get("runAsUser", pod_ctx.get("runAsUser", 1)) != 0, cwhere
            seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type")
            assert seccomp in ("RuntimeDefault", "Localhost"), cwhere
            assert ctx.get("readOnlyRootFilesystem") is True, cwhere
            assert not any(p.get("hostPort") for p in container.get("ports", [])), cwhere


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=IDS)
def test_resources_and_probes(scenario: Scenario) -> None:
    for obj, _, spec in pods(render(scenario)):
        for container in containers(spec):
            where = f"{obj['kind']}/{obj['metadata']['name']} container {container['name']}"
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{where}: requests"
            assert "memory" in resources.get("limits", {}), f"{where}: memory limit"
        if obj["kind"] in LONG_RUNNING:
            for container in spec["containers"]:
                where = f"{obj['kind']}/{obj['metadata']['name']} container {container['name']}"
                assert "readinessProbe" in container, f"{where}: readiness probe"
                if obj["kind"] != "InferenceService":  # KServe/Knative owns liveness of its pods
                    assert "livenessProbe" in container, f"{where}: liveness probe"
                    assert "startupProbe" in container, f"{where}: startup probe"


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=IDS)
def test_images_are_pinned(scenario: Scenario) -> None:
    for _, _, spec in pods(render(scenario)):
        for container in containers(spec):
            image = container["image"]
            repository, _, tag = image.rpartition(":")
            assert repository and tag and "/" not in tag, f"{image}: no explicit tag"
            assert tag != "latest", image
            assert container.get("imagePullPolicy") == "IfNotPresent", image
    assert not re.search(r"image: \S+:latest\b", render_text(scenario))


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=IDS)
def test_selectors_match_their_pods(scenario: Scenario) -> None:
    objects = render(scenario)
    templates = [(o, labels) for o in objects if o["kind"] in WORKLOADS for labels, _ in pod_templates(o, objects)]
    for obj, labels in templates:
        selector = obj["spec"]["selector"]["matchLabels"]
        assert selector and selects(selector, labels), f"{obj['metadata']['name']}: selector {selector} vs {labels}"
    for pdb in find(objects, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selects(selector, labels) for _, labels in templates), pdb["metadata"]["name"]
    # A policy may select Jobs' and KServe predictors' pods too, and by a label's presence.
    pod_kinds = (*WORKLOADS, "Job", "CronJob", "InferenceService")
    pod_labels = [labels for o in objects if o["kind"] in pod_kinds for labels, _ in pod_templates(o, objects)]
    for policy in find(objects, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        present = [e["key"] for e in selector.get("matchExpressions", []) if e["operator"] == "Exists"]
        assert len(present) == len(selector.get("matchExpressions", [])), "only Exists is checked here"
        assert any(selects(selector["matchLabels"], labels) and set(present) <= set(labels) for labels in pod_labels), (
            policy["metadata"]["name"]
        )
    for scaler in find(objects, "HorizontalPodAutoscaler") + find(objects, "ScaledObject"):
        assert find(objects, scaler["spec"]["scaleTargetRef"]["kind"], scaler["spec"]["scaleTargetRef"]["name"])


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=IDS)
def test_every_workload_with_more_than_one_pod_has_a_disruption_budget(scenario: Scenario) -> None:
    """A node drain must leave one pod of each replicated component serving (Deployments, StatefulSets and
    Rollouts with replicas > 1 or an autoscaler)."""
    objects = render(scenario)
    scaled = {(h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"]["name"])
              for h in find(objects, "HorizontalPodAutoscaler") + find(objects, "ScaledObject")}  # fmt: skip
    budgets = [pdb["spec"]["selector"]["matchLabels"] for pdb in find(objects, "PodDisruptionBudget")]
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet", "Rollout"):
            continue
        replicated = obj["spec"].get("replicas", 1) > 1 or (obj["kind"], obj["metadata"]["name"]) in scaled
        [(labels, _)] = pod_templates(obj, objects)
        if replicated:
            assert any(selects(b, labels) for b in budgets), f"{obj['kind']}/{obj['metadata']['name']}: no PDB"


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=IDS)
def test_services_select_pods_that_have_their_ports(scenario: Scenario) -> None:
    objects = render(scenario)
    workloads = [(o, labels, spec) for o, labels, spec in pods(objects) if o["kind"] in WORKLOADS]
    for service in find(objects, "Service"):
        selected = [(o, spec) for o, labels, spec in workloads if selects(service["spec"]["selector"], labels)]
        assert selected, f"Service {service['metadata']['name']} selects no pods"
        for port in service["spec"]["ports"]:
            for workload, spec in selected:
                names = {p.get("name") for c in spec["containers"] for p in c.get("ports", [])}
                numbers = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
                target = port["targetPort"]
                assert target in names or target in numbers, (
                    f"Service {service['metadata']['name']} port {target} not on {workload['metadata']['name']}"
                )
    for route in find(objects, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            for extension in [f["extensionRef"] for f in rule.get("filters", []) if f["type"] == "ExtensionRef"]:
                assert extension["group"] == "traefik.io" and find(objects, extension["kind"], extension["name"]), (
                    f"HTTPRoute {route['metadata']['name']} filter {extension} is not in the render"
                )
            for ref in rule["backendRefs"]:
                refs = [ref]
                if ref.get("kind") == "TraefikService":
                    traefik = find(objects, "TraefikService", ref["name"])
                    assert traefik and ref.get("group") == "traefik.io", ref
                    refs = traefik[0]["spec"]["weighted"]["services"]
                for backend_ref in refs:
                    backend = find(objects, "Service", backend_ref["name"])
                    assert backend and backend_ref["port"] in [p["port"] for p in backend[0]["spec"]["ports"]], ref


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=IDS)
def test_standard_labels_everywhere(scenario: Scenario) -> None:
    for obj in render(scenario):
        labels = obj["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance"):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"
        if not is_hook(obj):
            assert labels.get("app.kubernetes.io/managed-by") == "Helm", obj["metadata"]["name"]
            assert labels.get("helm.sh/chart"), obj["metadata"]["name"]


def server_pods(objects: tuple[dict[str, Any], ...]):
    for obj, labels, spec in pods(objects):
        if (
            labels.get("app.kubernetes.io/name") == "model-server"
            and labels.get("app.kubernetes.io/component") == "server"
        ):
            yield obj, labels, spec


@pytest.mark.parametrize(
    "scenario", [s for s in ALL_SCENARIOS if s.chart in ("model-server", "mlkube")], ids=lambda s: s.id
)
def test_server_pods_carry_variant_and_version_as_labels_and_env(scenario: Scenario) -> None:
    found = list(server_pods(render(scenario)))
    assert found
    for obj, labels, spec in found:
        env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        revision = next(e for e in spec["containers"][0]["env"] if e["name"] == PLATFORM["ENV_REVISION"])
        hash_label = "rollouts-pod-template-hash" if obj["kind"] == "Rollout" else "pod-template-hash"
        assert revision["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{hash_label}']"
        if obj["kind"] == "Rollout":
            # One template for canary and stable: Argo's ephemeral metadata labels the variant of each pod.
            strategy = next(iter(obj["spec"]["strategy"].values()))
            metadata = [v for k, v in strategy.items() if k.endswith("Metadata")]
            assert len(metadata) == 2 and PLATFORM["LABEL_VARIANT"] not in labels
            assert {m["labels"][PLATFORM["LABEL_VARIANT"]] for m in metadata} in (
                {"canary", "stable"},
                {"active", "preview"},
            )
        else:
            assert labels[PLATFORM["LABEL_VARIANT"]] == env[PLATFORM["ENV_VARIANT"]]
            assert labels[PLATFORM["LABEL_VARIANT"]] in ("stable", "canary", "blue", "green")
        assert labels[PLATFORM["LABEL_MODEL_VERSION"]] == env[PLATFORM["ENV_MODEL_VERSION"]]
        assert labels[PLATFORM["LABEL_MODEL"]]
        ports = {p.get("name"): p["containerPort"] for p in spec["containers"][0]["ports"]}
        assert spec["containers"][0]["ports"][0]["containerPort"] == int(PLATFORM["MODEL_SERVER_PORT"])
        if obj["kind"] != "InferenceService":  # Knative admits one container port
            assert ports["metrics"] == int(PLATFORM["MODEL_SERVER_METRICS_PORT"])
        if obj["kind"] in ("Deployment", "Rollout"):
            probes = spec["containers"][0]
            assert probes["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
            assert probes["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
            assert probes["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
            # Under a crowd probes wait behind the requests a pod holds: longer than Kubernetes' 1 s default.
            assert probes["livenessProbe"]["timeoutSeconds"] >= 5 and probes["readinessProbe"]["timeoutSeconds"] >= 3
            assert probes["lifecycle"]["preStop"]["sleep"]["seconds"] < spec["terminationGracePeriodSeconds"]
            annotations = obj["spec"]["template"]["metadata"]["annotations"]
            # A Deployment restarts on a ConfigMap change; a Rollout's settings are in its template's env.
            assert ("checksum/config" in annotations) == (obj["kind"] == "Deployment")


def variant_selected(objects, service_name: str) -> set[str]:
    service = find(objects, "Service", service_name)[0]
    return {
        labels["mlkube.io/variant"]
        for _, labels, _ in server_pods(objects)
        if selects(service["spec"]["selector"], labels)
    }


def test_rolling_is_one_deployment_with_rollout_settings() -> None:
    objects = render(scenario("model-server", "ci/rolling-values.yaml"))
    (deployment,) = find(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["revisionHistoryLimit"] > 0 and spec["minReadySeconds"] > 0
    assert spec["progressDeadlineSeconds"] > spec["minReadySeconds"]
    assert (
        deployment["metadata"]["annotations"]["kubernetes.io/change-cause"] == "model v2 trained on the full data set"
    )
    assert variant_selected(objects, "mlkube-model-server") == {"stable"}


def test_canary_by_replicas_shares_one_service() -> None:
    objects = render(scenario("model-server", "ci/canary-replicas-values.yaml"))
    assert variant_selected(objects, "mlkube-model-server") == {"stable", "canary"}
    assert variant_selected(objects, "mlkube-model-server-canary") == {"canary"}
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in find(objects, "Deployment")}
    assert replicas == {"mlkube-model-server": 3, "mlkube-model-server-canary": 1}
    canary = find(objects, "Deployment", "mlkube-model-server-canary")[0]
    labels = canary["spec"]["template"]["metadata"]["labels"]
    assert labels["mlkube.io/model-version"] == "2"
    config = find(objects, "ConfigMap", "mlkube-model-server-canary-config")[0]["data"]
    assert "@challenger" in config["MLKUBE_SERVER_MODELS"]
    assert not find(objects, "HTTPRoute")


def test_the_local_gateway_resends_what_a_dead_pod_never_answered() -> None:
    objects = render(scenario("mlkube", "profiles/local.yaml"))
    (route,) = find(objects, "HTTPRoute")
    (middleware,) = find(objects, "Middleware", "mlkube-model-server-retry")
    assert middleware["spec"] == {"retry": {"attempts": 5, "initialInterval": "50ms"}}
    assert route["spec"]["rules"][0]["filters"] == [
        {
            "type": "ExtensionRef",
            "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": "mlkube-model-server-retry"},
        }
    ]
    # Off by default: the Middleware kind exists only where Traefik is the Gateway.
    defaults = render(scenario("model-server", "ci/canary-gateway-values.yaml"))
    assert not find(defaults, "Middleware") and "filters" not in find(defaults, "HTTPRoute")[0]["spec"]["rules"][0]


def test_canary_by_gateway_weights() -> None:
    objects = render(scenario("model-server", "ci/canary-gateway-values.yaml"))
    assert variant_selected(objects, "mlkube-model-server") == {"stable"}
    assert variant_selected(objects, "mlkube-model-server-stable") == {"stable"}
    assert variant_selected(objects, "mlkube-model-server-canary") == {"canary"}
    (route,) = find(objects, "HTTPRoute")
    weights = {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}
    assert weights == {"mlkube-model-server-stable": 90, "mlkube-model-server-canary": 10}
    assert route["spec"]["parentRefs"][0]["name"] == "mlkube-gateway"


@pytest.mark.parametrize(
    ("values", "active", "preview"),
    [
        ("ci/blue-green-blue-values.yaml", "blue", "green"),
        ("ci/blue-green-green-values.yaml", "green", "blue"),
    ],
)
def test_blue_green_services_follow_one_value(values: str, active: str, preview: str) -> None:
    objects = render(scenario("model-server", values))
    assert variant_selected(objects, "mlkube-model-server") == {active}
    assert variant_selected(objects, "mlkube-model-server-preview") == {preview}
    versions = {
        d["spec"]["template"]["metadata"]["labels"]["mlkube.io/variant"]: d["spec"]["template"]["metadata"]["labels"][
            "mlkube.io/model-version"
        ]
        for d in find(objects, "Deployment")
    }
    assert versions == {"blue": "1", "green": "2"}
    jobs = find(objects, "Job")
    if values.endswith("green-values.yaml"):
        (job,) = jobs
        env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env == {"TARGET": "mlkube-model-server", "DELAY": "600"}  # blue is the primary Deployment
    else:
        assert not jobs


def test_blue_green_switch_changes_only_the_services() -> None:
    """Switching colours must not roll either Deployment: only Service selectors (and the scale-down Job) change."""
    blue = render(Scenario("model-server", ("ci/blue-green-blue-values.yaml",)))
    green = render(Scenario("model-server", ("ci/blue-green-blue-values.yaml",), ("blueGreen.active=green",)))
    for name in ("mlkube-model-server", "mlkube-model-server-green"):
        before = find(blue, "Deployment", name)[0]["spec"]["template"]
        after = find(green, "Deployment", name)[0]["spec"]["template"]
        assert before == after, name
    assert variant_selected(green, "mlkube-model-server") == {"green"}


@pytest.mark.parametrize(
    "target", ["ci/blue-green-blue-values.yaml", "ci/canary-replicas-values.yaml", "ci/canary-gateway-values.yaml"]
)
def test_changing_strategy_keeps_the_primary_deployment_behind_the_main_service(target: str) -> None:
    """rolling -> canary or blue-green updates the Deployment <full> in place (same selector, so the API
    server accepts it), and the main Service selects its pods before and after: old pods keep serving
    until their replacements are Ready instead of the Service losing every endpoint at once."""
    rolling = render(scenario("model-server", "ci/rolling-values.yaml"))
    changed = render(scenario("model-server", target))
    before = find(rolling, "Deployment", "mlkube-model-server")[0]
    after = find(changed, "Deployment", "mlkube-model-server")[0]
    assert before["spec"]["selector"] == after["spec"]["selector"]
    service = find(changed, "Service", "mlkube-model-server")[0]["spec"]["selector"]
    for deployment in (before, after):
        assert selects(service, deployment["spec"]["template"]["metadata"]["labels"]), (target, service)


def test_kserve_modes() -> None:
    knative = find(render(scenario("model-server", "ci/kserve-knative-values.yaml")), "InferenceService")[0]
    assert knative["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert knative["spec"]["predictor"]["canaryTrafficPercent"] == 20
    # Knative's default feature flags reject these pod fields; the container carries the restricted settings.
    for field in ("securityContext", "priorityClassName", "terminationGracePeriodSeconds"):
        assert field not in knative["spec"]["predictor"], field
    assert knative["spec"]["predictor"]["model"]["securityContext"]["runAsNonRoot"] is True
    standard = find(render(scenario("model-server", "ci/kserve-standard-values.yaml")), "InferenceService")[0]
    assert standard["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert "canaryTrafficPercent" not in standard["spec"]["predictor"]
    (canary,) = standard["spec"]["canary"]
    assert canary["trafficPercent"] == 10 and canary["predictor"]["name"] == "canary"
    assert canary["predictor"]["labels"]["mlkube.io/variant"] == "canary"
    assert standard["spec"]["predictor"]["name"] == "stable"


def gpu_requests(objects) -> dict[str, dict[str, Any]]:
    found = {}
    for obj, _, spec in pods(objects):
        text = str(spec)
        if "nvidia.com/gpu" in text:
            found[obj["metadata"]["name"]] = spec
    return found


@pytest.mark.parametrize(
    "source",
    [
        scenario("training-job"),
        scenario("training-job", "ci/gpu-off-values.yaml"),
        scenario("training-job", "ci/scoring-values.yaml"),
        scenario("mlkube", "profiles/kind.yaml"),
        scenario("mlkube", "profiles/local.yaml"),
        scenario("mlkube", "profiles/cloud.yaml"),
    ],
    ids=lambda s: s.id,
)
def test_no_gpu_settings_unless_asked(source: Scenario) -> None:
    assert "nvidia.com/gpu" not in render_text(source)


@pytest.mark.parametrize(
    "source",
    [
        scenario("training-job", "ci/gpu-on-values.yaml"),
        scenario("mlkube", "profiles/kind.yaml", "profiles/gpu.yaml"),
    ],
    ids=lambda s: s.id,
)
def test_gpu_jobs_land_only_on_gpu_nodes(source: Scenario) -> None:
    objects = render(source)
    gpu = gpu_requests(objects)
    assert gpu and all("digits" in name for name in gpu), sorted(gpu)
    for spec in gpu.values():
        assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    others = [spec for obj, _, spec in pods(objects) if obj["metadata"]["name"] not in gpu]
    assert others and all("nvidia.com/gpu" not in str(spec) for spec in others)
    # Without kind-gpu no RuntimeClass is named: cloud GPU images make the NVIDIA runtime the default.
    assert all("runtimeClassName" not in spec for spec in gpu.values())


def test_on_kind_gpu_only_the_gpu_jobs_ask_for_the_nvidia_runtime() -> None:
    objects = render(scenario("mlkube", "profiles/kind.yaml", "profiles/gpu.yaml", "profiles/kind-gpu.yaml"))
    gpu = gpu_requests(objects)
    assert gpu and all(spec["runtimeClassName"] == "nvidia" for spec in gpu.values()), gpu
    others = [spec for obj, _, spec in pods(objects) if obj["metadata"]["name"] not in gpu]
    assert others and all("runtimeClassName" not in spec for spec in others)


def test_training_jobs_fail_fast_on_configuration_errors() -> None:
    for job in find(render(scenario("training-job")), "Job"):
        spec = job["spec"]
        rules = spec["podFailurePolicy"]["rules"]
        assert rules[0] == {
            "action": "FailJob",
            "onExitCodes": {"containerName": "trainer", "operator": "In", "values": [2]},
        }
        assert rules[1]["action"] == "Ignore" and rules[1]["onPodConditions"][0]["type"] == "DisruptionTarget"
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
        assert spec["backoffLimit"] >= 1 and spec["activeDeadlineSeconds"] and spec["ttlSecondsAfterFinished"]
    args = {
        j["metadata"]["labels"]["mlkube.io/job"]: j["spec"]["template"]["spec"]["containers"][0]["args"]
        for j in find(render(scenario("training-job")), "Job")
    }
    assert args == {"penguins": ["penguins", "--model", "all"], "digits": ["digits", "--device", "auto"]}


def test_job_names_change_with_their_spec() -> None:
    """Jobs are immutable: a changed spec must be a new Job, an unchanged one the same Job."""
    before = {j["metadata"]["name"] for j in find(render(scenario("training-job")), "Job")}
    again = {j["metadata"]["name"] for j in find(render(Scenario("training-job", (), ("backoffLimit=3",))), "Job")}
    after = {j["metadata"]["name"] for j in find(render(Scenario("training-job", (), ("image.tag=0.2.0",))), "Job")}
    assert before == again and not before & after


def test_every_component_finds_mlflow_through_one_value() -> None:
    for profile in ("profiles/kind.yaml", "profiles/local.yaml"):
        objects = render(scenario("mlkube", profile))
        (mlflow,) = [s for s in find(objects, "Service") if s["metadata"]["name"] == "mlkube-mlflow"]
        expected = f"http://mlkube-mlflow:{mlflow['spec']['ports'][0]['port']}"
        uris = {
            e["value"]
            for _, _, spec in pods(objects)
            for c in spec["containers"]
            for e in c.get("env", [])
            if e["name"] in ("MLFLOW_TRACKING_URI",)
        }
        assert uris == {expected}
    moved = render(Scenario("mlkube", ("profiles/kind.yaml",), ("global.mlflow.url=http://mlflow.example:80",)))
    uris = {
        e["value"]
        for _, _, spec in pods(moved)
        for c in spec["containers"]
        for e in c.get("env", [])
        if e["name"] == "MLFLOW_TRACKING_URI"
    }
    assert uris == {"http://mlflow.example:80"}


def knative_predictor(*sets: str) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    objects = render(Scenario("model-server", ("ci/kserve-knative-values.yaml",), sets))
    return find(objects, "InferenceService")[0]["spec"]["predictor"], objects


def env_of(predictor: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in predictor["model"]["env"]}


def test_knative_revisions_keep_their_own_settings() -> None:
    """Each Knative revision is made from the template as it was: with the settings in a shared ConfigMap, the
    previous revision's pods would load the canary's models when they restart or scale out."""
    predictor, objects = knative_predictor()
    assert not find(objects, "ConfigMap"), [o["metadata"]["name"] for o in find(objects, "ConfigMap")]
    assert "envFrom" not in predictor["model"]
    assert "checksum/config" not in predictor.get("annotations", {})
    env = env_of(predictor)
    defaults = yaml.safe_load((CHARTS / "model-server" / "values.yaml").read_text())["server"]["models"]
    assert json.loads(env["MLKUBE_SERVER_MODELS"]) == defaults
    standard = find(render(scenario("model-server", "ci/kserve-standard-values.yaml")), "InferenceService")[0]
    # Standard mode: a Deployment per predictor, each with its own ConfigMap.
    for each in [standard["spec"]["predictor"], standard["spec"]["canary"][0]["predictor"]]:
        assert "envFrom" in each["model"] and "checksum/config" in each["annotations"]


@pytest.mark.parametrize(
    ("settings", "variant"),
    [
        ((), "canary"),  # the ci values: 20 % on the latest revision
        (("kserve.canaryTrafficPercent=0",), "canary"),  # rolled back: the latest revision is still the canary
        (("kserve.canaryTrafficPercent=100",), "stable"),  # promoted
        (("kserve.canaryTrafficPercent=null",), "stable"),
    ],
)
def test_knative_latest_revision_is_the_canary_while_it_shares_the_traffic(settings, variant) -> None:
    """The previous revision keeps the labels it was made with (stable), so the canary alerts compare the two."""
    predictor, _ = knative_predictor(*settings)
    assert predictor["labels"]["mlkube.io/variant"] == variant
    assert env_of(predictor)["MLKUBE_VARIANT"] == variant
