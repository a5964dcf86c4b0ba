"""The local path for real: the playbook brings the local cluster up (binaries, node, images), and a
second run changes nothing. The platform chart itself is installed by the end-to-end suite; here the
cloud path's check mode plans it against the live cluster."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.ansible.playbook import ANSIBLE_DIR, ROOT, find_kubectl, run_playbook

CLUSTER_SH = ANSIBLE_DIR / "roles" / "local_cluster" / "files" / "cluster.sh"
IMAGES_SH = ANSIBLE_DIR / "roles" / "images" / "files" / "mlkube-images.sh"


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


@pytest.mark.slow
@pytest.mark.cluster
def test_local_path_runs_for_real_and_twice_changes_nothing() -> None:
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
        # The images role ran on both runs and found every image already in the cluster.
        load = second.result("Load the images into the cluster")
        assert load["stdout_lines"][-1] == "mlkube-images: changed=0"
        assert any("already in the local cluster" in line for line in load["stdout_lines"]), load["stdout_lines"]

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
