"""Fixtures for the model server tests: a real MLflow server, models trained by the real trainer, and the
real server (``mlkube-serve``, uvicorn) in its own process on loopback."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.fixtures import mlflow_server  # noqa: F401 - re-exported fixture
from tests.support.mlflow_server import MlflowServer
from tests.support.processes import ManagedProcess, free_ports, wait_for_http
from tests.support.training import RegisteredModel, train_digits, train_penguins

HOST = "127.0.0.1"
SERVE = Path(sys.executable).parent / "mlkube-serve"
RF, LR, DIGITS = "penguins-random-forest", "penguins-logistic-regression", "digits-cnn"
SERVER_REVISION = "7d9f8c6b5"  # the session server's pod template hash (MLKUBE_REVISION)
REPOSITORY_TOKEN = "session-repository-token-0123456789"  # turns the session server's repository API on
AUTH = {"Authorization": f"Bearer {REPOSITORY_TOKEN}"}


@dataclass
class RunningServer:
    url: str
    process: ManagedProcess
    client: httpx.Client
    metrics_url: str  # /metrics and the health checks, open before the serving port

    def log(self) -> str:
        return self.process.log_tail(20000)


@dataclass(frozen=True)
class Trained:
    penguins: dict[str, RegisteredModel]  # by registered name
    digits: RegisteredModel


@pytest.fixture(scope="session")
def trained(mlflow_server: MlflowServer) -> Trained:  # noqa: F811
    penguins = train_penguins(mlflow_server.url, algorithms=("logistic_regression", "random_forest"))
    digits = train_digits(mlflow_server.url)
    return Trained({m.name: m for m in penguins}, digits[0])


def server_env(tracking_uri: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLKUBE_"))}
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    env.update(extra)
    return env


@contextlib.contextmanager
def start_server(
    tmp: Path,
    models: list[str],
    tracking_uri: str | None,
    wait: Literal["ready", "open", "live"] = "ready",
    launcher: list[str] | None = None,
    **env: str,
) -> Iterator[RunningServer]:
    """``wait``: until the server is ready; until its serving port is open (every model loaded or failed for good);
    or only until its metrics port answers."""
    port, metrics_port = free_ports(2, HOST)
    argv = [*(launcher or [str(SERVE)]), "--host", HOST, "--port", str(port), "--metrics-port", str(metrics_port)]
    for spec in models:
        argv += ["--model", spec]
    env.setdefault("MLKUBE_SERVER_MODEL_CACHE_DIR", str(tmp / "model-cache"))
    process = ManagedProcess("mlkube-serve", argv, tmp / f"server-{port}.log", env=server_env(tracking_uri, **env))
    url, metrics_url = f"http://{HOST}:{port}", f"http://{HOST}:{metrics_port}"
    try:
        wait_for_http(f"{metrics_url}/v2/health/live", timeout=60, process=process)
        if wait == "open":
            wait_for_http(f"{url}/v2/health/live", timeout=120, process=process)
        elif wait == "ready":
            wait_for_http(f"{url}/v2/health/ready", timeout=120, process=process)
        with httpx.Client(base_url=url, timeout=30) as client:
            yield RunningServer(url, process, client, metrics_url)
    finally:
        process.stop()


def session_models(trained: Trained) -> list[str]:
    """Random forest (default, by alias), logistic regression (by alias) and the digits CNN (by version)."""
    return [
        f"models:/{RF}@champion",
        f"models:/{LR}@champion",
        f"{DIGITS}=models:/{DIGITS}/{trained.digits.version}",
    ]


@pytest.fixture(scope="session")
def server(trained: Trained, mlflow_server: MlflowServer, tmp_path_factory) -> Iterator[RunningServer]:  # noqa: F811
    """The three models, with the repository API on."""
    with start_server(
        tmp_path_factory.mktemp("server"), session_models(trained), mlflow_server.url,
        MLKUBE_VARIANT="canary", MLKUBE_REVISION=SERVER_REVISION, MLKUBE_SERVER_REPOSITORY_API_TOKEN=REPOSITORY_TOKEN,
    ) as running:  # fmt: skip
        yield running


@pytest.fixture(scope="session")
def default_server(
    trained: Trained,
    mlflow_server: MlflowServer,  # noqa: F811
    tmp_path_factory,
) -> Iterator[RunningServer]:
    """The same three models with every setting at its default (the repository API off)."""
    tmp = tmp_path_factory.mktemp("default-server")
    with start_server(tmp, session_models(trained), mlflow_server.url) as running:
        yield running


def metric_samples(server: RunningServer) -> list:
    text = server.client.get("/metrics").text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def metric_value(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


PENGUIN = {
    "island": "Biscoe",
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181.0,
    "body_mass_g": 3750.0,
    "sex": "male",
}
GENTOO = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 14.2,
    "flipper_length_mm": 215.0,
    "body_mass_g": 5300.0,
    "sex": "female",
}
