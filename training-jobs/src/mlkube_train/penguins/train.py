"""Train, evaluate, log and register one penguins classifier per requested algorithm (scikit-learn grid search)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.utils._param_validation import InvalidParameterError

from .. import model_tags
from ..errors import ConfigError
from ..provenance import model_requirements, models_code_path
from ..results import ModelResult
from ..settings import Algorithm, PenguinsSettings
from ..trainer import Evaluation, LoggedModel, ModelSpec, PreparedData, Trainer
from .data import SPECIES, Dataset, load_dataset, training_profile
from .pipeline import REGISTERED_MODEL_NAMES, SKOPS_TRUSTED_TYPES, grid_param_name, make_pipeline, param_grid

PROFILE_ARTIFACT = "training_profile.json"  # the version's profile tags, as a run artifact next to the model


def validate_grids(settings: PenguinsSettings) -> dict[Algorithm, dict]:
    """GridSearchCV grids for the requested algorithms; ConfigError for a parameter a classifier lacks."""
    return {a: param_grid(a, settings.grids[a], settings.seed) for a in settings.model}


def train_penguins(settings: PenguinsSettings, tracking_uri: str) -> list[ModelResult]:
    return PenguinsTrainer(settings, tracking_uri).run()


class PenguinsTrainer(Trainer[PenguinsSettings]):
    name = "penguins"
    dataset: Dataset
    profile: dict

    def __init__(self, settings: PenguinsSettings, tracking_uri: str) -> None:
        super().__init__(settings, tracking_uri)
        self.grids = {a.value: grid for a, grid in validate_grids(settings).items()}
        self.searches: dict[str, GridSearchCV] = {}

    def models(self) -> list[ModelSpec]:
        return [
            ModelSpec(a.value, REGISTERED_MODEL_NAMES[a], f"Palmer penguins species classifier ({a.value})")
            for a in self.settings.model
        ]

    def prepare(self) -> PreparedData:
        settings = self.settings
        self.dataset = load_dataset(
            settings.data_path, settings.test_size, settings.seed, min_per_class=settings.cv_folds + 1
        )
        dataset = self.dataset
        print(
            f"penguins data: {dataset.rows_total} rows ({dataset.rows_dropped} dropped), train {len(dataset.x_train)}, "
            f"test {len(dataset.x_test)}, sha256 {dataset.sha256[:12]}",
            flush=True,
        )
        self.profile = training_profile(dataset.x_train, dataset.y_train)
        return PreparedData(dataset.sha256, self.profile["training_class_share"])

    def params(self, spec: ModelSpec) -> dict[str, Any]:
        algorithm, dataset = Algorithm(spec.algorithm), self.dataset
        return {
            "algorithm": spec.algorithm,
            "seed": self.settings.seed,
            "test_size": self.settings.test_size,
            "cv_folds": self.settings.cv_folds,
            "grid": json.dumps({grid_param_name(algorithm, k): v for k, v in self.grids[spec.algorithm].items()}),
            "data_source": dataset.source,
            "data_sha256": dataset.sha256,
            "data_rows": dataset.rows_total,
            "data_rows_dropped": dataset.rows_dropped,
            "train_rows": len(dataset.x_train),
            "test_rows": len(dataset.x_test),
        }

    def fit(self, spec: ModelSpec) -> Any:
        import mlflow

        algorithm, settings = Algorithm(spec.algorithm), self.settings
        search = GridSearchCV(
            make_pipeline(algorithm, settings.seed),
            self.grids[spec.algorithm],
            cv=StratifiedKFold(n_splits=settings.cv_folds, shuffle=True, random_state=settings.seed),
            scoring="accuracy",
            n_jobs=settings.n_jobs,
            error_score="raise",
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                search.fit(self.dataset.x_train, self.dataset.y_train)
        except InvalidParameterError as exc:
            raise ConfigError(f"invalid setting grids.{spec.algorithm}: {str(exc).splitlines()[0]}") from None
        mlflow.log_params({f"best_{grid_param_name(algorithm, k)}": v for k, v in search.best_params_.items()})
        self.searches[spec.algorithm] = search
        return search.best_estimator_

    def evaluate(self, spec: ModelSpec, model: Any) -> Evaluation:
        search = self.searches[spec.algorithm]
        extra = {
            "cv_best_score": float(search.best_score_),
            "cv_fit_seconds_mean": float(np.mean(search.cv_results_["mean_fit_time"])),
        }
        return Evaluation(self.dataset.y_test, model.predict(self.dataset.x_test), SPECIES, extra)

    def log_model(self, spec: ModelSpec, model: Any, metrics: dict[str, float]) -> LoggedModel:
        import mlflow
        from mlflow.models import infer_signature

        x_train = self.dataset.x_train
        mlflow.log_dict(self.profile, PROFILE_ARTIFACT)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_train, model.predict(x_train)),
            input_example=x_train.dropna().head(3),
            code_paths=[models_code_path()],
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
            pip_requirements=model_requirements("scikit-learn", "pandas", "numpy", "skops"),
        )
        tags = {
            model_tags.TAG_FEATURE_RANGES: json.dumps(self.profile["feature_ranges"], sort_keys=True),
            model_tags.TAG_FEATURE_CATEGORIES: json.dumps(self.profile["feature_categories"], sort_keys=True),
        }
        return LoggedModel(info.model_uri, tags)
