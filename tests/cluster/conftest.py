"""Fixtures for the local cluster's smoke suite: the cluster must already be up
(`make cluster-up`); the suite builds and imports its own small test image."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.playbook import run_playbook
from tests.cluster.kube import ROOT, ClusterPaths, Kubectl, KubectlError, read_env_file

PLATFORM = read_env_file(ROOT / "platform.env")
SMOKE_IMAGE = f"{PLATFORM['IMAGE_PREFIX']}/cluster-smoke:{PLATFORM['IMAGE_TAG']}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def paths() -> ClusterPaths:
    return ClusterPaths.discover()


@pytest.fixture(scope="session")
def kubectl(paths: ClusterPaths) -> Kubectl:
    if not paths.kubectl.is_file() or not paths.kubeconfig.is_file():
        pytest.fail(
            f"local cluster not built or not up ({paths.kubeconfig} missing): run `make cluster-up`", pytrace=False
        )
    client = Kubectl(paths)
    try:
        client.run("get", "--raw", "/readyz", timeout=15)
    except (KubectlError, subprocess.TimeoutExpired):
        pytest.fail(
            "local cluster apiserver not reachable: run `make cluster-up` "
            "(or `make cluster-status` to see which component is down)",
            pytrace=False,
        )
    return client


@pytest.fixture(scope="session")
def smoke_image(paths: ClusterPaths, kubectl: Kubectl) -> str:
    """Builds the static test binary, packs it as a one-layer image and imports it into the cluster."""
    out = paths.cache / "cluster-images" / f"cluster-smoke-{PLATFORM['IMAGE_TAG']}"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "cluster-smoke"), "."],
        cwd=Path(__file__).parent / "image",
        env=env,
        check=True,
    )
    (out / "image.tar").unlink(missing_ok=True)
    image = {"name": SMOKE_IMAGE, "archive": str(out / "image.tar"), "src": str(out / "cluster-smoke")}
    image |= {"dest": "/cluster-smoke", "entrypoint": "/cluster-smoke", "user": "65532:65532", "ports": ["8080/tcp"]}
    packed = run_playbook("local", "-e", json.dumps({"image": image}), playbook="pack-image.yml", timeout=300)
    assert packed.rc == 0, packed.explain()
    subprocess.run([str(paths.cluster_script), "import-image", str(out / "image.tar")], check=True, capture_output=True)
    return SMOKE_IMAGE


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[Kubectl]:
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield kubectl.in_namespace(name)
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
