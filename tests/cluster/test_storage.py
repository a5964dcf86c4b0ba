"""A claim on the default StorageClass binds and its data outlives the pod that wrote it; the provisioner
(local-path-provisioner on the host) makes each volume's directory writable by any user and removes it with the
claim."""

from __future__ import annotations

import stat
from pathlib import Path

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


def bound_volume(ns: Kubectl, claim_name: str) -> str:
    """The name of the volume the claim binds to, once it is Bound."""
    wait_until("the claim to bind", lambda: ns.get("pvc", claim_name)["status"].get("phase") == "Bound", timeout=60)
    volume = ns.get("pvc", claim_name)["spec"]["volumeName"]
    assert volume
    return volume


def finished(ns: Kubectl, pod: str) -> str | None:
    phase = ns.get("pod", pod)["status"].get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def test_claim_binds_and_keeps_data_across_pods(namespace: Kubectl, smoke_image: str) -> None:
    namespace.apply(claim("data"))
    volume = bound_volume(namespace, "data")

    namespace.apply(pod_with_volume("writer", smoke_image, ["write", "/data/proof.txt", "kept"], "data"))
    assert wait_until("the writer pod", lambda: finished(namespace, "writer")) == "Succeeded", namespace.logs("writer")
    namespace.run("delete", "pod", "writer", "--wait=true")

    namespace.apply(pod_with_volume("reader", smoke_image, ["cat", "/data/proof.txt"], "data"))
    assert wait_until("the reader pod", lambda: finished(namespace, "reader")) == "Succeeded", namespace.logs("reader")
    assert namespace.logs("reader") == "kept"
    assert namespace.get("pvc", "data")["spec"]["volumeName"] == volume


def test_a_volume_directory_is_open_to_any_user_and_goes_with_its_claim(namespace: Kubectl, kubectl: Kubectl) -> None:
    namespace.apply(claim("scratch"))
    volume = bound_volume(namespace, "scratch")
    # The cluster's node is this machine: the volume's hostPath is a directory here.
    directory = Path(kubectl.get("pv", volume)["spec"]["hostPath"]["path"])
    assert directory.is_dir(), directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o777, oct(directory.stat().st_mode)

    namespace.run("delete", "pvc", "scratch", "--wait=true")
    wait_until(
        f"the volume {volume} and its directory to be removed",
        lambda: not directory.exists() and volume not in {pv["metadata"]["name"] for pv in kubectl.get("pv")["items"]},
        timeout=120,
    )
