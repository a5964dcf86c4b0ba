"""Where runs go (embedded SQLite by default, or an MLflow server) and how long we try to reach it."""

from __future__ import annotations

import logging
import math
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from .errors import TransientError
from .retry import Backoff, GaveUp, is_transient, retry
from .settings import JobSettings

LOCAL_DIR = Path(".mlkube")
log = logging.getLogger(__name__)
T = TypeVar("T")


def default_tracking_uri(base: Path | None = None) -> str:
    folder = (base or Path.cwd()) / LOCAL_DIR
    return f"sqlite:///{(folder / 'mlruns.db').resolve()}"


def local_artifact_root(base: Path | None = None) -> str:
    return ((base or Path.cwd()) / LOCAL_DIR / "artifacts").resolve().as_uri()


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def configure_tracking(settings: JobSettings) -> str:
    """Point MLflow at the configured store, bound its HTTP retries, and check a server answers.

    Returns the tracking URI in use. Raises TransientError when a server stays unreachable.
    """
    import mlflow

    uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # MLflow's own HTTP retries default to 7 attempts with a growing backoff (minutes); ours are bounded.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(settings.mlflow_retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = str(max(1, int(settings.mlflow_retry_backoff_s)))
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0.5"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(settings.mlflow_timeout_s)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if is_remote(uri):
        wait_for_server(uri, settings)
    return uri


class _NoHealthyAnswer(Exception):
    """The server's /health did not answer 200 (the reason: HTTP status or connection error)."""


def _check_health(url: str, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            if response.status == 200:
                return
            reason = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc))
    raise _NoHealthyAnswer(reason)


def wait_for_server(uri: str, settings: JobSettings) -> None:
    backoff = Backoff(settings.mlflow_retries + 1, settings.mlflow_retry_backoff_s, max_delay=math.inf)
    try:
        retry(
            partial(_check_health, uri.rstrip("/") + "/health", settings.mlflow_timeout_s),
            backoff,
            f"MLflow at {uri} not reachable",
            transient=lambda exc: isinstance(exc, _NoHealthyAnswer),
            logger=log,
        )
    except GaveUp as exc:
        raise TransientError(
            f"MLflow tracking server {uri} unreachable after {exc.attempts} attempts ({exc.last}); "
            "check MLFLOW_TRACKING_URI and that the server is up, then retry"
        ) from None


def transient_guard(action: str, fn: Callable[[], T]) -> T:
    """Run fn; turn a lost MLflow connection into TransientError with a one-line message."""
    try:
        return fn()
    except Exception as exc:
        if is_transient(exc):
            raise TransientError(f"MLflow unreachable while {action}; retry when the server is back") from exc
        raise


def ensure_experiment(name: str, uri: str) -> str:
    """The experiment id, creating it (artifacts under ./.mlkube/artifacts for the embedded store)."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None if is_remote(uri) else f"{local_artifact_root()}/{name}"
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except Exception:
        # Another job created it first.
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
