"""The local path for real: the playbook brings the local cluster up (binaries, node, images), and a
second run changes nothing. The platform chart itself is installed by the end-to-end suite; here the
cloud path's check mode plans it against the live cluster, and the images built are pushed to a registry."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.ansible.playbook import ANSIBLE_DIR, ROOT, PlaybookRun, find_kubectl, run_playbook
from tests.ansible.registry import LoopbackRegistry

CLUSTER_SH = ANSIBLE_DIR / "roles" / "local_cluster" / "files" / "cluster.sh"


def cluster(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLUSTER_SH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MLKUBE_ROOT": str(ROOT)},
    )


def changed_tasks(run) -> list[str]:
    return [name for name, result in run.results().items() if result.get("changed")]


# Two small images whose base layers are shared: the second push of a layer is a mount, not an upload.
PUSHED = ("mlkube/postgres", "mlkube/prometheus")
IMAGE_TAG = dict(
    line.split("=", 1) for line in (ROOT / "platform.env").read_text().splitlines() if line.startswith("IMAGE_TAG=")
)["IMAGE_TAG"]


def push_images(registry: str) -> PlaybookRun:
    return run_playbook(
        "local",
        "--tags",
        "images",
        "-e",
        "images_build=false",
        "-e",
        "images_target=none",
        IMAGE_REGISTRY=registry,
        MLKUBE_IMAGES=" ".join(PUSHED),
        timeout=900,
    )


def check_the_push_to_a_registry(work_dir: Path) -> None:
    """The images role's push (docker push of the images just built) into a loopback registry, then once more."""
    with LoopbackRegistry(work_dir) as registry:
        target = f"{registry.address}/mlkube-test"
        try:
            check_two_pushes(registry, target)
        finally:
            untag_pushed(target)


def check_two_pushes(registry: LoopbackRegistry, target: str) -> None:
    """The first push fills the registry with the engine's images; the second uploads nothing and changes nothing."""
    first = push_images(target)
    assert first.rc == 0, first.explain()
    got = first.result("Say what the registry got")
    assert got.get("changed") and len(got["msg"]) == len(PUSHED), got
    assert registry.catalog() == {f"mlkube-test/{name}" for name in PUSHED}
    for name in PUSHED:
        reference = f"mlkube-test/{name}:{IMAGE_TAG}"
        digest = registry.digest(reference)
        inspect = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", f"{name}:{IMAGE_TAG}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert f"{target}/{name}@{digest}" in json.loads(inspect.stdout), inspect.stdout
        assert registry.config(reference)["config"]["Labels"]["io.mlkube.image"] == name

    uploads = registry.log().count("/blobs/uploads/")
    assert uploads > 0, registry.log()
    second = push_images(target)
    assert second.rc == 0, second.explain()
    assert second.stats.get("changed") == 0, f"changed on the second push: {changed_tasks(second)}"
    assert second.result("Say what the registry got")["msg"] == "every image already in the registry"
    assert registry.log().count("/blobs/uploads/") == uploads, "the second push uploaded a blob"


def untag_pushed(registry: str) -> None:
    """The tags docker push left in the engine for this test's registry (the images keep their own)."""
    for name in PUSHED:
        subprocess.run(["docker", "image", "rm", f"{registry}/{name}:{IMAGE_TAG}"], capture_output=True, check=False)


@pytest.mark.slow
@pytest.mark.cluster
def test_local_path_runs_for_real_and_twice_changes_nothing(tmp_path: Path) -> None:
    was_up = cluster("status").returncode == 0
    try:
        first = run_playbook("local", "--skip-tags", "platform", timeout=3600)
        assert first.rc == 0, first.explain()

        nodes = cluster("kubectl", "get", "nodes", "--no-headers")
        assert nodes.returncode == 0, nodes.stderr
        node_lines = [line.split() for line in nodes.stdout.splitlines()]
        assert any(cols[1] == "Ready" for cols in node_lines), nodes.stdout

        second = run_playbook("local", "--skip-tags", "platform", timeout=1800)
        assert second.rc == 0, second.explain()
        assert second.stats.get("changed") == 0, f"changed on the second run: {changed_tasks(second)}"
        # The images role ran on both runs and found every image already in the cluster: no import.
        imports = {name: r for name, r in second.results().items() if "Import into the cluster's containerd" in name}
        assert imports and all(r.get("skipped") for r in imports.values()), imports

        check_the_push_to_a_registry(tmp_path)

        # The cloud path's check mode, pointed at this live cluster as an existing one: the API server
        # answers, validates the cluster-level manifests in a server-side dry run, and helm plans the
        # release (the device plugin chart is left out: its repository is not reachable here).
        planned = run_playbook(
            "cloud",
            "--check",
            "--tags",
            "cluster,platform",
            "-e",
            f"mlkube_kubectl={find_kubectl()}",
            "-e",
            "mlkube_profile=local",
            "-e",
            "cloud_cluster_device_plugin=false",
            MLKUBE_KUBECONFIG=cluster("kubeconfig").stdout.strip(),
            MLKUBE_CLOUD_PROVIDER="existing",
            MLKUBE_GPU="false",
            timeout=900,
        )
        assert planned.rc == 0, planned.explain()
        assert "Kubernetes v" in planned.result("Print the cluster")["msg"]
        dry_run = planned.result("Apply the cluster-level objects")
        assert "--dry-run=server" in dry_run["cmd"], dry_run["cmd"]
        assert "mlkube" in dry_run["stdout"], dry_run["stdout"]
        assert not planned.result("Install or upgrade the umbrella release").get("failed")
    finally:
        if not was_up and os.environ.get("MLKUBE_KEEP_CLUSTER") != "1":
            down = run_playbook("local", "--tags", "cluster", "-e", "mlkube_action=down", timeout=600)
            assert down.rc == 0, down.explain()
            assert cluster("status").returncode != 0
