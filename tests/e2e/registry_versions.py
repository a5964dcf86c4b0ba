"""Registers the model versions the progressive scenarios roll out, through MLflow's own client."""

from __future__ import annotations

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.models import Model

# The Pipelines the trainer logs, and the extra types their skops files need (training-jobs).
from mlkube_train.penguins.pipeline import CLASSIFIER_STEP, SKOPS_TRUSTED_TYPES


def client(mlflow_url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)


def copy_of(mlflow_url: str, model: str, version: str) -> str:
    """A new version with the same artifacts and tags: a challenger that answers as `version` does."""
    registry = client(mlflow_url)
    source = registry.get_model_version(model, version)
    copied = registry.copy_model_version(f"models:/{model}/{version}", model)
    for key, value in (source.tags or {}).items():
        registry.set_model_version_tag(model, copied.version, key, value)
    return str(copied.version)


def constant_species(mlflow_url: str, model: str, version: str, species: str) -> str:
    """A version whose classifier answers `species` for every penguin: the champion's Pipeline (imputers,
    features, encoders) with its last step replaced, logged and registered the way the trainer does."""
    from sklearn.dummy import DummyClassifier

    registry = client(mlflow_url)
    mlflow.set_tracking_uri(mlflow_url)
    mlflow.set_registry_uri(mlflow_url)
    uri = f"models:/{model}/{version}"
    pipeline = mlflow.sklearn.load_model(uri)
    classes = [str(c) for c in pipeline.classes_]
    constant = DummyClassifier(strategy="constant", constant=species).fit([[0.0]] * len(classes), classes)
    pipeline.steps[-1] = (CLASSIFIER_STEP, constant)
    signature = Model.load(uri).signature
    mlflow.set_experiment("mlkube-e2e-progressive")
    with mlflow.start_run(run_name=f"always-{species}"):
        info = mlflow.sklearn.log_model(
            pipeline, name="model", serialization_format="skops", signature=signature,
            skops_trusted_types=[*SKOPS_TRUSTED_TYPES, "sklearn.dummy.DummyClassifier"],
            registered_model_name=model,
        )
    registered = str(info.registered_model_version)
    for key, value in (registry.get_model_version(model, version).tags or {}).items():
        registry.set_model_version_tag(model, registered, key, value)
    return registered
