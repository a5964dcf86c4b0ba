"""manifests/: the kind cluster agrees with the charts (GPU node labels and taint, port mappings)."""

from __future__ import annotations

import yaml

from chart_helpers import CHARTS, ROOT

KIND = yaml.safe_load((ROOT / "manifests" / "kind-config.yaml").read_text())
TRAINING = yaml.safe_load((CHARTS / "training-job" / "values.yaml").read_text())
KIND_PROFILE = yaml.safe_load((CHARTS / "mlkube" / "profiles" / "kind.yaml").read_text())


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
    defined = {d["metadata"]["name"] for d in yaml.safe_load_all((ROOT / "manifests" / "priority-classes.yaml").read_text())}
    used = set()
    for profile in (CHARTS / "mlkube" / "profiles").glob("*.yaml"):
        for section in (yaml.safe_load(profile.read_text()) or {}).values():
            if isinstance(section, dict) and section.get("priorityClassName"):
                used.add(section["priorityClassName"])
    assert used and used <= defined, used - defined


def test_namespace_enforces_restricted_pod_security() -> None:
    (namespace,) = list(yaml.safe_load_all((ROOT / "manifests" / "namespaces.yaml").read_text()))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
