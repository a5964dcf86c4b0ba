"""7. A training Job with GPU enabled lands on a (KWOK) GPU node and nowhere else; serving stays off GPU nodes."""

from .kube import ROOT, helm, kubectl_json, pods, wait_for
from .platform import RELEASE


def _gpu_nodes() -> set[str]:
    nodes = kubectl_json("get", "nodes", "-l", "nvidia.com/gpu.present=true", namespace=None)["items"]
    return {n["metadata"]["name"] for n in nodes}


def test_gpu_training_job_is_scheduled_onto_a_gpu_node_only(platform):
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
