"""The real node and the fake GPU nodes are registered and Ready."""

from __future__ import annotations

from tests.cluster.kube import Kubectl


def ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def test_real_node_is_ready(kubectl: Kubectl) -> None:
    nodes = kubectl.get("nodes", None, "-l", "mlkube.io/node-pool=cpu")["items"]
    assert len(nodes) == 1, "exactly one real node expected"
    node = nodes[0]
    assert ready(node), node["status"].get("conditions")
    assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_fake_gpu_nodes_are_ready_and_tainted(kubectl: Kubectl) -> None:
    nodes = kubectl.get("nodes", None, "-l", "nvidia.com/gpu.present=true")["items"]
    assert nodes, "no fake GPU node registered"
    for node in nodes:
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert node["metadata"]["labels"]["mlkube.io/node-pool"] == "gpu"
        assert ready(node), f"{node['metadata']['name']} not Ready"
        assert int(node["status"]["allocatable"]["nvidia.com/gpu"]) == 8
        taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"].get("taints", [])}
        assert ("nvidia.com/gpu", "present", "NoSchedule") in taints


def test_default_storage_class(kubectl: Kubectl) -> None:
    storage_class = kubectl.get("storageclass", "standard")
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
