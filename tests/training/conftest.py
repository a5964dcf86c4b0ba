"""Trainer tests: the real ``mlkube-train`` CLI in subprocesses, against real MLflow stores."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.support.fixtures import (  # noqa: F401 - fixtures are registered by being imported here
    mlflow_server,
    mlflow_server_postgres,
    penguins_models,
    postgres,
    postgres_dsn,
    pushgateway,
)
from tests.support.training import TrainResult, run_trainer


class Trainer:
    """Runs ``mlkube-train`` in ``workdir`` (the embedded store lands in ``workdir/.mlkube``)."""

    def __init__(self, workdir: Path, tracking_uri: str | None) -> None:
        self.workdir = workdir
        self.tracking_uri = tracking_uri

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> TrainResult:
        return run_trainer(list(args), self.tracking_uri, env=env, timeout=timeout, cwd=self.workdir)

    @property
    def store_uri(self) -> str:
        """What MLflow clients in the test use to read what the trainer wrote."""
        return self.tracking_uri or f"sqlite:///{self.workdir / '.mlkube' / 'mlruns.db'}"


@pytest.fixture
def embedded_trainer(tmp_path: Path) -> Trainer:
    """A trainer with no MLFLOW_TRACKING_URI: the default embedded SQLite store under tmp_path/.mlkube."""
    return Trainer(tmp_path, None)


def one_line_error(result: TrainResult) -> str:
    """The trainer's stderr must end with exactly one actionable error line (no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("mlkube-train")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@contextlib.contextmanager
def mlflow_store(uri: str) -> Iterator[None]:
    """Point this process's MLflow tracking and registry at ``uri`` for a while (no leak between modules)."""
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
