"""The XGBoost example (`mlkube-train penguins-xgboost`): a flavor other than scikit-learn, registered with the
class names the server needs, predicting through mlflow.pyfunc exactly as a user's own model would."""

from __future__ import annotations

import json

import mlflow
import numpy as np
from mlflow import MlflowClient

from .conftest import Trainer, mlflow_store
from .registry_checks import EXPECTED_SPECIES, PENGUIN_ROWS, aliases

MEASURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def test_registered_with_the_xgboost_flavor_its_classes_and_a_numeric_signature(tmp_path):
    trainer = Trainer(tmp_path, None)
    result = trainer("penguins-xgboost")
    assert result.returncode == 0, result.stderr
    (model,) = result.models
    assert (model.name, model.version, model.promotion_decision) == ("penguins-xgboost", "1", "first_champion")
    assert model.metrics["test_f1_macro"] > 0.9
    with mlflow_store(trainer.store_uri):
        client = MlflowClient()
        assert aliases(client, model.name) == {"champion": "1", "challenger": "1"}
        tags = client.get_model_version(model.name, model.version).tags
        assert json.loads(tags["classes"]) == ["Adelie", "Chinstrap", "Gentoo"]
        assert set(json.loads(tags["feature_ranges"])) == set(MEASURES)
        info = mlflow.models.get_model_info("models:/penguins-xgboost@champion")
        assert "xgboost" in info.flavors and "sklearn" not in info.flavors
        assert [spec.name for spec in info.signature.inputs.inputs] == MEASURES
        pyfunc = mlflow.pyfunc.load_model("models:/penguins-xgboost@champion")
        labels = np.asarray(pyfunc.predict(PENGUIN_ROWS[MEASURES].head(3)))
        assert [json.loads(tags["classes"])[i] for i in labels] == EXPECTED_SPECIES
