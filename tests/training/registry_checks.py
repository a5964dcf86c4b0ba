"""Assertions about what a training run left in an MLflow registry, shared by the embedded and server tests."""

from __future__ import annotations

import json

import pandas as pd
from mlflow import MlflowClient

from tests.support.training import RegisteredModel

PENGUIN_ROWS = pd.DataFrame(
    [
        {"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.8, "flipper_length_mm": 217.0,
         "body_mass_g": 5200.0, "sex": "male"},
        {"island": "Torgersen", "bill_length_mm": 38.9, "bill_depth_mm": 17.8, "flipper_length_mm": 181.0,
         "body_mass_g": 3625.0, "sex": "female"},
        {"island": "Dream", "bill_length_mm": 50.0, "bill_depth_mm": 19.5, "flipper_length_mm": 196.0,
         "body_mass_g": 3900.0, "sex": "male"},
        {"island": "Dream", "bill_length_mm": None, "bill_depth_mm": 18.0, "flipper_length_mm": 190.0,
         "body_mass_g": 3700.0, "sex": None},
    ]
)  # fmt: skip
EXPECTED_SPECIES = ["Gentoo", "Adelie", "Chinstrap"]  # of the first three rows


def check_penguins_version(client: MlflowClient, model: RegisteredModel) -> None:
    """Tags, metrics, params and artifacts of one registered penguins version."""
    version = client.get_model_version(model.name, model.version)
    assert version.run_id == model.run_id
    tags = version.tags
    assert tags["algorithm"] == model.algorithm
    assert tags["trainer"] == "penguins"
    assert len(tags["data_sha256"]) == 64
    assert tags["code_version"]
    ranges = json.loads(tags["feature_ranges"])
    assert set(ranges) == {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"}
    assert 2500 < ranges["body_mass_g"]["min"] < ranges["body_mass_g"]["max"] < 7000
    assert json.loads(tags["feature_categories"]) == {
        "island": ["Biscoe", "Dream", "Torgersen"],
        "sex": ["female", "male"],
    }
    share = json.loads(tags["training_class_share"])
    assert set(share) == {"Adelie", "Chinstrap", "Gentoo"} and abs(sum(share.values()) - 1) < 1e-4
    assert tags["promotion_decision"] in ("first_champion", "promoted", "kept_champion")
    assert tags["promotion_metric"] == "test_f1_macro"
    assert float(tags["promotion_challenger_score"]) == model.metrics["test_f1_macro"]

    run = client.get_run(model.run_id)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    for name in ("test_accuracy", "test_f1_macro", "cv_best_score", "test_precision_Gentoo", "test_recall_Adelie"):
        assert 0.0 <= metrics[name] <= 1.0, name
    params = run.data.params
    assert params["algorithm"] == model.algorithm
    assert int(params["data_rows"]) == int(params["train_rows"]) + int(params["test_rows"]) == 342
    assert params["data_sha256"] == tags["data_sha256"]
    artifacts = {a.path for a in client.list_artifacts(model.run_id)}
    assert {"confusion_matrix.png", "training_profile.json"} <= artifacts


def check_penguins_predicts(model_uri: str) -> None:
    """The registered Pipeline loads with the sklearn flavour and predicts raw rows, missing values included."""
    import mlflow

    pipeline = mlflow.sklearn.load_model(model_uri)
    assert list(pipeline.classes_) == ["Adelie", "Chinstrap", "Gentoo"]
    probabilities = pipeline.predict_proba(PENGUIN_ROWS)
    assert probabilities.shape == (4, 3)
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-6
    assert list(pipeline.predict(PENGUIN_ROWS[:3])) == EXPECTED_SPECIES
    info = mlflow.models.get_model_info(model_uri)
    assert info.signature is not None
    assert set(info.signature.inputs.input_names()) == set(PENGUIN_ROWS.columns)


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}
