"""The progressive strategies: one Argo Rollout, its Services and traffic routing, and AnalysisTemplates whose
queries come verbatim from the generated files/analysis-metrics.yaml with the thresholds of the values."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from chart_helpers import CHARTS, NAMESPACE, PLATFORM, RELEASE, Scenario, find, render, run, scenario, selects, tool

FULL = f"{RELEASE}-model-server"
GENERATED = yaml.safe_load((CHARTS / "model-server" / "files" / "analysis-metrics.yaml").read_text())
CANARY_GATEWAY = scenario("model-server", "ci/progressive-canary-gateway-values.yaml")
CANARY_REPLICAS = scenario("model-server", "ci/progressive-canary-replicas-values.yaml")
BLUE_GREEN = scenario("model-server", "ci/progressive-bluegreen-values.yaml")
ARG = re.compile(r"\{\{args\.([a-z-]+)\}\}")


def with_sets(*sets: str, values: tuple[str, ...] = ()) -> Scenario:
    return Scenario("model-server", values, tuple(sets))


def rollout(objects: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    [found] = find(objects, "Rollout")
    assert not find(objects, "Deployment"), "a progressive strategy runs no Deployment"
    return found


def templates(objects: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    return {t["metadata"]["name"]: t for t in find(objects, "AnalysisTemplate")}


def analysis_refs(step_or_analysis: dict[str, Any]) -> list[str]:
    return [t["templateName"] for t in step_or_analysis["templates"]]


def env_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_default_canary_steps_and_background_analysis() -> None:
    objects = render(with_sets("strategy=progressiveCanary"))
    canary = rollout(objects)["spec"]["strategy"]["canary"]
    steps = canary["steps"]
    assert [next(iter(s)) for s in steps] == ["setWeight", "analysis", "setWeight", "analysis"]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [10, 50]
    assert all(analysis_refs(s["analysis"]) == [f"{FULL}-canary-gate"] for s in steps if "analysis" in s)
    # The background analysis starts with the first live weight (step 0), not after that step completes.
    assert canary["analysis"]["startingStep"] == 0
    assert analysis_refs(canary["analysis"]) == [f"{FULL}-canary"]
    assert set(templates(objects)) == {f"{FULL}-canary", f"{FULL}-canary-gate"}


def test_shadow_phase_runs_one_candidate_pod_without_live_traffic_first() -> None:
    objects = render(CANARY_GATEWAY)
    canary = rollout(objects)["spec"]["strategy"]["canary"]
    steps = canary["steps"]
    assert steps[0] == {"setCanaryScale": {"replicas": 1}}
    assert analysis_refs(steps[1]["analysis"]) == [f"{FULL}-shadow-gate"]
    assert steps[2] == {"setCanaryScale": {"matchTrafficWeight": True}}
    assert steps[3] == {"setWeight": 5}
    assert canary["analysis"]["startingStep"] == 3
    assert {"pause": {"duration": "30s"}} in steps
    shadow = templates(objects)[f"{FULL}-shadow-gate"]
    assert [m["name"] for m in shadow["spec"]["metrics"]] == ["shadow-agreement", "models-loaded"]
    assert "result[0] >= 0.95" in shadow["spec"]["metrics"][0]["successCondition"]
    env = env_of(rollout(objects))
    assert env["MLKUBE_SERVER_SHADOW_URL"] == f"http://{FULL}-canary:8080"
    assert env["MLKUBE_SERVER_SHADOW_FRACTION"] == "0.5"
    # The candidate must accept the copies even where ingress is restricted.
    [policy] = find(objects, "NetworkPolicy")
    peers = policy["spec"]["ingress"][0]["from"]
    assert any(
        selects(
            p.get("podSelector", {}).get("matchLabels", {"-": "-"}),
            rollout(objects)["spec"]["template"]["metadata"]["labels"],
        )
        for p in peers
    )


def test_no_shadow_settings_without_shadow() -> None:
    env = env_of(rollout(render(with_sets("strategy=progressiveCanary"))))
    assert "MLKUBE_SERVER_SHADOW_URL" not in env


def test_canary_behind_the_gateway_routes_through_a_weighted_traefik_service() -> None:
    objects = render(CANARY_GATEWAY)
    canary = rollout(objects)["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"] == {"traefik": {"weightedTraefikServiceName": FULL}}
    assert (canary["stableService"], canary["canaryService"]) == (FULL, f"{FULL}-canary")
    [route] = find(objects, "HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"] == [{"group": "traefik.io", "kind": "TraefikService", "name": FULL}]
    [traefik] = find(objects, "TraefikService", FULL)
    weights = {s["name"]: s["weight"] for s in traefik["spec"]["weighted"]["services"]}
    assert weights == {FULL: 100, f"{FULL}-canary": 0}
    [hpa] = find(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": FULL}
    assert "replicas" not in rollout(objects)["spec"]


def test_basic_canary_splits_by_replicas_behind_the_main_service() -> None:
    objects = render(CANARY_REPLICAS)
    canary = rollout(objects)["spec"]["strategy"]["canary"]
    assert "trafficRouting" not in canary
    assert (canary["stableService"], canary["canaryService"]) == (f"{FULL}-stable", f"{FULL}-canary")
    main = find(objects, "Service", FULL)[0]
    assert "mlkube.io/variant" not in main["metadata"]["labels"]
    pod_labels = rollout(objects)["spec"]["template"]["metadata"]["labels"]
    for name in (FULL, f"{FULL}-stable", f"{FULL}-canary"):
        assert selects(find(objects, "Service", name)[0]["spec"]["selector"], pod_labels), name
    assert not find(objects, "TraefikService")
    for template in find(objects, "AnalysisTemplate"):
        for metric in template["spec"]["metrics"]:
            assert metric["provider"]["prometheus"]["address"] == "http://prometheus.monitoring:9090"


def test_blue_green_preview_judged_before_and_after_the_switch() -> None:
    objects = render(BLUE_GREEN)
    blue_green = rollout(objects)["spec"]["strategy"]["blueGreen"]
    assert (blue_green["activeService"], blue_green["previewService"]) == (FULL, f"{FULL}-preview")
    assert blue_green["autoPromotionEnabled"] is False and blue_green["scaleDownDelaySeconds"] == 60
    assert analysis_refs(blue_green["prePromotionAnalysis"]) == [f"{FULL}-prepromotion"]
    post_args = {a["name"]: a for a in blue_green["postPromotionAnalysis"]["args"]}
    assert post_args["baseline-window"]["value"] == "2m"
    found = templates(objects)
    pre = [m["name"] for m in found[f"{FULL}-prepromotion"]["spec"]["metrics"]]
    assert pre[0] == "shadow-agreement" and "models-loaded" in pre
    assert env_of(rollout(objects))["MLKUBE_SERVER_SHADOW_URL"] == f"http://{FULL}-preview:8080"
    test_pod = next(o for o in objects if o["kind"] == "Pod")
    assert f"http://{FULL}-preview:8080" in test_pod["spec"]["containers"][0]["env"][0]["value"]


def test_blue_green_without_shadow_judges_only_loaded_models_before_the_switch() -> None:
    found = templates(render(with_sets("strategy=progressiveBlueGreen")))
    assert [m["name"] for m in found[f"{FULL}-prepromotion"]["spec"]["metrics"]] == ["models-loaded"]


@pytest.mark.parametrize("source", [CANARY_GATEWAY, CANARY_REPLICAS, BLUE_GREEN], ids=lambda s: s.id)
def test_analysis_queries_are_the_generated_ones_with_argo_placeholders_intact(source: Scenario) -> None:
    objects = render(source)
    passed = {
        a["name"]
        for a in rollout(objects)["spec"]["strategy"][
            "canary" if "canary" in rollout(objects)["spec"]["strategy"] else "blueGreen"
        ].get("analysis", {"args": [{"name": "namespace"}, {"name": "canary-hash"}, {"name": "stable-hash"}]})["args"]
    }
    for template in find(objects, "AnalysisTemplate"):
        declared = {a["name"]: a for a in template["spec"]["args"]}
        for metric in template["spec"]["metrics"]:
            if "web" in metric["provider"]:
                continue  # prometheus-reachable: asks the rollout trigger (the tests below)
            query = metric["provider"]["prometheus"]["query"]
            # Helm must leave Argo's `{{args.*}}` alone: the query is the generated text, byte for byte.
            assert query.strip() == GENERATED["metrics"][metric["name"]]["query"].strip()
            used = set(ARG.findall(query))
            assert used and used <= set(declared), (template["metadata"]["name"], used - set(declared))
        # Every argument without a default is passed by the Rollout (the hashes by podTemplateHashValue).
        assert {name for name, a in declared.items() if "value" not in a} <= passed


def test_conditions_make_no_data_inconclusive_and_take_thresholds_from_values() -> None:
    objects = render(
        with_sets(
            "strategy=progressiveCanary",
            "progressive.analysis.thresholds.maxP99Ratio=4",
            "progressive.analysis.thresholds.maxClassMixDivergence=1",
        )
    )
    metrics = {m["name"]: m for m in templates(objects)[f"{FULL}-canary-gate"]["spec"]["metrics"]}
    assert set(metrics) == {"error-ratio-increase", "p99-ratio", "models-loaded", "class-mix-divergence"}
    for metric in metrics.values():
        # Neither condition holds on an empty result: Argo counts the measurement Inconclusive.
        assert metric["successCondition"].startswith("len(result) > 0 && ")
        assert metric["failureCondition"].startswith("len(result) > 0 && ")
        assert metric["count"] >= metric["failureLimit"] + metric["consecutiveSuccessLimit"]
    assert metrics["p99-ratio"]["successCondition"] == "len(result) > 0 && result[0] <= 4"
    assert metrics["p99-ratio"]["failureCondition"] == "len(result) > 0 && result[0] > 4"
    assert metrics["class-mix-divergence"]["failureCondition"].endswith("result[0] > 1")
    assert metrics["models-loaded"]["failureCondition"].endswith("result[0] < 1")
    background = templates(objects)[f"{FULL}-canary"]["spec"]["metrics"]
    assert all("count" not in m and "consecutiveSuccessLimit" not in m for m in background)


def test_server_settings_live_in_the_pod_template() -> None:
    """A ConfigMap change starts no Argo rollout: the settings must change the template itself."""
    before = render(with_sets("strategy=progressiveCanary"))
    after = render(with_sets("strategy=progressiveCanary", "server.defaultModel=penguins-svm"))
    assert not find(before, "ConfigMap")
    assert env_of(rollout(before))["MLKUBE_SERVER_DEFAULT_MODEL"] == "penguins-random-forest"
    assert env_of(rollout(after))["MLKUBE_SERVER_DEFAULT_MODEL"] == "penguins-svm"
    assert "envFrom" not in rollout(before)["spec"]["template"]["spec"]["containers"][0]


def test_gate_count_too_small_for_its_streak_fails_with_one_line(helm: str) -> None:
    result = run(
        [
            helm,
            "template",
            RELEASE,
            str(CHARTS / "model-server"),
            "--set",
            "strategy=progressiveCanary",
            "--set",
            "progressive.analysis.gate.count=3",
        ],
        check=False,
    )
    assert result.returncode != 0 and "progressive.analysis.gate.count must be at least" in result.stderr


def test_default_prometheus_is_the_monitoring_chart_in_the_same_release() -> None:
    objects = render(Scenario("mlkube", ("profiles/local.yaml",), ("model-server.strategy=progressiveCanary",)))
    address = find(objects, "AnalysisTemplate")[0]["spec"]["metrics"][0]["provider"]["prometheus"]["address"]
    match = re.fullmatch(r"http://([^.]+)\.([^:]+):(\d+)", address)
    assert match and match.group(2) == NAMESPACE
    [service] = find(objects, "Service", match.group(1))
    assert int(match.group(3)) in [p["port"] for p in service["spec"]["ports"]]


def test_local_profile_stays_rolling_and_scrapes_fast_enough_for_the_analysis() -> None:
    profile = yaml.safe_load((CHARTS / "mlkube" / "profiles" / "local.yaml").read_text())
    assert profile["model-server"]["strategy"] == "rolling"
    scrape = int(profile["monitoring"]["scrape"]["interval"].rstrip("s"))
    window = int(
        yaml.safe_load((CHARTS / "model-server" / "values.yaml").read_text())["progressive"]["analysis"][
            "window"
        ].rstrip("s")
    )
    assert window >= 3 * scrape, "rate() needs at least two samples of the canary in its window"


def test_rollout_renders_for_the_umbrella_chart(helm: str) -> None:
    result = run(
        [
            tool("helm"),
            "template",
            RELEASE,
            str(CHARTS / "mlkube"),
            "--namespace",
            NAMESPACE,
            "-f",
            str(CHARTS / "mlkube" / "profiles" / "local.yaml"),
            "--set",
            "model-server.strategy=progressiveBlueGreen",
        ]
    )
    assert "kind: Rollout" in result.stdout and PLATFORM["ENV_REVISION"] in result.stdout


@pytest.mark.parametrize("strategy", ["progressiveCanary", "progressiveBlueGreen"])
def test_with_the_trigger_every_analysis_asks_it_whether_prometheus_answers(strategy: str) -> None:
    """An unreachable Prometheus must pause the rollout (Inconclusive), not abort it: the PromQL metrics could only
    err, so each template also reads the trigger's answer, which meets neither condition when Prometheus is down."""
    objects = render(
        with_sets(f"strategy={strategy}", "rolloutTrigger.enabled=true", "progressive.prometheus.unreachableLimit=3")
    )
    trigger = f"{FULL}-rollout-trigger"
    [service] = find(objects, "Service", trigger)
    [deployment] = find(objects, "Deployment", trigger)
    env = env_of(deployment)
    assert (
        env["MLKUBE_TRIGGER_PROMETHEUS_URL"]
        == (find(objects, "AnalysisTemplate")[0]["spec"]["metrics"][0]["provider"]["prometheus"]["address"])
    )
    assert templates(objects)
    for template in templates(objects).values():
        [reachable] = [m for m in template["spec"]["metrics"] if m["name"] == "prometheus-reachable"]
        assert reachable["provider"]["web"]["url"] == (
            f"http://{trigger}.{NAMESPACE}.svc:{service['spec']['ports'][0]['port']}/analysis/prometheus"
        )
        assert reachable["provider"]["web"]["jsonPath"] == "{$}"
        # Argo: neither condition true is Inconclusive; "false" never fails the rollout on this metric.
        assert (reachable["successCondition"], reachable["failureCondition"]) == ("result.reachable == true", "false")
        assert reachable["inconclusiveLimit"] == 3
        others = [m for m in template["spec"]["metrics"] if m is not reachable]
        assert all(reachable["consecutiveErrorLimit"] == m["consecutiveErrorLimit"] for m in others)
        assert all(m["interval"] == reachable["interval"] for m in others)
        assert ("count" in reachable) == all("count" in m for m in others)


def test_the_trigger_admits_the_argo_controller_and_without_it_no_analysis_asks() -> None:
    objects = render(with_sets("strategy=progressiveCanary", "rolloutTrigger.enabled=true"))
    [policy] = find(objects, "NetworkPolicy", f"{FULL}-rollout-trigger")
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    namespace = {"kubernetes.io/metadata.name": PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]}
    argo = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "argo-rollouts"}},
        "namespaceSelector": {"matchLabels": namespace},
    }
    assert argo in peers
    without = render(with_sets("strategy=progressiveCanary"))
    assert not [m for t in templates(without).values() for m in t["spec"]["metrics"] if "web" in m["provider"]]


def test_gate_count_below_the_unreachable_limit_fails_with_one_line(helm: str) -> None:
    sets = ["strategy=progressiveCanary", "rolloutTrigger.enabled=true", "progressive.prometheus.unreachableLimit=30"]
    args = [a for s in sets for a in ("--set", s)]
    result = run([helm, "template", RELEASE, str(CHARTS / "model-server"), *args], check=False)
    assert result.returncode != 0 and "prometheus.unreachableLimit" in result.stderr


@pytest.mark.parametrize("strategy", ["rolling", "canary", "blueGreen", "progressiveBlueGreen"])
def test_the_other_strategies_behind_the_gateway_keep_a_traefik_service_all_to_the_main_one(strategy: str) -> None:
    """Traefik loads a TraefikService some seconds after it appears, and a route moved to one it has not loaded
    answers 404: the switch to progressiveCanary finds it loaded already. Only where the cluster has the CRD."""
    sets = with_sets(f"strategy={strategy}", "gateway.enabled=true")
    text = run([tool("helm"), "template", RELEASE, *sets.helm_args(),
                "--api-versions", "traefik.io/v1alpha1/TraefikService"]).stdout  # fmt: skip
    [traefik] = find(tuple(o for o in yaml.safe_load_all(text) if o), "TraefikService", FULL)
    assert traefik["spec"]["weighted"]["services"] == [{"name": FULL, "port": 8080, "weight": 100}]
    assert not find(render(sets), "TraefikService"), "no TraefikService where the cluster lacks the CRD"


def test_a_first_install_of_a_progressive_strategy_takes_over_nothing() -> None:
    spec = rollout(render(CANARY_GATEWAY))["spec"]
    assert "workloadRef" not in spec and "template" in spec
