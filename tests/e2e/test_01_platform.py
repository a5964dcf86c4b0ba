"""1. The umbrella chart installs, every pod becomes Ready and `helm test` passes."""

from .kube import helm, kubectl_json, ready
from .platform import RELEASE


def test_every_pod_is_ready_or_completed(platform):
    pods = kubectl_json("get", "pods")["items"]
    assert pods, "the umbrella chart created no pods"
    not_ready = [p["metadata"]["name"] for p in pods if p["status"].get("phase") != "Succeeded" and not ready(p)]
    assert not not_ready, f"pods not Ready: {not_ready}"


def test_helm_test_hooks_pass(platform):
    result = helm("test", RELEASE, "--timeout", "5m", timeout=330)
    assert "Phase:          Succeeded" in result.stdout or "Succeeded" in result.stdout, result.stdout
    assert "Failed" not in result.stdout, result.stdout
