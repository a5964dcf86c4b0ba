"""The trainers against a real ``mlflow server`` process whose backend store is a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import mlflow
import numpy as np
import psycopg2
import pytest
from mlflow import MlflowClient

from tests.support.training import DIGITS_FAST_CONFIG, PENGUINS_FAST_CONFIG

from .conftest import Trainer, mlflow_store
from .registry_checks import aliases, check_penguins_predicts, check_penguins_version


@pytest.fixture(scope="module")
def server_trainer(mlflow_server_postgres, tmp_path_factory) -> Iterator[Trainer]:
    with mlflow_store(mlflow_server_postgres.url):
        yield Trainer(tmp_path_factory.mktemp("server"), mlflow_server_postgres.url)


def test_penguins_all_registered_in_postgres(server_trainer, mlflow_server_postgres):
    result = server_trainer("penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "all")
    assert result.returncode == 0, result.stderr
    assert not (server_trainer.workdir / ".mlkube").exists(), "a tracking server must be used, not the local store"
    client = MlflowClient()
    assert sorted(m.name for m in result.models) == [
        "penguins-logistic-regression",
        "penguins-random-forest",
        "penguins-svm",
    ]
    for model in result.models:
        check_penguins_version(client, model)
        assert aliases(client, model.name) == {"challenger": model.version, "champion": model.version}
        check_penguins_predicts(f"models:/{model.name}@champion")  # artifacts through the server's proxy
    with psycopg2.connect(mlflow_server_postgres.backend_store_uri) as conn, conn.cursor() as cursor:
        cursor.execute("select name, alias, version from registered_model_aliases order by name, alias")
        rows = cursor.fetchall()
    for model in result.models:
        assert (model.name, "champion", int(model.version)) in rows


def test_digits_registered_in_postgres(server_trainer):
    result = server_trainer("digits", "--config", str(DIGITS_FAST_CONFIG))
    assert result.returncode == 0, result.stderr
    (model,) = result.models
    assert model.name == "digits-cnn"
    client = MlflowClient()
    assert aliases(client, "digits-cnn")["champion"] == model.version
    history = client.get_metric_history(model.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2]
    tags = client.get_model_version("digits-cnn", model.version).tags
    network = mlflow.pytorch.load_model(tags["pytorch_model_uri"], map_location="cpu")
    import torch
    from sklearn.datasets import load_digits

    images = load_digits().images[:8].astype(np.float32).reshape(-1, 1, 8, 8)
    assert tuple(network(torch.from_numpy(images)).shape) == (8, 10)
    assert json.loads(client.get_model_version("digits-cnn", model.version).tags["training_class_share"])
