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

from .. import model_tags, publish
from ..errors import ConfigError
from ..evaluation import classification_metrics, confusion_figure
from ..jobrun import tracked_run
from ..provenance import code_version, model_requirements, models_code_path
from ..results import ModelResult
from ..settings import Algorithm, PenguinsSettings
from ..tracking import ensure_experiment, transient_guard
from .data import SPECIES, Dataset, load_dataset, training_profile
from .pipeline import REGISTERED_MODEL_NAMES, SKOPS_TRUSTED_TYPES, grid_param_name, make_pipeline, param_grid

TRAINER = "penguins"
PROFILE_ARTIFACT = "training_profile.json"  # the same three, as a run artifact next to the model

log = logging.getLogger(__name__)


def validate_grids(settings: PenguinsSettings) -> dict[Algorithm, dict]:
    """GridSearchCV grids for the requested algorithms; ConfigError for a parameter a classifier lacks."""
    return {a: param_grid(a, settings.grids[a], settings.seed) for a in settings.model}


def train_penguins(settings: PenguinsSettings, tracking_uri: str) -> list[ModelResult]:
    grids = validate_grids(settings)
    with publish.failures_reported(settings, TRAINER, [a.value for a in settings.model]):
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
    results = []
    for algorithm in settings.model:
        with publish.failures_reported(settings, TRAINER, [algorithm.value]):
            results.append(_train_one(settings, algorithm, grids[algorithm], dataset, experiment_id))
    return results


def _train_one(
    settings: PenguinsSettings, algorithm: Algorithm, grid: dict, dataset: Dataset, experiment_id: str
) -> ModelResult:
    import mlflow
    from mlflow.models import infer_signature

    started = time.monotonic()
    name = REGISTERED_MODEL_NAMES[algorithm]
    version_code = code_version()
    profile = training_profile(dataset.x_train, dataset.y_train)
    tags = {
        model_tags.TAG_TRAINER: TRAINER,
        model_tags.TAG_ALGORITHM: algorithm.value,
        model_tags.TAG_CODE_VERSION: version_code,
    }
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
        candidate = publish.Candidate(
            trainer=TRAINER,
            algorithm=algorithm.value,
            model_name=name,
            description=f"Palmer penguins species classifier ({algorithm.value})",
            model_uri=info.model_uri,
            run_id=run_id,
            metrics=metrics,
            code_version=version_code,
            data_sha256=dataset.sha256,
            class_share=profile["training_class_share"],
            tags={
                model_tags.TAG_FEATURE_RANGES: json.dumps(profile["feature_ranges"], sort_keys=True),
                model_tags.TAG_FEATURE_CATEGORIES: json.dumps(profile["feature_categories"], sort_keys=True),
                model_tags.TAG_CLASS_SHARE: json.dumps(profile["training_class_share"], sort_keys=True),
            },
        )
        registered = publish.register(candidate, settings, settings.promotion_metric)
    return publish.report(candidate, registered, settings, settings.promotion_metric, started)
