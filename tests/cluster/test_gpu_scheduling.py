"""The real scheduler places GPU Jobs only on the fake GPU nodes and keeps CPU pods off them."""

from __future__ import annotations

from tests.cluster.kube import Kubectl, container, pod_spec, wait_until

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def node_pools(kubectl: Kubectl) -> dict[str, str]:
    return {
        n["metadata"]["name"]: n["metadata"]["labels"].get("mlkube.io/node-pool", "")
        for n in kubectl.get("nodes")["items"]
    }


def test_gpu_job_lands_on_a_fake_gpu_node(kubectl: Kubectl, namespace: Kubectl, smoke_image: str) -> None:
    gpu_container = container("train", smoke_image, ["exit", "0"])
    gpu_container["resources"] = {
        "limits": {"nvidia.com/gpu": "2", "memory": "64Mi"},
        "requests": {"cpu": "10m", "memory": "16Mi"},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "gpu-train"},
        "spec": {
            "completions": 2,
            "parallelism": 2,
            "backoffLimit": 0,
            "template": {"spec": pod_spec(gpu_container, restartPolicy="Never", tolerations=[GPU_TOLERATION])},
        },
    }
    namespace.apply(job)
    namespace.run("wait", "--for=condition=Complete", "job/gpu-train", "--timeout=90s", timeout=100)
    pools = node_pools(kubectl)
    pods = namespace.get("pods", None, "-l", "job-name=gpu-train")["items"]
    assert len(pods) >= 2
    for pod in pods:
        assert pools[pod["spec"]["nodeName"]] == "gpu", f"{pod['metadata']['name']} ran on {pod['spec']['nodeName']}"


def test_gpu_request_beyond_capacity_stays_pending(namespace: Kubectl, smoke_image: str) -> None:
    greedy = container("greedy", smoke_image, ["sleep"])
    greedy["resources"] = {"limits": {"nvidia.com/gpu": "9", "memory": "64Mi"}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "greedy"},
        "spec": pod_spec(greedy, tolerations=[GPU_TOLERATION]),
    }
    namespace.apply(pod)

    def unschedulable() -> bool:
        conditions = namespace.get("pod", "greedy")["status"].get("conditions", [])
        return any(c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conditions)

    wait_until("the scheduler to report the pod Unschedulable", unschedulable, timeout=60)
    assert not namespace.get("pod", "greedy")["spec"].get("nodeName")


def test_cpu_pods_stay_off_gpu_nodes(kubectl: Kubectl, namespace: Kubectl, smoke_image: str) -> None:
    replicas = 3
    labels = {"app": "cpu-only"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "cpu-only"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(container("idle", smoke_image, ["sleep"]))},
        },
    }
    namespace.apply(deployment)
    namespace.run("rollout", "status", "deployment/cpu-only", "--timeout=120s", timeout=130)
    pools = node_pools(kubectl)
    pods = namespace.get("pods", None, "-l", "app=cpu-only")["items"]
    assert len(pods) == replicas
    assert {pools[p["spec"]["nodeName"]] for p in pods} == {"cpu"}
