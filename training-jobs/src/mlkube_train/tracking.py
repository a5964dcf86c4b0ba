"""Where runs go (embedded SQLite by default, or an MLflow server) and how long we try to reach it."""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import TransientError
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


def wait_for_server(uri: str, settings: JobSettings) -> None:
    health = uri.rstrip("/") + "/health"
    attempts = settings.mlflow_retries + 1
    delay = settings.mlflow_retry_backoff_s
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(health, timeout=settings.mlflow_timeout_s) as response:  # noqa: S310
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < attempts:
            log.warning(
                "MLflow at %s not reachable (%s), retry %d/%d in %.1fs", uri, last, attempt, attempts - 1, delay
            )
            time.sleep(delay)
            delay *= 2
    raise TransientError(
        f"MLflow tracking server {uri} unreachable after {attempts} attempts ({last}); "
        "check MLFLOW_TRACKING_URI and that the server is up, then retry"
    )


_TRANSIENT_MARKERS = (
    "Max retries exceeded",
    "Connection refused",
    "ConnectionError",
    "Read timed out",
    "Temporary failure in name resolution",
    "503",
    "502",
    "504",
)


def is_transient(exc: BaseException) -> bool:
    """True for errors that mean "the tracking server did not answer" rather than "you asked wrongly"."""
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return True
    text = str(exc)
    return any(marker in text for marker in _TRANSIENT_MARKERS) and ("API request" in text or "HTTP" in text)


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
