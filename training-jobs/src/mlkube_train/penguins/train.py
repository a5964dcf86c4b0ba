"""Train, evaluate, log and register one penguins classifier per requested algorithm."""

from __future__ import annotations

import json
import logging
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.utils._param_validation import InvalidParameterError

from .. import registry
from ..errors import ConfigError
from ..evaluation import classification_metrics, confusion_figure
from ..jobrun import tracked_run
from ..provenance import code_version, model_requirements, models_code_path
from ..pushgateway import push_failure, push_success
from ..results import ModelResult
from ..settings import Algorithm, PenguinsSettings
from ..tracking import ensure_experiment, transient_guard
from .data import SPECIES, Dataset, load_dataset, training_profile
from .pipeline import REGISTERED_MODEL_NAMES, SKOPS_TRUSTED_TYPES, grid_param_name, make_pipeline, param_grid

TRAINER = "penguins"
# Model-version tags with the training profile (JSON); the model server validates inputs against
# feature_ranges/feature_categories and the class-mix alert compares live traffic with training_class_share.
TAG_FEATURE_RANGES = "feature_ranges"
TAG_FEATURE_CATEGORIES = "feature_categories"
TAG_CLASS_SHARE = "training_class_share"
PROFILE_ARTIFACT = "training_profile.json"  # the same three, as a run artifact next to the model

log = logging.getLogger(__name__)


def validate_grids(settings: PenguinsSettings) -> dict[Algorithm, dict]:
    """GridSearchCV grids for the requested algorithms; ConfigError for a parameter a classifier lacks."""
    return {a: param_grid(a, settings.grids[a], settings.seed) for a in settings.model}


def train_penguins(settings: PenguinsSettings, tracking_uri: str) -> list[ModelResult]:
    grids = validate_grids(settings)
    try:
        dataset = load_dataset(
            settings.data_path, settings.test_size, settings.seed, min_per_class=settings.cv_folds + 1
        )
        print(
            f"penguins data: {dataset.rows_total} rows ({dataset.rows_dropped} dropped), train {len(dataset.x_train)}, "
            f"test {len(dataset.x_test)}, sha256 {dataset.sha256[:12]}",
            flush=True,
        )
        experiment_id = transient_guard(
            "creating the experiment", lambda: ensure_experiment(settings.experiment, tracking_uri)
        )
    except BaseException:
        for algorithm in settings.model:
            push_failure(settings.pushgateway_url, TRAINER, algorithm.value)
        raise
    results = []
    for algorithm in settings.model:
        try:
            results.append(_train_one(settings, algorithm, grids[algorithm], dataset, experiment_id))
        except BaseException:
            push_failure(settings.pushgateway_url, TRAINER, algorithm.value)
            raise
    return results


def _train_one(
    settings: PenguinsSettings, algorithm: Algorithm, grid: dict, dataset: Dataset, experiment_id: str
) -> ModelResult:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    started = time.monotonic()
    name = REGISTERED_MODEL_NAMES[algorithm]
    version_code = code_version()
    profile = training_profile(dataset.x_train, dataset.y_train)
    tags = {"trainer": TRAINER, "algorithm": algorithm.value, "code_version": version_code}
    with tracked_run(experiment_id, f"penguins-{algorithm.value}", tags) as run_id:
        mlflow.log_params(
            {
                "algorithm": algorithm.value,
                "seed": settings.seed,
                "test_size": settings.test_size,
                "cv_folds": settings.cv_folds,
                "grid": json.dumps({grid_param_name(algorithm, k): v for k, v in grid.items()}),
                "data_source": dataset.source,
                "data_sha256": dataset.sha256,
                "data_rows": dataset.rows_total,
                "data_rows_dropped": dataset.rows_dropped,
                "train_rows": len(dataset.x_train),
                "test_rows": len(dataset.x_test),
            }
        )
        search = GridSearchCV(
            make_pipeline(algorithm, settings.seed),
            grid,
            cv=StratifiedKFold(n_splits=settings.cv_folds, shuffle=True, random_state=settings.seed),
            scoring="accuracy",
            n_jobs=settings.n_jobs,
            error_score="raise",
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                search.fit(dataset.x_train, dataset.y_train)
        except InvalidParameterError as exc:
            raise ConfigError(f"invalid setting grids.{algorithm.value}: {str(exc).splitlines()[0]}") from None
        mlflow.log_params({f"best_{grid_param_name(algorithm, k)}": v for k, v in search.best_params_.items()})
        model = search.best_estimator_
        predictions = model.predict(dataset.x_test)
        metrics = classification_metrics(dataset.y_test, predictions, SPECIES)
        metrics["cv_best_score"] = float(search.best_score_)
        metrics["cv_fit_seconds_mean"] = float(np.mean(search.cv_results_["mean_fit_time"]))
        mlflow.log_metrics(metrics)
        mlflow.log_figure(
            confusion_figure(dataset.y_test, predictions, SPECIES, f"penguins {algorithm.value}"),
            "confusion_matrix.png",
        )
        mlflow.log_dict(profile, PROFILE_ARTIFACT)
        example = dataset.x_train.dropna().head(3)
        signature = infer_signature(dataset.x_train, model.predict(dataset.x_train))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            code_paths=[models_code_path()],
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
            pip_requirements=model_requirements("scikit-learn", "pandas", "numpy", "skops"),
        )
        client = MlflowClient()
        registry.ensure_registered_model(client, name, f"Palmer penguins species classifier ({algorithm.value})")
        version_tags = {
            registry.TAG_TRAINER: TRAINER,
            registry.TAG_ALGORITHM: algorithm.value,
            registry.TAG_CODE_VERSION: version_code,
            registry.TAG_DATA_SHA256: dataset.sha256,
            TAG_FEATURE_RANGES: json.dumps(profile["feature_ranges"], sort_keys=True),
            TAG_FEATURE_CATEGORIES: json.dumps(profile["feature_categories"], sort_keys=True),
            TAG_CLASS_SHARE: json.dumps(profile["training_class_share"], sort_keys=True),
        }
        by_trainer = settings.champion_by == registry.CHAMPION_BY_TRAINER
        version = registry.register_version(client, name, info.model_uri, run_id, version_tags, challenger=by_trainer)
        try:
            promotion = registry.decide_champion(
                client,
                name,
                version.version,
                settings.promotion_metric,
                metrics[settings.promotion_metric],
                settings.champion_by,
            )
        except BaseException:
            registry.delete_version_quietly(client, name, version.version)
            raise
    result = ModelResult(
        trainer=TRAINER,
        algorithm=algorithm.value,
        model_name=name,
        version=str(version.version),
        run_id=run_id,
        metrics=metrics,
        promotion=promotion,
        duration_s=time.monotonic() - started,
        class_share=profile["training_class_share"],
    )
    print(result.line(settings.promotion_metric), flush=True)
    push_success(settings.pushgateway_url, result)
    return result
