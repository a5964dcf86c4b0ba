"""Fixtures for the rollout trigger: a real MLflow server that delivers webhooks to loopback, registered model
versions, and the real ``mlkube-rollout-trigger`` process."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from mlflow import MlflowClient

from tests.support.mlflow_server import MlflowServer, run_mlflow_server
from tests.support.processes import ManagedProcess, free_port, wait_for_http

HOST = "127.0.0.1"
TRIGGER = Path(sys.executable).parent / "mlkube-rollout-trigger"
SECRET = "mlkube-rollout-trigger-tests-only-secret"  # a constant: conftest may be imported twice

# What MLflow needs to deliver webhooks to a receiver on loopback (its defaults: https only, public IPs only),
# a key to keep webhook secrets decryptable across restarts, and a short webhook-list cache for the tests.
MLFLOW_WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
}


@pytest.fixture(scope="session")
def webhook_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """``mlflow server`` on SQLite (webhooks need a SQL store) that may deliver to loopback."""
    with run_mlflow_server(tmp_path_factory.mktemp("mlflow-webhooks"), extra_env=MLFLOW_WEBHOOK_ENV) as server:
        yield server


@pytest.fixture(scope="session")
def registry(webhook_mlflow: MlflowServer) -> MlflowClient:
    return MlflowClient(tracking_uri=webhook_mlflow.url, registry_uri=webhook_mlflow.url)


def register_versions(client: MlflowClient, name: str, count: int) -> list[str]:
    """A registered model with ``count`` versions (the trigger never loads them, so any logged artifact does)."""
    client.create_registered_model(name)
    experiment = client.create_experiment(f"{name}-runs")
    versions = []
    for _ in range(count):
        run = client.create_run(experiment)
        client.log_text(run.info.run_id, "{}", "model/MLmodel")
        client.set_terminated(run.info.run_id)
        versions.append(client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id).version)
    return versions


@dataclass
class RunningTrigger:
    url: str
    process: ManagedProcess
    hook_name: str

    def lines(self) -> list[dict]:
        out = []
        for line in self.process.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def messages(self, needle: str) -> list[str]:
        return [entry["message"] for entry in self.lines() if needle in entry.get("message", "")]

    def wait_for(self, needle: str, count: int = 1, timeout: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.messages(needle)) >= count:
                return found
            if not self.process.alive():
                raise self.process.fail("exited")
            time.sleep(0.2)
        raise AssertionError(f"{count}x {needle!r} not logged within {timeout}s; log:\n{self.process.log_tail()}")


def unreachable_kubeconfig(path: Path) -> Path:
    """A kubeconfig whose API server refuses connections: for tests of the MLflow side only."""
    port = free_port(HOST)
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": f"https://{HOST}:{port}"}}],
        "users": [{"name": "none", "user": {"token": "none"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
    }  # fmt: skip
    path.write_text(json.dumps(config))
    return path


@contextlib.contextmanager
def start_trigger(tmp: Path, mlflow: MlflowServer, kubeconfig: Path, rollout: str, namespace: str,
                  **env: str) -> Iterator[RunningTrigger]:  # fmt: skip
    port = free_port(HOST)
    url = f"http://{HOST}:{port}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLKUBE_"))}
    settings = {
        "MLFLOW_TRACKING_URI": mlflow.url,
        "MLKUBE_TRIGGER_ROLLOUT": rollout,
        "MLKUBE_TRIGGER_NAMESPACE": namespace,
        "MLKUBE_TRIGGER_KUBECONFIG": str(kubeconfig),
        "MLKUBE_TRIGGER_WEBHOOK_URL": f"{url}/webhook",
        "MLKUBE_TRIGGER_WEBHOOK_SECRET": SECRET,
        "MLKUBE_TRIGGER_HOST": HOST,
        "MLKUBE_TRIGGER_PORT": str(port),
        "MLKUBE_TRIGGER_RECONCILE_SECONDS": "1",
    } | env
    process = ManagedProcess("mlkube-rollout-trigger", [str(TRIGGER)], tmp / f"trigger-{port}.log", env=base | settings)
    try:
        wait_for_http(f"{url}/healthz", timeout=60, process=process)
        running = RunningTrigger(url, process, f"mlkube-{rollout}")
        running.wait_for(f"MLflow webhook {running.hook_name} ")
        yield running
    finally:
        process.stop()


@pytest.fixture
def trigger_factory(tmp_path: Path, webhook_mlflow: MlflowServer) -> Callable[..., contextlib.AbstractContextManager]:
    def factory(rollout: str, kubeconfig: Path | None = None, namespace: str = "mlkube", **env: str):
        config = kubeconfig or unreachable_kubeconfig(tmp_path / "kubeconfig")
        return start_trigger(tmp_path, webhook_mlflow, config, rollout, namespace, **env)

    return factory
