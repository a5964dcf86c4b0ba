"""The shared real-process fixtures work: an MLflow server on SQLite and on PostgreSQL."""

from __future__ import annotations

import psycopg2
from mlflow import MlflowClient


def _roundtrip(tracking_uri: str, experiment: str) -> None:
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    experiment_id = client.create_experiment(experiment)
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "m", 1.5)
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}


def test_mlflow_server_sqlite_answers_and_stores(mlflow_server):
    _roundtrip(mlflow_server.url, "support-sqlite")
    assert mlflow_server.backend_store_uri.startswith("sqlite:///")


def test_postgres_accepts_connections(postgres_dsn):
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cursor:
        cursor.execute("select 1")
        assert cursor.fetchone() == (1,)


def test_mlflow_server_on_postgres_keeps_runs_in_postgres(mlflow_server_postgres):
    _roundtrip(mlflow_server_postgres.url, "support-postgres")
    with psycopg2.connect(mlflow_server_postgres.backend_store_uri) as conn, conn.cursor() as cursor:
        cursor.execute("select name from experiments where name = 'support-postgres'")
        assert cursor.fetchone() == ("support-postgres",)


def test_train_penguins_helper_returns_what_it_registered(penguins_models, mlflow_server):
    client = MlflowClient(mlflow_server.url, registry_uri=mlflow_server.url)
    assert sorted(m.name for m in penguins_models) == ["penguins-logistic-regression", "penguins-random-forest"]
    for model in penguins_models:
        version = client.get_model_version(model.name, model.version)
        assert version.run_id == model.run_id
        assert client.get_model_version_by_alias(model.name, "champion").version == model.version
        assert model.model_uri == f"models:/{model.name}/{model.version}"
