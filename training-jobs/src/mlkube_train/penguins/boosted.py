"""The bring-your-own-flavor example: an XGBoost classifier of the penguins, logged with MLflow's xgboost
flavor (not a scikit-learn pipeline), so the model server serves it through mlflow.pyfunc.

It takes the four body measurements only (XGBoost handles their missing values itself); species are
label-encoded 0..2 for XGBoost and the version's ``classes`` tag names them for the server.
"""

from __future__ import annotations

import json
import time

from .. import model_tags, publish
from ..evaluation import classification_metrics, confusion_figure
from ..jobrun import tracked_run
from ..provenance import code_version, model_requirements
from ..results import ModelResult
from ..settings import BoostedSettings
from ..tracking import ensure_experiment, transient_guard
from .data import NUMERIC_FEATURES, SPECIES, load_dataset, training_profile

TRAINER = "penguins"
ALGORITHM = "xgboost"
REGISTERED_MODEL_NAME = "penguins-xgboost"


def train_boosted(settings: BoostedSettings, tracking_uri: str) -> ModelResult:
    with publish.failures_reported(settings, TRAINER, [ALGORITHM]):
        return _train(settings, tracking_uri)


def _train(settings: BoostedSettings, tracking_uri: str) -> ModelResult:
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature
    from xgboost import XGBClassifier

    started = time.monotonic()
    dataset = load_dataset(settings.data_path, settings.test_size, settings.seed, min_per_class=2)
    features = list(NUMERIC_FEATURES)
    x_train, x_test = dataset.x_train[features], dataset.x_test[features]
    index = {species: i for i, species in enumerate(SPECIES)}
    y_train = dataset.y_train.map(index).to_numpy()
    profile = training_profile(dataset.x_train, dataset.y_train)
    experiment_id = transient_guard(
        "creating the experiment", lambda: ensure_experiment(settings.experiment, tracking_uri)
    )
    version_code = code_version()
    tags = {
        model_tags.TAG_TRAINER: TRAINER,
        model_tags.TAG_ALGORITHM: ALGORITHM,
        model_tags.TAG_CODE_VERSION: version_code,
    }
    with tracked_run(experiment_id, f"penguins-{ALGORITHM}", tags) as run_id:
        params = {
            "n_estimators": settings.n_estimators,
            "max_depth": settings.max_depth,
            "learning_rate": settings.learning_rate,
        }
        mlflow.log_params({**params, "seed": settings.seed, "features": ",".join(features),
                           "data_sha256": dataset.sha256, "train_rows": len(x_train)})  # fmt: skip
        model = XGBClassifier(**params, random_state=settings.seed, n_jobs=1, tree_method="hist")
        model.fit(x_train, y_train)
        predictions = np.asarray(SPECIES)[model.predict(x_test)]
        metrics = classification_metrics(dataset.y_test, predictions, SPECIES)
        mlflow.log_metrics(metrics)
        mlflow.log_figure(confusion_figure(dataset.y_test, predictions, SPECIES, "penguins xgboost"),
                          "confusion_matrix.png")  # fmt: skip
        info = mlflow.xgboost.log_model(
            model,
            name="model",
            signature=infer_signature(x_train, model.predict(x_train)),
            input_example=x_train.dropna().head(3),
            model_format="ubj",
            pip_requirements=model_requirements("xgboost-cpu", "pandas", "numpy"),
        )
        ranges = {k: v for k, v in profile["feature_ranges"].items() if k in features}
        candidate = publish.Candidate(
            trainer=TRAINER,
            algorithm=ALGORITHM,
            model_name=REGISTERED_MODEL_NAME,
            description="Palmer penguins species classifier (XGBoost, body measurements only)",
            model_uri=info.model_uri,
            run_id=run_id,
            metrics=metrics,
            code_version=version_code,
            data_sha256=dataset.sha256,
            class_share=profile["training_class_share"],
            tags={
                model_tags.TAG_CLASSES: json.dumps(list(SPECIES)),
                model_tags.TAG_FEATURE_RANGES: json.dumps(ranges, sort_keys=True),
                model_tags.TAG_CLASS_SHARE: json.dumps(profile["training_class_share"], sort_keys=True),
            },
        )
        registered = publish.register(candidate, settings, settings.promotion_metric)
    return publish.report(candidate, registered, settings, settings.promotion_metric, started)
