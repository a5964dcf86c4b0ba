"""Pytest fixtures over the helpers of this package; import the ones you need into your conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .mlflow_server import MlflowServer, run_mlflow_server
from .postgres import PostgresInstance, run_postgres
from .pushgateway import Pushgateway, run_pushgateway
from .training import RegisteredModel, train_penguins


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` on 127.0.0.1 with a SQLite store, for the whole session."""
    with run_mlflow_server(tmp_path_factory.mktemp("mlflow-sqlite")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresInstance]:
    """A throw-away PostgreSQL cluster (Debian's initdb/pg_ctl) on a free loopback port."""
    with run_postgres() as instance:
        yield instance


@pytest.fixture(scope="session")
def postgres_dsn(postgres: PostgresInstance) -> str:
    """DSN (``postgresql://user@127.0.0.1:port/db``) of a fresh, empty database."""
    return postgres.create_database("mlkube_test")


@pytest.fixture(scope="session")
def mlflow_server_postgres(
    postgres: PostgresInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` whose backend store is a PostgreSQL database."""
    # A bare postgresql:// URI, as the MLflow chart passes it.
    store_uri = postgres.create_database("mlflow")
    with run_mlflow_server(tmp_path_factory.mktemp("mlflow-postgres"), backend_store_uri=store_uri) as server:
        yield server


@pytest.fixture(scope="session")
def penguins_models(mlflow_server: MlflowServer) -> list[RegisteredModel]:
    """Logistic regression and random forest penguins models registered in ``mlflow_server``."""
    return train_penguins(mlflow_server.url, algorithms=("logistic_regression", "random_forest"))


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A real Prometheus Pushgateway on 127.0.0.1."""
    with run_pushgateway(tmp_path_factory.mktemp("pushgateway")) as gateway:
        yield gateway
