"""Registers the model versions the progressive scenarios roll out, through MLflow's own client."""

from __future__ import annotations

import os

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.models import Model

from mlkube_train.model_tags import TAG_ARTIFACT_DIGEST, TAG_SIGNATURE

# The Pipelines the trainer logs, and the extra types their skops files need (training-jobs).
from mlkube_train.penguins.pipeline import CLASSIFIER_STEP, SKOPS_TRUSTED_TYPES
from mlkube_train.provenance import models_code_path
from mlkube_train.signing import Signer

# A signature covers one version's number and artifacts: copies are signed anew, as the trainer signs its own.
NOT_COPIED = (TAG_SIGNATURE, TAG_ARTIFACT_DIGEST)


def _sign(mlflow_url: str, model: str, version: str) -> None:
    """With the platform's key (the session fixture puts the mlflow chart's Secret in MLKUBE_TRAIN_SIGNING_KEY):
    the servers load only signed versions."""
    mlflow.set_tracking_uri(mlflow_url)
    mlflow.set_registry_uri(mlflow_url)  # the signer downloads models:/ URIs through the registry
    Signer(os.environ["MLKUBE_TRAIN_SIGNING_KEY"]).sign_version(client(mlflow_url), model, version)


def client(mlflow_url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)


def copy_of(mlflow_url: str, model: str, version: str) -> str:
    """A new version with the same artifacts and tags: a challenger that answers as `version` does."""
    registry = client(mlflow_url)
    source = registry.get_model_version(model, version)
    copied = registry.copy_model_version(f"models:/{model}/{version}", model)
    for key, value in (source.tags or {}).items():
        if key not in NOT_COPIED:
            registry.set_model_version_tag(model, copied.version, key, value)
    _sign(mlflow_url, model, str(copied.version))
    return str(copied.version)


def constant_species(mlflow_url: str, model: str, version: str, species: str) -> str:
    """A version whose classifier answers `species` for every penguin: the champion's Pipeline (imputers,
    features, encoders) with its last step replaced, logged and registered the way the trainer does."""
    from sklearn.dummy import DummyClassifier

    def constant(pipeline, classes):
        return DummyClassifier(strategy="constant", constant=species).fit([[0.0]] * len(classes), classes)

    return _with_classifier(
        mlflow_url, model, version, constant, f"always-{species}", ["sklearn.dummy.DummyClassifier"]
    )


def slow(mlflow_url: str, model: str, version: str, estimators: int = 500) -> str:
    """A version that answers about as well as the champion but an order of magnitude slower: a bagging
    ensemble of brute-force nearest-neighbour classifiers, fitted on the Penguins training split as the
    champion's Pipeline transforms it (each request walks every member in Python).

    Its answers must take well over 100 ms even on a quiet machine: the p99 ratio divides by the chart's 50 ms
    floor, so answers in the histogram's (0.05, 0.1] bucket give at most 2x, under the 2.5x threshold, and
    such a version would be promoted. 60 members answered in 60-120 ms, on either side of that line;
    500 take about 0.5 s on the loaded 2-core machine (20 MB, loaded in about a second)."""
    from sklearn.ensemble import BaggingClassifier
    from sklearn.neighbors import KNeighborsClassifier

    from mlkube_train.penguins.data import load_dataset

    def bagging(pipeline, classes):
        data = load_dataset(None, test_size=0.2, seed=0, min_per_class=5)
        features = pipeline[:-1].transform(data.x_train)
        members = KNeighborsClassifier(algorithm="brute")
        return BaggingClassifier(members, n_estimators=estimators, random_state=0).fit(features, data.y_train)

    return _with_classifier(mlflow_url, model, version, bagging, f"bagging-{estimators}-knn", [])


def _with_classifier(mlflow_url: str, model: str, version: str, make, run_name: str, trusted: list[str]) -> str:
    """Registers `version`'s Pipeline with its classifier replaced by `make(pipeline, classes)`."""
    registry = client(mlflow_url)
    mlflow.set_tracking_uri(mlflow_url)
    mlflow.set_registry_uri(mlflow_url)
    uri = f"models:/{model}/{version}"
    pipeline = mlflow.sklearn.load_model(uri)
    classes = [str(c) for c in pipeline.classes_]
    pipeline.steps[-1] = (CLASSIFIER_STEP, make(pipeline, classes))
    signature = Model.load(uri).signature
    mlflow.set_experiment("mlkube-e2e-progressive")
    with mlflow.start_run(run_name=run_name):
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            serialization_format="skops",
            signature=signature,
            skops_trusted_types=[*SKOPS_TRUSTED_TYPES, *trusted],
            # As the trainer logs it: the Pipeline's feature steps live in mlkube_models. Without the code, a
            # server loads this version only if another model has put mlkube_models on its path first: models
            # load in parallel, and both live canaries of one CI run failed it (models-loaded 0.667: aborted unseen).
            code_paths=[models_code_path()],
            registered_model_name=model,
        )
    registered = str(info.registered_model_version)
    for key, value in (registry.get_model_version(model, version).tags or {}).items():
        if key not in NOT_COPIED:
            registry.set_model_version_tag(model, registered, key, value)
    _sign(mlflow_url, model, registered)
    return registered
