"""The ending every trainer shares, so that a trainer only fits, evaluates and logs its model.

`register` (inside the tracked run, so a failure marks the run failed): a new version of the registered model with
the provenance tags every version carries, then the champion rule; a failed decision deletes the version, so no
half-registered version is left behind. `report` (after the run): the result line, the Pushgateway success.
`failures_reported` pushes the failure of every algorithm a trainer was training when it raises.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from . import model_tags, registry
from .pushgateway import push_failure, push_success
from .registry import Promotion
from .results import ModelResult
from .settings import JobSettings
from .signing import Signer


@dataclass(frozen=True)
class Candidate:
    """A logged model about to become a version: what the trainer fitted, measured and where it logged it."""

    trainer: str
    algorithm: str
    model_name: str
    description: str  # of the registered model, set when it is created
    model_uri: str
    run_id: str
    metrics: dict[str, float]
    code_version: str
    data_sha256: str
    class_share: dict[str, float]
    tags: dict[str, str] = field(default_factory=dict)  # the trainer's own version tags


@dataclass(frozen=True)
class Registered:
    version: str
    promotion: Promotion


def register(candidate: Candidate, settings: JobSettings, metric: str) -> Registered:
    from mlflow import MlflowClient

    client = MlflowClient()
    registry.ensure_registered_model(client, candidate.model_name, candidate.description)
    version_tags = {
        model_tags.TAG_TRAINER: candidate.trainer,
        model_tags.TAG_ALGORITHM: candidate.algorithm,
        model_tags.TAG_CODE_VERSION: candidate.code_version,
        model_tags.TAG_DATA_SHA256: candidate.data_sha256,
        **candidate.tags,
    }
    by_trainer = settings.champion_by == registry.CHAMPION_BY_TRAINER
    signer = Signer(settings.signing_key.get_secret_value()) if settings.signing_key else None
    version = registry.register_version(
        client, candidate.model_name, candidate.model_uri, candidate.run_id, version_tags, by_trainer, signer
    )
    try:
        promotion = registry.decide_champion(
            client,
            candidate.model_name,
            version.version,
            metric,
            candidate.metrics[metric],
            settings.champion_by,
        )
    except BaseException:
        registry.delete_version_quietly(client, candidate.model_name, version.version)
        raise
    return Registered(str(version.version), promotion)


def report(
    candidate: Candidate, registered: Registered, settings: JobSettings, metric: str, started: float
) -> ModelResult:
    result = ModelResult(
        trainer=candidate.trainer,
        algorithm=candidate.algorithm,
        model_name=candidate.model_name,
        version=registered.version,
        run_id=candidate.run_id,
        metrics=candidate.metrics,
        promotion=registered.promotion,
        duration_s=time.monotonic() - started,
        class_share=candidate.class_share,
    )
    print(result.line(metric), flush=True)
    push_success(settings.pushgateway_url, result)
    return result


@contextlib.contextmanager
def failures_reported(settings: JobSettings, trainer: str, algorithms: Iterable[str]) -> Iterator[None]:
    """Any exception (interrupts included) counts as a failed run of each algorithm, for the training alerts."""
    try:
        yield
    except BaseException:
        for algorithm in algorithms:
            push_failure(settings.pushgateway_url, trainer, algorithm)
        raise
