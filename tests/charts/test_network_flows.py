"""The platform's NetworkPolicies, read together as the cluster reads them: in every profile, each flow the platform
needs is admitted at both ends (the caller's egress, the callee's ingress), what a component has no reason to call
is refused, and every component's pods are behind an ingress and an egress policy (default deny).

The flows are found from the rendered objects (who has MLflow's, Prometheus's or the Pushgateway's URL, who scrapes
whom), so a chart that gains a caller without its policy fails here. The local cluster enforcing the same policies
is proven in tests/e2e/test_03c_network_policies.py.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import jinja2
import pytest
import yaml
from chart_helpers import ALL_SCENARIOS, NAMESPACE, PLATFORM, ROOT, Scenario, containers, pod_templates, render

API_SERVER = "10.1.2.3"  # what `make up` passes as global.networkPolicy.apiServer (the `kubernetes` endpoints)
API_PORT = 6443
OUTSIDE = "93.184.216.34"  # an address on the internet
AS_MAKE_UP = (
    f"global.networkPolicy.apiServer[0].ipBlock.cidr={API_SERVER}/32",
    f"global.networkPolicy.apiServerPorts={{{API_PORT}}}",
)
# The e2e suite's progressive delivery: the rollout trigger, shadow traffic, the Gateway.
PROGRESSIVE = (
    "model-server.strategy=progressiveCanary",
    "model-server.rolloutTrigger.enabled=true",
    "model-server.progressive.shadow.enabled=true",
    "model-server.gateway.enabled=true",
)
BLUE_GREEN = (  # a Job scales the inactive colour down through the API
    "model-server.strategy=blueGreen",
    "model-server.blueGreen.scaleDownDelaySeconds=60",
)
PROFILES = (
    [Scenario(s.chart, s.values, AS_MAKE_UP) for s in ALL_SCENARIOS if s.chart == "mlkube"]
    + [Scenario("mlkube", (f"profiles/{name}.yaml",), AS_MAKE_UP + PROGRESSIVE) for name in ("local", "kind")]
    + [Scenario("mlkube", ("profiles/local.yaml",), AS_MAKE_UP + BLUE_GREEN)]
)


def _profile_id(profile: Scenario) -> str:
    return (
        profile.id
        + ("+progressive" if PROGRESSIVE[0] in profile.sets else "")
        + ("+blue-green" if BLUE_GREEN[0] in profile.sets else "")
    )


@dataclass(frozen=True)
class Pod:
    name: str
    labels: dict[str, str]
    spec: dict[str, Any] = field(default_factory=dict)
    namespace: str = NAMESPACE
    ip: str | None = None
    hook: bool = False

    @property
    def env(self) -> dict[str, str]:
        return {e["name"]: e.get("value", "") for c in containers(self.spec) for e in c.get("env", [])}

    def port_number(self, port: int | str) -> int | None:
        if isinstance(port, int):
            return port
        named = [p["containerPort"] for c in self.spec.get("containers", []) for p in c.get("ports", [])
                 if p.get("name") == port]  # fmt: skip
        return named[0] if named else None


DNS = Pod("kube-dns", {"k8s-app": "kube-dns"}, namespace="kube-system")
API = Pod("api-server", {}, namespace="", ip=API_SERVER)
INTERNET = Pod("internet", {}, namespace="", ip=OUTSIDE)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


# The namespaces' labels: the platform's and the Gateway's are part of mlkube (manifests/namespaces.yaml,
# manifests/gateway), which is how the Gateway admits routes and Traefik reaches their backends.
NAMESPACE_LABELS = {
    NAMESPACE: {"app.kubernetes.io/part-of": "mlkube"},
    "gateway-system": {"app.kubernetes.io/part-of": "mlkube"},
}
MANIFESTS = ROOT / "manifests"
# The platform role's egress policies to the API server for the components of manifests/, whose own policies cannot
# know its address (ansible/roles/platform: defaults platform_api_server_callers, templates/api-server-egress.yaml.j2).
ROLE = ROOT / "ansible" / "roles" / "platform"
ROLE_CALLERS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["platform_api_server_callers"]
# The variables the callers' namespaces are written with there.
ROLE_NAMESPACES = {
    "mlkube_gateway_namespace": PLATFORM["GATEWAY_NAMESPACE"],
    "platform_argo_rollouts_namespace": PLATFORM["ARGO_ROLLOUTS_NAMESPACE"],
    "platform_keda_namespace": PLATFORM["KEDA_NAMESPACE"],
}


def _role_policy(caller: str, peers: list[str] | None = None, ports: list[int] | None = None) -> dict[str, Any]:
    """The role's policy for `caller` (a key of platform_api_server_callers), rendered as Ansible renders templates
    (trim_blocks), for the API server at `peers` (CIDRs) on `ports`: by default `make up`'s of this module."""
    strict = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    settings = dict(ROLE_CALLERS[caller])
    settings["namespace"] = strict.from_string(settings["namespace"]).render(ROLE_NAMESPACES)
    template = strict.from_string((ROLE / "templates" / "api-server-egress.yaml.j2").read_text())
    text = template.render(
        platform_api_server_egress=settings,
        platform_api_server_peers=[{"ipBlock": {"cidr": c}} for c in (peers or [f"{API_SERVER}/32"])],
        platform_api_server_ports=ports or [API_PORT],
    )
    return yaml.safe_load(text)


def _peer_matches(peer: dict[str, Any], pod: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if pod.ip is None:
            return False
        address = ipaddress.ip_address(pod.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if pod.ip is not None:  # a host outside the pod network: only an ipBlock names it
        return False
    if "namespaceSelector" in peer:
        labels = {"kubernetes.io/metadata.name": pod.namespace, **NAMESPACE_LABELS.get(pod.namespace, {})}
        namespace_ok = _selects(peer["namespaceSelector"], labels)
    else:
        namespace_ok = pod.namespace == policy_namespace
    return namespace_ok and _selects(peer.get("podSelector", {}), pod.labels)


def _ports_match(rule: dict[str, Any], target: Pod, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == protocol and ("port" not in p or target.port_number(p["port"]) == port)
        for p in ports
    )


def _allowed(policies: list[dict[str, Any]], direction: str, pod: Pod, peer: Pod, port: int, protocol: str) -> bool:
    """Whether the policies selecting `pod` let it send to (Egress) or receive from (Ingress) `peer` on `port`."""
    kind = "Egress" if direction == "egress" else "Ingress"
    peers_key = "to" if direction == "egress" else "from"
    # The port is the callee's: on egress the peer's, on ingress the pod's own.
    callee = peer if direction == "egress" else pod
    chosen = [
        p for p in policies
        if pod.ip is None and p["metadata"].get("namespace", NAMESPACE) == pod.namespace
        and _selects(p["spec"]["podSelector"], pod.labels) and kind in p["spec"]["policyTypes"]
    ]  # fmt: skip
    if not chosen:
        return True
    return any(
        (not rule.get(peers_key) or any(_peer_matches(x, peer, pod.namespace) for x in rule[peers_key]))
        and _ports_match(rule, callee, port, protocol)
        for policy in chosen
        for rule in policy["spec"].get(direction, [])
    )


def _reaches(policies: list[dict[str, Any]], source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    return _allowed(policies, "egress", source, target, port, protocol) and _allowed(
        policies, "ingress", target, source, port, protocol
    )


def _pods(objects: tuple[dict[str, Any], ...]) -> list[Pod]:
    found = []
    for obj in objects:
        hook = "helm.sh/hook" in obj["metadata"].get("annotations", {})
        namespace = obj["metadata"].get("namespace", NAMESPACE)
        for labels, spec in pod_templates(obj, objects):
            found.append(Pod(f"{obj['kind']}/{obj['metadata']['name']}", labels, spec, namespace, hook=hook))
    return found


def _platform(profile: Scenario) -> tuple[list[dict[str, Any]], list[Pod], tuple[dict[str, Any], ...]]:
    """(NetworkPolicies, pods, objects) of what a target runs: the release, the Argo Rollouts controller (every
    target, with manifests/argo-rollouts' policy) and, on the local cluster, Traefik (manifests/gateway) and KEDA
    (manifests/keda), each with the platform role's egress policy to the API server."""
    objects = render(profile)
    paths = sorted((MANIFESTS / "argo-rollouts").glob("*.yaml"))
    callers = ["argo_rollouts"]
    if profile.values == ("profiles/local.yaml",):
        paths += sorted((MANIFESTS / "gateway").glob("*.yaml")) + sorted((MANIFESTS / "keda").glob("*.yaml"))
        callers += ["gateway", "keda"]
    objects += tuple(doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc)
    objects += tuple(_role_policy(caller) for caller in callers)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    return policies, _pods(objects), objects


def _component(pods: list[Pod], name: str, component: str) -> list[Pod]:
    return [p for p in pods if p.labels.get("app.kubernetes.io/name") == name
            and p.labels.get("app.kubernetes.io/component") == component and not p.hook]  # fmt: skip


def _needed_flows(pods: list[Pod], objects: tuple[dict[str, Any], ...]) -> list[tuple[Pod, Pod, int]]:
    """(caller, callee, port) of every call the rendered platform makes between its pods and to the API server."""
    mlflow = _component(pods, "mlflow", "tracking-server")
    database = _component(pods, "mlflow", "database")
    prometheus = _component(pods, "monitoring", "prometheus")
    pushgateway = _component(pods, "monitoring", "pushgateway")
    grafana = _component(pods, "monitoring", "grafana")
    servers = _component(pods, "model-server", "server")
    triggers = _component(pods, "model-server", "rollout-trigger")
    scale_downs = _component(pods, "model-server", "scale-down")
    controllers = [p for p in pods if p.labels.get("app.kubernetes.io/name") == "argo-rollouts"]
    gateways = [p for p in pods if p.labels.get("app.kubernetes.io/name") == "traefik"]
    keda_operators = [p for p in pods if p.labels.get("app.kubernetes.io/name") == "keda-operator"]
    keda_metrics = [p for p in pods if p.labels.get("app.kubernetes.io/name") == "keda-metrics-apiserver"]
    mlflow_port, prometheus_port = int(PLATFORM["MLFLOW_PORT"]), int(PLATFORM["PROMETHEUS_PORT"])
    flows = []
    for pod in pods:
        env = pod.env
        if "MLFLOW_TRACKING_URI" in env and pod not in mlflow:
            flows += [(pod, m, mlflow_port) for m in mlflow]
        if {"MLKUBE_TRIGGER_PROMETHEUS_URL", "PROMETHEUS_URL"} & env.keys():
            flows += [(pod, p, prometheus_port) for p in prometheus]
        if env.get("MLKUBE_PUSHGATEWAY_URL"):
            flows += [(pod, p, int(PLATFORM["PUSHGATEWAY_PORT"])) for p in pushgateway]
    flows += [(m, d, 5432) for m in mlflow for d in database]
    flows += [(m, t, t.port_number("http")) for m in mlflow for t in triggers]  # webhooks
    api_callers = triggers + scale_downs + controllers + gateways + keda_operators + keda_metrics
    flows += [(t, API, API_PORT) for t in api_callers]
    flows += [(k, p, prometheus_port) for k in keda_operators for p in prometheus]  # the triggers' queries
    flows += [(m, o, 9666) for m in keda_metrics for o in keda_operators]  # the metrics, over gRPC
    flows += [(c, p, prometheus_port) for c in controllers for p in prometheus]  # the analyses' queries
    flows += [(c, t, t.port_number("http")) for c in controllers for t in triggers]  # prometheus-reachable
    flows += [(g, s, s.port_number("http")) for g in gateways for s in servers]
    jobs = _scrape_jobs(objects)
    targets = (servers if "model-server" in jobs else []) + (mlflow if "mlflow" in jobs else []) + pushgateway
    targets += controllers if "argo-rollouts" in jobs else []
    flows += [(p, t, _scraped_port(t)) for p in prometheus for t in targets]
    if any("kubernetes_sd_configs" in job for job in jobs.values()):
        flows += [(p, API, API_PORT) for p in prometheus]
    flows += [(g, p, prometheus_port) for g in grafana for p in prometheus]
    flows += [(m, INTERNET, 443) for m in mlflow if _remote_artifacts(m)]
    return flows


@pytest.mark.parametrize("profile", PROFILES, ids=_profile_id)
def test_every_flow_the_platform_needs_is_admitted_at_both_ends(profile: Scenario) -> None:
    policies, pods, objects = _platform(profile)
    flows = _needed_flows(pods, objects)
    assert flows, "the profile runs components that call each other"
    refused = [f"{a.name} -> {b.name}:{port}" for a, b, port in flows if not _reaches(policies, a, b, port)]
    assert not refused, "needed but refused:\n" + "\n".join(refused)
    # Each caller finds its callees by name (the API server excepted: its address is in the pod's environment).
    # Traefik reads its backends' addresses from EndpointSlices.
    callers = {a.name: a for a, b, _ in flows if b is not API and a.labels.get("app.kubernetes.io/name") != "traefik"}
    no_dns = [name for name, pod in callers.items() if not _reaches(policies, pod, DNS, 53, "UDP")]
    assert not no_dns, f"cannot resolve names: {no_dns}"


@pytest.mark.parametrize("profile", PROFILES, ids=_profile_id)
def test_every_component_is_behind_an_ingress_and_an_egress_policy(profile: Scenario) -> None:
    policies, pods, _ = _platform(profile)
    for pod in pods:
        if pod.hook or pod.spec.get("hostNetwork"):
            continue
        types = {
            t
            for p in policies
            if p["metadata"].get("namespace", NAMESPACE) == pod.namespace
            and _selects(p["spec"]["podSelector"], pod.labels)
            for t in p["spec"]["policyTypes"]
        }
        assert types >= {"Egress"}, f"{pod.name}: egress unrestricted ({sorted(types)})"
        if "mlkube.io/job-type" not in pod.labels:  # Jobs listen on nothing; their policy admits no ingress
            assert "Ingress" in types, f"{pod.name}: ingress unrestricted"


@pytest.mark.parametrize("profile", PROFILES, ids=_profile_id)
def test_what_a_component_has_no_reason_to_call_is_refused(profile: Scenario) -> None:
    policies, pods, objects = _platform(profile)
    needed = {(a.name, b.name) for a, b, _ in _needed_flows(pods, objects)}
    components = [
        p for p in pods if not p.hook and ("app.kubernetes.io/component" in p.labels or p.namespace != NAMESPACE)
    ]
    for source in components:
        component = _kind_of(source)
        for target in [*components, API, INTERNET]:
            port = _port(target)
            if (
                port is None
                or (source.name, target.name) in needed
                or component == _kind_of(target)  # shadow traffic, replicas
            ):
                continue
            # Each end refuses by itself: a caller's egress does not count on the callee's ingress, nor the reverse.
            if component[0] == "traefik":  # a route's backend may be any pod: the callee's ingress decides
                assert not _reaches(policies, source, target, port), f"the Gateway reaches {target.name}:{port}"
                continue
            egress = _allowed(policies, "egress", source, target, port, "TCP")
            assert not egress, f"{source.name} may call {target.name}:{port}"
            # A chart's ingress rules follow its values; manifests/ admit Prometheus whether or not it scrapes them.
            if target.ip is None and target.namespace == NAMESPACE and not _open_to_every_pod(policies, target):
                ingress = _allowed(policies, "ingress", target, source, port, "TCP")
                assert not ingress, f"{target.name} admits {source.name} on {port}"


# manifests/' components: the directory of each of the role's API server callers.
MANIFEST_DIRECTORIES = {"gateway": "gateway", "argo_rollouts": "argo-rollouts", "keda": "keda"}
LOCAL_PROGRESSIVE = Scenario("mlkube", ("profiles/local.yaml",), AS_MAKE_UP + PROGRESSIVE)


@pytest.mark.parametrize("caller", sorted(MANIFEST_DIRECTORIES))
def test_the_roles_api_server_policy_admits_the_api_servers_endpoints_only(caller: str) -> None:
    """The role's policy (templates/api-server-egress.yaml.j2 with platform_api_server_callers), which `make up` and
    the end-to-end suite both apply through the role: egress to each endpoint address on each port, nothing else."""
    assert set(ROLE_CALLERS) == set(MANIFEST_DIRECTORIES)
    policy = _role_policy(caller, [f"{API_SERVER}/32", "fd00::1/128"], [443, 6443])
    assert policy["kind"] == "NetworkPolicy" and policy["spec"]["policyTypes"] == ["Egress"]
    assert policy["spec"]["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": f"{API_SERVER}/32"}}, {"ipBlock": {"cidr": "fd00::1/128"}}],
            "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
        }
    ]
    labels = ROLE_CALLERS[caller]["pod_labels"]
    assert policy["spec"]["podSelector"] == ({"matchLabels": labels} if labels else {})


@pytest.mark.parametrize("caller", sorted(MANIFEST_DIRECTORIES))
def test_the_api_server_policy_selects_the_pods_of_the_components_own_policy(caller: str) -> None:
    paths = sorted((MANIFESTS / MANIFEST_DIRECTORIES[caller]).glob("*.yaml"))
    docs = [d for path in paths for d in yaml.safe_load_all(path.read_text()) if d]
    own = [d for d in docs if d["kind"] == "NetworkPolicy"]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    added = _role_policy(caller)
    assert {added["metadata"]["namespace"]} == {d["metadata"]["namespace"] for d in own + deployments}
    for deployment in deployments:  # each is selected by the added policy and by one of the component's own
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(added["spec"]["podSelector"], labels)
        assert [p for p in own if _selects(p["spec"]["podSelector"], labels)], deployment["metadata"]["name"]
    assert added["metadata"]["name"] not in {p["metadata"]["name"] for p in own}, "they add up: none is replaced"
    # The role applies 00-namespace.yaml alone, then this policy, then the whole directory.
    assert paths[0].name == "00-namespace.yaml"
    (namespace,) = [d for d in yaml.safe_load_all(paths[0].read_text()) if d]
    assert namespace["kind"] == "Namespace" and namespace["metadata"]["name"] == added["metadata"]["namespace"]


def test_the_components_of_manifests_reach_the_api_servers_address_only() -> None:
    """Traefik, the Argo Rollouts controller and KEDA reach the API server's address on its port, and no other address
    on the API server's usual ports."""
    policies, pods, _ = _platform(LOCAL_PROGRESSIVE)
    names = {"traefik", "argo-rollouts", "keda-operator", "keda-metrics-apiserver"}
    callers = [p for p in pods if p.labels.get("app.kubernetes.io/name") in names]
    assert {p.labels["app.kubernetes.io/name"] for p in callers} == names
    neighbour = Pod("next-address", {}, namespace="", ip=str(ipaddress.ip_address(API_SERVER) + 1))
    for pod in callers:
        assert _reaches(policies, pod, API, API_PORT), f"{pod.name} cannot reach the API server"
        assert not _reaches(policies, pod, API, 443), f"{pod.name} reaches the API server's address on another port"
        for target in (INTERNET, neighbour):
            for port in (443, 6443):
                assert not _allowed(policies, "egress", pod, target, port, "TCP"), (
                    f"{pod.name} reaches {target.ip}:{port}"
                )


def _kind_of(pod: Pod) -> tuple[str | None, str | None]:
    return pod.labels.get("app.kubernetes.io/name"), pod.labels.get("app.kubernetes.io/component")


def _open_to_every_pod(policies: list[dict[str, Any]], pod: Pod) -> bool:
    """A port any pod may reach on purpose: the model servers' predictions, Grafana's UI, a NodePort's component."""
    return any(
        "from" not in rule
        for p in policies
        if _selects(p["spec"]["podSelector"], pod.labels) and "Ingress" in p["spec"]["policyTypes"]
        for rule in p["spec"].get("ingress", [])
    )


def _port(target: Pod) -> int | None:
    if target is API:
        return API_PORT
    if target is INTERNET:
        return 443
    ports = [p["containerPort"] for c in target.spec.get("containers", []) for p in c.get("ports", [])]
    return ports[0] if ports else None


def _scraped_port(target: Pod) -> int | None:
    """The port named `metrics` (the model server's and Argo Rollouts' own), else the first."""
    named = [p["containerPort"] for c in target.spec.get("containers", []) for p in c.get("ports", [])
             if p.get("name") == "metrics"]  # fmt: skip
    return named[0] if named else _port(target)


def _remote_artifacts(pod: Pod) -> bool:
    args = [a for c in pod.spec.get("containers", []) for a in c.get("args", [])]
    return any(a.startswith("--artifacts-destination=") and "://" in a and "file://" not in a for a in args)


def _scrape_jobs(objects: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    """The self-contained Prometheus's scrape jobs, by name."""
    for obj in objects:
        if obj["kind"] == "ConfigMap" and "prometheus.yml" in obj.get("data", {}):
            config = yaml.safe_load(obj["data"]["prometheus.yml"])
            return {job["job_name"]: job for job in config.get("scrape_configs", [])}
    return {}


def _evaluator_sanity() -> list[dict[str, Any]]:
    return [
        {
            "metadata": {"name": "p"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "a"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}], "ports": [{"port": "web"}]}],
            },
        }
    ]


def test_the_evaluator_reads_policies_as_the_cluster_does() -> None:
    spec = {"containers": [{"ports": [{"name": "web", "containerPort": 8000}]}]}
    a, b, c = Pod("a", {"app": "a"}), Pod("b", {"app": "b"}, spec), Pod("c", {"app": "c"}, spec)
    policies = _evaluator_sanity()
    assert _reaches(policies, a, b, 8000)
    assert not _reaches(policies, a, b, 8001), "a named port is the callee's container port"
    assert not _reaches(policies, a, c, 8000)
    assert _reaches(policies, c, a, 1234), "an unselected pod's egress is open"
    assert not _reaches(policies, a, API, 443), "an address needs an ipBlock"


KSERVE = [Scenario("model-server", (f"ci/kserve-{mode}-values.yaml",)) for mode in ("standard", "knative")]


@pytest.mark.parametrize("profile", KSERVE, ids=lambda s: s.id)
def test_kserve_predictors_are_reached_on_their_serving_ports_and_reach_only_dns_and_mlflow(profile: Scenario) -> None:
    objects = render(profile)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    knative = "knative" in profile.id
    predictors = [pod for pod in _pods(objects) if pod.name.startswith("InferenceService/")]
    assert len(predictors) == (1 if knative else 2), "Standard mode: the stable and the canary predictor"
    mlflow = Pod("mlflow", {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"})
    client = Pod("client", {"app": "client"}, namespace="elsewhere")
    knative_peers = [
        Pod("activator", {"app": "activator"}, namespace="knative-serving"),
        Pod("autoscaler", {"app": "autoscaler"}, namespace="knative-serving"),
        Pod("kourier", {"app": "3scale-kourier-gateway"}, namespace="kourier-system"),
    ]
    for pod in predictors:
        assert _reaches(policies, client, pod, 8080), "the server port stays open to `networkPolicy.from` (any)"
        assert _reaches(policies, pod, mlflow, int(PLATFORM["MLFLOW_PORT"]))
        assert _reaches(policies, pod, DNS, 53, "UDP")
        for callee, port in ((INTERNET, 443), (API, API_PORT), (client, 8080)):
            assert not _reaches(policies, pod, callee, port), f"{pod.name} -> {callee.name}:{port}"
        for port in (8012, 8013, 8022, 9090):  # the queue-proxy's: requests, HTTP/2, probes, autoscaler metrics
            assert not _reaches(policies, client, pod, port)
            for peer in knative_peers:
                assert _reaches(policies, peer, pod, port) == knative, f"{peer.name} -> {pod.name}:{port}"
