"""NetworkPolicies: the monitoring chart's admit exactly the pods that call Prometheus and the Pushgateway; the model
servers (which run a model's own code), PostgreSQL and the Pushgateway reach only what they need.

That the local cluster enforces them (a pod outside the set is refused) is proven in tests/e2e/test_network_policies.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chart_helpers import ALL_SCENARIOS, PLATFORM, RELEASE, Scenario, containers, find, pod_templates, render

UMBRELLA = [s for s in ALL_SCENARIOS if s.chart == "mlkube"]
# What a container that calls each component has in its environment.
CALLERS = {
    "prometheus": ("LABEL_PROMETHEUS_CLIENT", ("MLKUBE_TRIGGER_PROMETHEUS_URL", "PROMETHEUS_URL")),
    "pushgateway": ("LABEL_PUSHGATEWAY_CLIENT", ("MLKUBE_PUSHGATEWAY_URL",)),
}


def _env_names(spec: dict[str, Any]) -> set[str]:
    return {e["name"] for c in containers(spec) for e in c.get("env", [])}


def _client_peer(policy: dict[str, Any], label: str) -> dict[str, Any]:
    [rule] = policy["spec"]["ingress"]
    [peer] = [p for p in rule["from"] if label in p.get("podSelector", {}).get("matchLabels", {})]
    return peer


@pytest.mark.parametrize("profile", UMBRELLA, ids=lambda s: s.id)
@pytest.mark.parametrize("component", sorted(CALLERS))
def test_only_the_pods_that_call_a_component_are_labelled_as_its_clients(profile: Scenario, component: str) -> None:
    objects = render(profile)
    policies = find(objects, "NetworkPolicy", f"{RELEASE}-monitoring-{component}")
    if not policies:
        # Only a profile that does not run the component (kube-prometheus-stack brings its own Prometheus).
        assert not [d for d in find(objects, "Deployment") if d["metadata"]["name"].endswith(f"-{component}")]
        return
    label_key, env_names = CALLERS[component]
    label = PLATFORM[label_key]
    [service] = find(objects, "Service", f"{RELEASE}-monitoring-{component}")
    [rule] = policies[0]["spec"]["ingress"]
    if "from" not in rule:
        assert service["spec"]["type"] != "ClusterIP", f"{component} admits every pod"
        return
    peer = _client_peer(policies[0], label)
    assert peer == {"namespaceSelector": {}, "podSelector": {"matchLabels": {label: "true"}}}
    for obj in objects:
        for labels, spec in pod_templates(obj, objects):
            calls = bool(_env_names(spec) & set(env_names))
            if calls:
                where = f"{obj['kind']}/{obj['metadata']['name']}"
                assert labels.get(label) == "true", f"{where} calls {component} but is not admitted"
            elif labels.get(label) == "true":
                pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} is admitted to {component} without calling it")


def test_the_pushgateway_admits_its_pushers_and_the_prometheus_that_scrapes_it() -> None:
    objects = render(Scenario("monitoring", sets=("pushgateway.enabled=true",)))
    [policy] = find(objects, "NetworkPolicy", f"{RELEASE}-monitoring-pushgateway")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and "egress" not in policy["spec"]  # calls nothing
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 9091, "protocol": "TCP"}]
    scraper = {"app.kubernetes.io/name": "monitoring", "app.kubernetes.io/instance": RELEASE,
               "app.kubernetes.io/component": "prometheus"}  # fmt: skip
    assert {"podSelector": {"matchLabels": scraper}} in rule["from"]
    assert len(rule["from"]) == 2
    stack = render(Scenario("monitoring", sets=("pushgateway.enabled=true", "mode=kube-prometheus-stack")))
    [policy] = find(stack, "NetworkPolicy", f"{RELEASE}-monitoring-pushgateway")
    [rule] = policy["spec"]["ingress"]
    assert {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}} in rule[
        "from"
    ]


def test_prometheus_admits_grafana_and_the_rollout_controller_and_can_be_switched_off() -> None:
    objects = render(Scenario("monitoring"))
    [policy] = find(objects, "NetworkPolicy", f"{RELEASE}-monitoring-prometheus")
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 9090, "protocol": "TCP"}]
    components = [p["podSelector"]["matchLabels"].get("app.kubernetes.io/component") for p in rule["from"]]
    assert "grafana" in components
    controller = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "argo-rollouts"}},
    }
    assert controller in rule["from"]
    [grafana] = find(objects, "NetworkPolicy", f"{RELEASE}-monitoring-grafana")
    assert grafana["spec"]["ingress"] == [{"ports": [{"port": 3000, "protocol": "TCP"}]}]
    assert not find(render(Scenario("monitoring", sets=("networkPolicy.enabled=false",))), "NetworkPolicy")


def test_kinds_prometheus_admits_its_clients_and_the_docker_network_only() -> None:
    """The kind profile's NodePort Prometheus (localhost:9090) is reached from kind's Docker network; a pod still
    needs the client label."""
    [kind] = [s for s in UMBRELLA if s.values and Path(s.values[-1]).stem == "kind"]
    [policy] = find(render(kind), "NetworkPolicy", f"{RELEASE}-monitoring-prometheus")
    [rule] = policy["spec"]["ingress"]
    assert {"ipBlock": {"cidr": "172.16.0.0/12"}} in rule["from"]
    label = PLATFORM["LABEL_PROMETHEUS_CLIENT"]
    assert _client_peer(policy, label) == {"namespaceSelector": {}, "podSelector": {"matchLabels": {label: "true"}}}
    # Every other peer names its pods by label: none admits any pod.
    assert all(p.get("ipBlock") or p.get("podSelector", {}).get("matchLabels") for p in rule["from"]), rule["from"]


def _server_policy(*sets: str) -> dict[str, Any]:
    [policy] = find(render(Scenario("model-server", sets=sets)), "NetworkPolicy", f"{RELEASE}-model-server")
    return policy


def test_the_model_servers_reach_only_dns_and_mlflow() -> None:
    policy = _server_policy()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    dns, mlflow = policy["spec"]["egress"]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    mlflow_pods = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"}
    assert mlflow["to"] == [{"namespaceSelector": {}, "podSelector": {"matchLabels": mlflow_pods}}]
    assert mlflow["ports"] == [{"port": int(PLATFORM["MLFLOW_PORT"]), "protocol": "TCP"}]
    # The MLflow pods those peers select are the ones the mlflow chart runs.
    [deployment] = [
        d for d in find(render(Scenario("mlflow")), "Deployment") if d["metadata"]["name"].endswith("mlflow")
    ]
    [(labels, _)] = pod_templates(deployment)
    assert mlflow_pods.items() <= labels.items()


def test_shadow_traffic_may_reach_the_candidate_and_extra_rules_are_appended() -> None:
    [policy] = find(
        render(
            Scenario(
                "model-server", ("ci/progressive-canary-gateway-values.yaml",), ("progressive.shadow.enabled=true",)
            )
        ),
        "NetworkPolicy",
        f"{RELEASE}-model-server",
    )
    egress = policy["spec"]["egress"]
    [shadow] = [rule for rule in egress if rule["ports"] == [{"port": 8080, "protocol": "TCP"}]]
    assert shadow["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    extra = _server_policy("networkPolicy.egress.extra[0].ports[0].port=443")["spec"]["egress"]
    assert extra[-1] == {"ports": [{"port": 443}]}
    assert _server_policy("networkPolicy.egress.enabled=false")["spec"]["policyTypes"] == ["Ingress"]


def test_postgresql_calls_nothing() -> None:
    objects = render(Scenario("mlflow", sets=("backend=postgres", "postgres.mode=internal")))
    [policy] = find(objects, "NetworkPolicy", f"{RELEASE}-mlflow-postgres")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and "egress" not in policy["spec"]


def _jobs_policy(*sets: str) -> dict[str, Any]:
    [policy] = find(render(Scenario("training-job", sets=sets)), "NetworkPolicy", f"{RELEASE}-training-job")
    return policy


def test_the_training_jobs_reach_only_dns_mlflow_and_the_pushgateway() -> None:
    objects = render(Scenario("training-job", sets=("pushgateway.url=http://pushgateway:9091",)))
    [policy] = find(objects, "NetworkPolicy", f"{RELEASE}-training-job")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in policy["spec"]
    ports = [rule["ports"] for rule in policy["spec"]["egress"]]
    assert ports == [
        [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        [{"port": int(PLATFORM["MLFLOW_PORT"]), "protocol": "TCP"}],
        [{"port": int(PLATFORM["PUSHGATEWAY_PORT"]), "protocol": "TCP"}],
    ]
    pushgateway = policy["spec"]["egress"][2]["to"][0]["podSelector"]["matchLabels"]
    monitoring = render(Scenario("monitoring", sets=("pushgateway.enabled=true",)))
    [deployment] = [d for d in find(monitoring, "Deployment") if d["metadata"]["name"].endswith("-pushgateway")]
    [(labels, _)] = pod_templates(deployment)
    assert pushgateway.items() <= labels.items()
    # Every Job's pods are selected; the helm test pod (not a Job) is not.
    selector = policy["spec"]["podSelector"]
    for obj in objects:
        for labels, _ in pod_templates(obj, objects):
            chosen = selector["matchLabels"].items() <= labels.items() and "mlkube.io/job-type" in labels
            assert chosen == (obj["kind"] in ("Job", "CronJob")), obj["metadata"]["name"]
    assert len(_jobs_policy()["spec"]["egress"]) == 2, "no Pushgateway rule without a Pushgateway"
    assert _jobs_policy("networkPolicy.egress.extra[0].ports[0].port=443")["spec"]["egress"][-1] == {
        "ports": [{"port": 443}]
    }
    unrestricted = _jobs_policy("networkPolicy.egress.enabled=false")["spec"]
    assert unrestricted["policyTypes"] == ["Ingress"] and "egress" not in unrestricted  # still: nothing calls a Job
    assert not find(render(Scenario("training-job", sets=("networkPolicy.enabled=false",))), "NetworkPolicy")
