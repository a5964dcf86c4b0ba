"""10. The registry survives the loss of its release: `make backup` of the platform's MLflow (database, artifacts,
auth and signing Secrets), a fresh release of the same name in another namespace with nothing trained, `make
restore` into it; its servers then serve the backup's champions and its MLflow takes the trainer's password."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from .faults import served_versions
from .kube import KUBECONFIG, NAMESPACE, kubectl, make, mlflow_auth, run, service_url, wait_for
from .load import PENGUIN
from .platform import RELEASE, TIMINGS, UMBRELLA, WITH_TORCH, platform_values

RESTORE_NAMESPACE = f"{NAMESPACE}-restore"
MODELS = ["penguins-logistic-regression", "penguins-random-forest", "penguins-svm"] + (
    ["digits-cnn"] if WITH_TORCH else []
)


def registry_args(namespace: str) -> str:
    return f"BACKUP_ARGS=-e registry_backup_namespace={namespace} -e registry_backup_kubeconfig={KUBECONFIG}"


def champion_response(mlflow_url: str, name: str, auth: httpx.Auth) -> httpx.Response:
    return httpx.get(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias", params={"name": name,
                     "alias": "champion"}, auth=auth, timeout=10)  # fmt: skip


def champion(mlflow_url: str, name: str, auth: httpx.Auth) -> dict:
    response = champion_response(mlflow_url, name, auth)
    assert response.status_code == 200, f"{name}@champion: {response.status_code} {response.text}"
    return response.json()["model_version"]


@pytest.fixture
def fresh_release(platform):
    """The umbrella chart again, release `mlkube` in its own namespace, without training Jobs: every version it
    will know comes from the restore. One server replica, no monitoring and no HTTPRoute (the platform's route holds
    the local Gateway's paths): none of them has to do with the registry, and the machine runs the platform too.
    ClusterIP Services: on kind the suite's release holds the profile's NodePorts."""
    kubectl("create", "namespace", RESTORE_NAMESPACE, namespace=None, check=False)
    kubectl("label", "--overwrite", "namespace", RESTORE_NAMESPACE, "pod-security.kubernetes.io/enforce=restricted",
            "app.kubernetes.io/part-of=mlkube", namespace=None)  # fmt: skip
    overrides = {
        "training-job.enabled": "false",
        "monitoring.enabled": "false",
        "model-server.replicaCount": "1",
        "model-server.gateway.enabled": "false",
        "model-server.service.type": "ClusterIP",
        "mlflow.service.type": "ClusterIP",
    }
    try:
        started = time.monotonic()
        # No --wait: the servers wait for @champion, which only the restore brings.
        run("helm", "--namespace", RESTORE_NAMESPACE, "upgrade", "--install", RELEASE, str(UMBRELLA),
            *platform_values(**overrides), timeout=300)  # fmt: skip
        for workload in (f"statefulset/{RELEASE}-mlflow-postgres", f"deployment/{RELEASE}-mlflow"):
            kubectl("rollout", "status", workload, "--timeout=10m", namespace=RESTORE_NAMESPACE, timeout=630)
        TIMINGS["install a fresh release"] = time.monotonic() - started
        yield RESTORE_NAMESPACE
    finally:
        run("helm", "--namespace", RESTORE_NAMESPACE, "uninstall", RELEASE, "--wait", "--timeout", "5m",
            check=False, timeout=330)  # fmt: skip
        kubectl("delete", "namespace", RESTORE_NAMESPACE, "--wait=false", namespace=None, check=False)


def test_a_restored_release_serves_the_backups_champions(platform, fresh_release, tmp_path: Path):
    mlflow_url = service_url(f"{RELEASE}-mlflow")
    champions = {name: champion(mlflow_url, name, mlflow_auth()) for name in MODELS}
    backup = tmp_path / "registry"

    started = time.monotonic()
    make("backup", f"BACKUP={backup}", registry_args(NAMESPACE))
    TIMINGS["registry backup"] = time.monotonic() - started
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["backend"] == "postgres" and manifest["namespace"] == NAMESPACE, manifest
    assert {"mlflow.pgdump", "artifacts.tar", "secrets.json"} <= set(manifest["files"]), manifest
    assert (backup / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert {f"{RELEASE}-mlflow-auth", f"{RELEASE}-mlflow-signing"} <= set(manifest["secrets"]), manifest

    started = time.monotonic()
    make("restore", f"BACKUP={backup}", registry_args(fresh_release))
    TIMINGS["registry restore"] = time.monotonic() - started

    # The restored MLflow: the original trainer's password, and the same versions (their runs included).
    restored_mlflow = service_url(f"{RELEASE}-mlflow", namespace=fresh_release)
    for name, version in champions.items():
        restored = champion(restored_mlflow, name, mlflow_auth())
        assert (restored["version"], restored["run_id"]) == (version["version"], version["run_id"]), name
    wrong = httpx.BasicAuth(os.environ["MLFLOW_TRACKING_USERNAME"], "not-the-password")
    assert champion_response(restored_mlflow, MODELS[0], wrong).status_code == 401

    # The restored servers loaded those versions (artifacts from the archive, signatures checked with the restored
    # certificate) and answer with them.
    restored_server = service_url(f"{RELEASE}-model-server", namespace=fresh_release)
    expected = {name: version["version"] for name, version in champions.items()}
    wait_for("the restored servers to load the backup's champions",
             lambda: served_versions(restored_server) == expected or None, timeout=300, interval=5)  # fmt: skip
    answer = httpx.post(f"{restored_server}/predict/penguins-svm", json=PENGUIN, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-model-version"] == expected["penguins-svm"]
