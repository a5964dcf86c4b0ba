"""manifests/: the kind cluster and the local Gateway agree with the charts and with platform.env."""

from __future__ import annotations

import yaml
from chart_helpers import CHARTS, PLATFORM, ROOT, VERSIONS

KIND = yaml.safe_load((ROOT / "manifests" / "kind-config.yaml").read_text())
TRAINING = yaml.safe_load((CHARTS / "training-job" / "values.yaml").read_text())
KIND_PROFILE = yaml.safe_load((CHARTS / "mlkube" / "profiles" / "kind.yaml").read_text())
LOCAL_PROFILE = yaml.safe_load((CHARTS / "mlkube" / "profiles" / "local.yaml").read_text())


def manifest_objects(directory: str) -> list[dict]:
    return [
        o
        for path in sorted((ROOT / "manifests" / directory).glob("*.yaml"))
        for o in yaml.safe_load_all(path.read_text())
        if o
    ]


GATEWAY_OBJECTS = manifest_objects("gateway")
ARGO_OBJECTS = manifest_objects("argo-rollouts")


def gateway_object(kind: str) -> dict:
    (obj,) = [o for o in GATEWAY_OBJECTS if o["kind"] == kind]
    return obj


def argo_object(kind: str) -> dict:
    (obj,) = [o for o in ARGO_OBJECTS if o["kind"] == kind]
    return obj


def rbac_verbs(role: dict, group: str, resource: str) -> set[str]:
    return {
        verb
        for rule in role["rules"]
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_kind_cluster_shape() -> None:
    assert KIND["kind"] == "Cluster" and KIND["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    roles = [n["role"] for n in KIND["nodes"]]
    assert roles.count("control-plane") == 1 and roles.count("worker") >= 2
    assert "image" not in str(KIND["nodes"]), "the node image comes from versions.env on the command line"


def test_exactly_one_gpu_worker_matches_the_training_chart() -> None:
    gpu_workers = [n for n in KIND["nodes"] if n.get("labels", {}).get("nvidia.com/gpu.present") == "true"]
    assert len(gpu_workers) == 1 and gpu_workers[0]["role"] == "worker"
    (worker,) = gpu_workers
    assert TRAINING["gpu"]["nodeSelector"].items() <= worker["labels"].items()
    patch = yaml.safe_load(worker["kubeadmConfigPatches"][0])
    (taint,) = patch["nodeRegistration"]["taints"]
    toleration = TRAINING["gpu"]["tolerations"][0]
    assert (taint["key"], taint["effect"]) == (toleration["key"], toleration["effect"])
    assert toleration["operator"] == "Exists"


def test_port_mappings_reach_the_kind_profile_node_ports() -> None:
    mapped = {m["containerPort"]: m for n in KIND["nodes"] for m in n.get("extraPortMappings", [])}
    node_ports = {
        KIND_PROFILE["model-server"]["service"]["nodePort"],
        KIND_PROFILE["mlflow"]["service"]["nodePort"],
        KIND_PROFILE["monitoring"]["prometheus"]["nodePort"],
        KIND_PROFILE["monitoring"]["grafana"]["nodePort"],
    }
    assert node_ports == set(mapped)
    assert all(m["listenAddress"] == "127.0.0.1" for m in mapped.values())


def test_priority_classes_used_by_the_profiles_exist() -> None:
    defined = {
        d["metadata"]["name"] for d in yaml.safe_load_all((ROOT / "manifests" / "priority-classes.yaml").read_text())
    }
    used = set()
    for profile in (CHARTS / "mlkube" / "profiles").glob("*.yaml"):
        for section in (yaml.safe_load(profile.read_text()) or {}).values():
            if isinstance(section, dict) and section.get("priorityClassName"):
                used.add(section["priorityClassName"])
    assert used and used <= defined, used - defined


def test_namespace_enforces_restricted_pod_security() -> None:
    (namespace,) = list(yaml.safe_load_all((ROOT / "manifests" / "namespaces.yaml").read_text()))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_local_gateway_agrees_with_platform_env() -> None:
    gateway = gateway_object("Gateway")
    assert gateway["metadata"]["name"] == PLATFORM["GATEWAY_NAME"]
    assert gateway["metadata"]["namespace"] == PLATFORM["GATEWAY_NAMESPACE"]
    (listener,) = gateway["spec"]["listeners"]
    assert listener["port"] == int(PLATFORM["GATEWAY_PORT"])
    traefik = gateway_object("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert traefik["image"] == f"{PLATFORM['GATEWAY_IMAGE']}:{PLATFORM['IMAGE_TAG']}"
    # Traefik serves a Gateway listener on the entry point with the same port.
    assert f"--entryPoints.web.address=:{PLATFORM['GATEWAY_PORT']}" in traefik["args"]
    assert gateway["spec"]["gatewayClassName"] == gateway_object("GatewayClass")["metadata"]["name"]
    assert gateway_object("GatewayClass")["spec"]["controllerName"] == "traefik.io/gateway-controller"


def test_local_profile_routes_through_the_local_gateway() -> None:
    route = LOCAL_PROFILE["model-server"]["gateway"]
    assert route["enabled"] is True
    assert {"name": PLATFORM["GATEWAY_NAME"], "namespace": PLATFORM["GATEWAY_NAMESPACE"]} in route["parentRefs"]


def test_local_gateway_admits_the_platform_namespace() -> None:
    (listener,) = gateway_object("Gateway")["spec"]["listeners"]
    selector = listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"]
    (namespace,) = list(yaml.safe_load_all((ROOT / "manifests" / "namespaces.yaml").read_text()))
    assert selector.items() <= namespace["metadata"]["labels"].items()


def test_local_gateway_meets_restricted_pod_security() -> None:
    namespace = gateway_object("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = gateway_object("Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]["securityContext"]
    assert (
        pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"]["drop"] == ["ALL"]


def test_gateway_serves_traefik_services_for_canary_weights() -> None:
    traefik = gateway_object("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "--providers.kubernetescrd=true" in traefik["args"]
    # Without cluster-scope lookups the provider needs no node RBAC, which the role does not grant.
    assert "--providers.kubernetescrd.disableClusterScopeResources=true" in traefik["args"]
    role = gateway_object("ClusterRole")
    assert {"get", "list", "watch"} <= rbac_verbs(role, "traefik.io", "traefikservices")
    assert not rbac_verbs(role, "", "nodes")


def test_argo_rollouts_agrees_with_platform_env() -> None:
    namespace = PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]
    assert argo_object("Namespace")["metadata"]["name"] == namespace
    assert {
        o["metadata"].get("namespace")
        for o in ARGO_OBJECTS
        if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")
    } == {namespace}
    pod = argo_object("Deployment")["spec"]["template"]["spec"]
    (controller,) = pod["containers"]
    assert controller["image"] == f"{PLATFORM['ARGO_ROLLOUTS_IMAGE']}:{VERSIONS['ARGO_ROLLOUTS_VERSION']}"
    assert controller["imagePullPolicy"] == "IfNotPresent"
    port = int(PLATFORM["ARGO_ROLLOUTS_METRICS_PORT"])
    assert f"--metricsPort={port}" in controller["args"]
    assert {"name": "metrics", "containerPort": port} in controller["ports"]
    (service_port,) = argo_object("Service")["spec"]["ports"]
    assert service_port["port"] == port and service_port["targetPort"] == "metrics"
    pod_labels = argo_object("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert argo_object("Service")["spec"]["selector"].items() <= pod_labels.items()
    # The controller reads its settings from this ConfigMap by name.
    assert argo_object("ConfigMap")["metadata"]["name"] == "argo-rollouts-config"
    (subject,) = argo_object("ClusterRoleBinding")["subjects"]
    assert (subject["name"], subject["namespace"]) == (pod["serviceAccountName"], namespace)


def assert_restricted(namespace: dict, pod: dict) -> None:
    """The namespace enforces the restricted Pod Security level, and the pod meets it with a read-only root."""
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
    assert security["readOnlyRootFilesystem"] is True


def test_argo_rollouts_meets_restricted_pod_security() -> None:
    assert_restricted(argo_object("Namespace"), argo_object("Deployment")["spec"]["template"]["spec"])


def test_argo_rollouts_role_covers_what_the_platform_uses_and_no_more() -> None:
    role = argo_object("ClusterRole")
    assert {"update", "patch"} <= rbac_verbs(role, "argoproj.io", "rollouts")
    assert {"create", "delete"} <= rbac_verbs(role, "argoproj.io", "analysisruns")
    assert {"create", "delete", "patch"} <= rbac_verbs(role, "apps", "replicasets")
    assert "patch" in rbac_verbs(role, "", "services")
    assert "update" in rbac_verbs(role, "traefik.io", "traefikservices")
    assert "create" in rbac_verbs(role, "coordination.k8s.io", "leases")
    assert rbac_verbs(role, "networking.k8s.io", "ingresses") == {"get", "list", "watch"}
    groups = {group for rule in role["rules"] for group in rule["apiGroups"]}
    assert not groups & {
        "networking.istio.io",
        "split.smi-spec.io",
        "getambassador.io",
        "elbv2.k8s.aws",
        "appmesh.k8s.aws",
        "apisix.apache.org",
        "traefik.containo.us",
    }


KEDA_OBJECTS = manifest_objects("keda")


def keda_objects(kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in KEDA_OBJECTS if o["kind"] == kind}


def test_keda_agrees_with_platform_env_and_its_own_services() -> None:
    namespace = PLATFORM["KEDA_NAMESPACE"]
    assert list(keda_objects("Namespace")) == [namespace]
    cluster_scoped = ("Namespace", "ClusterRole", "ClusterRoleBinding", "APIService")
    namespaces = {o["metadata"].get("namespace") for o in KEDA_OBJECTS if o["kind"] not in cluster_scoped}
    assert namespaces == {namespace, "kube-system"}  # the metrics API server reads the authentication ConfigMap there
    deployments = keda_objects("Deployment")
    assert set(deployments) == {"keda-operator", "keda-metrics-apiserver"}
    for deployment in deployments.values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"{PLATFORM['KEDA_IMAGE']}:{VERSIONS['KEDA_VERSION']}"
        assert container["imagePullPolicy"] == "IfNotPresent"
    services = keda_objects("Service")
    for name, service in services.items():
        (pod_labels, pod) = (deployments[name]["spec"]["template"]["metadata"]["labels"],
                             deployments[name]["spec"]["template"]["spec"])  # fmt: skip
        assert service["spec"]["selector"].items() <= pod_labels.items(), name
        ports = {p["name"] for c in pod["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, name
    (api_service,) = keda_objects("APIService").values()
    assert api_service["spec"]["service"] == {"name": "keda-metrics-apiserver", "namespace": namespace}
    assert (api_service["spec"]["group"], api_service["spec"]["version"]) == ("external.metrics.k8s.io", "v1beta1")
    # The metrics API server asks the operator over gRPC at the operator Service's default address.
    assert {p["port"] for p in services["keda-operator"]["spec"]["ports"]} >= {9666}
    # The operator queries Prometheus: the monitoring chart's policy admits pods with this label.
    operator_labels = deployments["keda-operator"]["spec"]["template"]["metadata"]["labels"]
    assert operator_labels[PLATFORM["LABEL_PROMETHEUS_CLIENT"]] == "true"
    for binding in [*keda_objects("ClusterRoleBinding").values(), *keda_objects("RoleBinding").values()]:
        for subject in binding["subjects"]:
            if subject["kind"] == "ServiceAccount" and subject["name"] == "keda-operator":
                assert subject["namespace"] == namespace


def test_keda_meets_restricted_pod_security() -> None:
    (namespace,) = keda_objects("Namespace").values()
    for deployment in keda_objects("Deployment").values():
        assert_restricted(namespace, deployment["spec"]["template"]["spec"])


def test_keda_answers_only_the_hpa_controller() -> None:
    """The external metrics are readable by the HPA controller alone, not by every authenticated user."""
    (reader,) = [b for b in keda_objects("ClusterRoleBinding").values()
                 if b["roleRef"]["name"] == "keda-external-metrics-reader"]  # fmt: skip
    assert reader["subjects"] == [
        {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}
    ]
    role = keda_objects("ClusterRole")["keda-external-metrics-reader"]
    assert rbac_verbs(role, "external.metrics.k8s.io", "*") == {"get", "list", "watch"}
