"""A claim on the default StorageClass binds and its data outlives the pod that wrote it."""

from __future__ import annotations

from tests.cluster.kube import Kubectl, container, pod_spec, wait_until


def claim(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }


def pod_with_volume(name: str, image: str, args: list[str], claim_name: str) -> dict:
    spec = pod_spec(
        container("app", image, args, volumeMounts=[{"name": "data", "mountPath": "/data"}]),
        restartPolicy="Never",
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
    )
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def finished(ns: Kubectl, pod: str) -> str | None:
    phase = ns.get("pod", pod)["status"].get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def test_claim_binds_and_keeps_data_across_pods(namespace: Kubectl, smoke_image: str) -> None:
    namespace.apply(claim("data"))
    wait_until("the claim to bind", lambda: namespace.get("pvc", "data")["status"].get("phase") == "Bound", timeout=60)
    volume = namespace.get("pvc", "data")["spec"]["volumeName"]
    assert volume

    namespace.apply(pod_with_volume("writer", smoke_image, ["write", "/data/proof.txt", "kept"], "data"))
    assert wait_until("the writer pod", lambda: finished(namespace, "writer")) == "Succeeded", namespace.logs("writer")
    namespace.run("delete", "pod", "writer", "--wait=true")

    namespace.apply(pod_with_volume("reader", smoke_image, ["cat", "/data/proof.txt"], "data"))
    assert wait_until("the reader pod", lambda: finished(namespace, "reader")) == "Succeeded", namespace.logs("reader")
    assert namespace.logs("reader") == "kept"
    assert namespace.get("pvc", "data")["spec"]["volumeName"] == volume
