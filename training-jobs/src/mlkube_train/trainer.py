"""What every trainer does around its model: one MLflow run per model, params and metrics, the confusion matrix,
registration, signing and the champion rule (publish.register), the result line and the Pushgateway push
(publish.report), and a pushed failure for every model a failing job was training.

A trainer says which models it trains and how to prepare the data, and for each model only its params, how to fit
it, what it predicts on the test set and how to log it.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from . import model_tags, publish
from .evaluation import classification_metrics, confusion_figure
from .jobrun import tracked_run
from .provenance import code_version
from .results import ModelResult
from .settings import BoostedSettings, DigitsSettings, PenguinsSettings
from .tracking import ensure_experiment, transient_guard

# The settings of a training job: each has its experiment and its promotion metric.
S = TypeVar("S", PenguinsSettings, DigitsSettings, BoostedSettings)


@dataclass(frozen=True)
class ModelSpec:
    """One model a trainer trains: its algorithm, the registered model it becomes a version of."""

    algorithm: str
    registered_name: str
    description: str  # of the registered model, set when it is created


@dataclass(frozen=True)
class PreparedData:
    """What the versions record of the training data."""

    sha256: str
    class_share: dict[str, float]  # {class: share of the training rows}


@dataclass(frozen=True)
class Evaluation:
    """The fitted model's answers on the test set, and the trainer's own metrics besides the classification ones."""

    y_true: Any
    y_pred: Any
    labels: Sequence
    extra_metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedModel:
    """Where the model to register was logged, and the trainer's own version tags."""

    uri: str
    tags: dict[str, str] = field(default_factory=dict)


class Trainer(ABC, Generic[S]):
    name: ClassVar[str]  # the trainer tag, run name prefix and Pushgateway job

    def __init__(self, settings: S, tracking_uri: str) -> None:
        self.settings: S = settings
        self.tracking_uri = tracking_uri

    @abstractmethod
    def models(self) -> list[ModelSpec]: ...

    @abstractmethod
    def prepare(self) -> PreparedData:
        """Load and split the data (kept on self for fit and evaluate), once for all models."""

    def run_tags(self) -> dict[str, str]:
        """Run tags besides the provenance ones."""
        return {}

    @abstractmethod
    def params(self, spec: ModelSpec) -> dict[str, Any]: ...

    @abstractmethod
    def fit(self, spec: ModelSpec) -> Any:
        """The fitted model (inside the run: may log more params or per-epoch metrics)."""

    @abstractmethod
    def evaluate(self, spec: ModelSpec, model: Any) -> Evaluation: ...

    @abstractmethod
    def log_model(self, spec: ModelSpec, model: Any, metrics: dict[str, float]) -> LoggedModel: ...

    def run(self) -> list[ModelResult]:
        specs = self.models()
        with publish.failures_reported(self.settings, self.name, [s.algorithm for s in specs]):
            data = self.prepare()
            experiment_id = transient_guard(
                "creating the experiment", lambda: ensure_experiment(self.settings.experiment, self.tracking_uri)
            )
        results = []
        for spec in specs:
            with publish.failures_reported(self.settings, self.name, [spec.algorithm]):
                results.append(self._train(spec, data, experiment_id))
        return results

    def _train(self, spec: ModelSpec, data: PreparedData, experiment_id: str) -> ModelResult:
        import mlflow

        started = time.monotonic()
        metric = self.settings.promotion_metric
        version_code = code_version()
        tags = {
            model_tags.TAG_TRAINER: self.name,
            model_tags.TAG_ALGORITHM: spec.algorithm,
            model_tags.TAG_CODE_VERSION: version_code,
            **self.run_tags(),
        }
        with tracked_run(experiment_id, f"{self.name}-{spec.algorithm}", tags) as run_id:
            mlflow.log_params(self.params(spec))
            model = self.fit(spec)
            evaluation = self.evaluate(spec, model)
            metrics = classification_metrics(evaluation.y_true, evaluation.y_pred, evaluation.labels)
            metrics |= evaluation.extra_metrics
            mlflow.log_metrics(metrics)
            title = f"{self.name} {spec.algorithm}"
            figure = confusion_figure(evaluation.y_true, evaluation.y_pred, evaluation.labels, title)
            mlflow.log_figure(figure, "confusion_matrix.png")
            logged = self.log_model(spec, model, metrics)
            candidate = publish.Candidate(
                trainer=self.name,
                algorithm=spec.algorithm,
                model_name=spec.registered_name,
                description=spec.description,
                model_uri=logged.uri,
                run_id=run_id,
                metrics=metrics,
                code_version=version_code,
                data_sha256=data.sha256,
                class_share=data.class_share,
                tags={model_tags.TAG_CLASS_SHARE: json.dumps(data.class_share, sort_keys=True), **logged.tags},
            )
            registered = publish.register(candidate, self.settings, metric)
        return publish.report(candidate, registered, self.settings, metric, started)
