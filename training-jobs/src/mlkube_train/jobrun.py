"""The life of one MLflow run: tags, failure marking, and turning lost connections into exit code 3."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from .errors import TrainError, TransientError
from .model_tags import RUN_TAG_FAILURE
from .retry import is_transient
from .tracking import transient_guard

log = logging.getLogger(__name__)


@contextlib.contextmanager
def tracked_run(experiment_id: str, run_name: str, tags: dict[str, str]) -> Iterator[str]:
    """Start a run and yield its id; on any exception end it FAILED with the reason as a tag and re-raise."""
    import mlflow
    from mlflow import MlflowClient

    run = transient_guard(
        "starting the run", lambda: mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
    )
    run_id = run.info.run_id
    try:
        yield run_id
    except BaseException as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not is_transient(exc):
            with contextlib.suppress(Exception):
                MlflowClient().set_tag(run_id, RUN_TAG_FAILURE, reason[:4000])
        with contextlib.suppress(Exception):
            mlflow.end_run(status="FAILED")
        if is_transient(exc) and not isinstance(exc, TrainError):
            raise TransientError(f"MLflow unreachable during run {run_id}; retry when the server is back") from exc
        raise
    else:
        transient_guard("finishing the run", lambda: mlflow.end_run(status="FINISHED"))
