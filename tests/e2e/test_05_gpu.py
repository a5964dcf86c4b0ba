"""7. A training Job with GPU enabled lands on a GPU node and nowhere else; serving stays off GPU nodes. The GPU
nodes advertise `nvidia.com/gpu` without a GPU: KWOK's fake nodes on the local cluster; on kind, the suite puts it
on the GPU worker's status as the NVIDIA device plugin would (`make up` with MLKUBE_GPU=true installs the plugin
where there is a GPU), and takes it away after."""

import json

import pytest

from .kube import ROOT, TARGET, helm, kubectl, kubectl_json, pods, wait_for
from .platform import RELEASE

GPU = "nvidia.com/gpu"


def _gpu_nodes() -> set[str]:
    nodes = kubectl_json("get", "nodes", "-l", "nvidia.com/gpu.present=true", namespace=None)["items"]
    return {n["metadata"]["name"] for n in nodes}


@pytest.fixture
def advertised_gpus():
    """On kind: one `nvidia.com/gpu` in each GPU worker's capacity for the test's length."""
    nodes = sorted(_gpu_nodes()) if TARGET == "kind" else []
    for node in nodes:
        _set_capacity(node, "1")
    yield
    for node in nodes:
        _set_capacity(node, None)


def _set_capacity(node: str, gpus: str | None) -> None:
    patch = {"status": {"capacity": {GPU: gpus}, "allocatable": {GPU: gpus}}}
    kubectl("patch", "node", node, "--subresource=status", "--type=merge", "-p", json.dumps(patch), namespace=None)


def test_gpu_training_job_is_scheduled_onto_a_gpu_node_only(platform, advertised_gpus):
    gpu_nodes = _gpu_nodes()
    assert gpu_nodes, "the cluster has no node labelled nvidia.com/gpu.present=true"
    helm(
        "upgrade",
        "--install",
        "gpu-train",
        str(ROOT / "charts" / "training-job"),
        "--set",
        f"global.mlflow.url=http://{RELEASE}-mlflow:5000",
        "--set",
        f"global.mlflow.credentialsSecret={RELEASE}-mlflow-auth",  # a release of its own: the platform's users
        "--set",
        f"global.mlflow.signingSecret={RELEASE}-mlflow-signing",  # ...and signing key
        "--set",
        "gpu.enabled=true",
        "--set",
        "jobs.penguins.enabled=false",
        "--set",
        "priorityClassName=mlkube-training",
        timeout=120,
    )
    try:
        scheduled = wait_for(
            "the GPU training pod to be scheduled",
            lambda: [p for p in pods("app.kubernetes.io/instance=gpu-train") if p["spec"].get("nodeName")],
            timeout=120,
        )
        for pod in scheduled:
            assert pod["spec"]["nodeName"] in gpu_nodes, (pod["metadata"]["name"], pod["spec"]["nodeName"])
            limits = pod["spec"]["containers"][0]["resources"]["limits"]
            assert limits.get("nvidia.com/gpu") == "1", limits
        serving = pods(f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=model-server")
        assert serving and not {p["spec"].get("nodeName") for p in serving} & gpu_nodes
    finally:
        helm("uninstall", "gpu-train", check=False)
