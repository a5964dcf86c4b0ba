"""The bring-your-own-flavor example: an XGBoost classifier of the penguins, logged with MLflow's xgboost
flavor (not a scikit-learn pipeline), so the model server serves it through mlflow.pyfunc.

It takes the four body measurements only (XGBoost handles their missing values itself); species are
label-encoded 0..2 for XGBoost and the version's ``classes`` tag names them for the server.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import model_tags
from ..provenance import model_requirements
from ..results import ModelResult
from ..settings import BoostedSettings
from ..trainer import Evaluation, LoggedModel, ModelSpec, PreparedData, Trainer
from .data import NUMERIC_FEATURES, SPECIES, Dataset, load_dataset, training_profile

ALGORITHM = "xgboost"
REGISTERED_MODEL_NAME = "penguins-xgboost"
FEATURES = list(NUMERIC_FEATURES)


def train_boosted(settings: BoostedSettings, tracking_uri: str) -> ModelResult:
    [result] = BoostedTrainer(settings, tracking_uri).run()
    return result


class BoostedTrainer(Trainer[BoostedSettings]):
    name = "penguins"
    dataset: Dataset
    profile: dict

    def models(self) -> list[ModelSpec]:
        description = "Palmer penguins species classifier (XGBoost, body measurements only)"
        return [ModelSpec(ALGORITHM, REGISTERED_MODEL_NAME, description)]

    def prepare(self) -> PreparedData:
        self.dataset = load_dataset(
            self.settings.data_path, self.settings.test_size, self.settings.seed, min_per_class=2
        )
        self.profile = training_profile(self.dataset.x_train, self.dataset.y_train)
        return PreparedData(self.dataset.sha256, self.profile["training_class_share"])

    def _model_params(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "n_estimators": settings.n_estimators,
            "max_depth": settings.max_depth,
            "learning_rate": settings.learning_rate,
        }

    def params(self, spec: ModelSpec) -> dict[str, Any]:
        return {**self._model_params(), "seed": self.settings.seed, "features": ",".join(FEATURES),
                "data_sha256": self.dataset.sha256, "train_rows": len(self.dataset.x_train)}  # fmt: skip

    def fit(self, spec: ModelSpec) -> Any:
        from xgboost import XGBClassifier

        model = XGBClassifier(**self._model_params(), random_state=self.settings.seed, n_jobs=1, tree_method="hist")
        index = {species: i for i, species in enumerate(SPECIES)}
        model.fit(self.dataset.x_train[FEATURES], self.dataset.y_train.map(index).to_numpy())
        return model

    def evaluate(self, spec: ModelSpec, model: Any) -> Evaluation:
        predictions = np.asarray(SPECIES)[model.predict(self.dataset.x_test[FEATURES])]
        return Evaluation(self.dataset.y_test, predictions, SPECIES)

    def log_model(self, spec: ModelSpec, model: Any, metrics: dict[str, float]) -> LoggedModel:
        import mlflow
        from mlflow.models import infer_signature

        x_train = self.dataset.x_train[FEATURES]
        info = mlflow.xgboost.log_model(
            model,
            name="model",
            signature=infer_signature(x_train, model.predict(x_train)),
            input_example=x_train.dropna().head(3),
            model_format="ubj",
            pip_requirements=model_requirements("xgboost-cpu", "pandas", "numpy"),
        )
        ranges = {k: v for k, v in self.profile["feature_ranges"].items() if k in FEATURES}
        tags = {
            model_tags.TAG_CLASSES: json.dumps(list(SPECIES)),
            model_tags.TAG_FEATURE_RANGES: json.dumps(ranges, sort_keys=True),
        }
        return LoggedModel(info.model_uri, tags)
