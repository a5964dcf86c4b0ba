"""Resolve an MLflow model URI, download its artifacts and build the served model.

``models:/name@alias`` is resolved to a concrete version first, so the version on every response and
metric is the one actually loaded, even when the alias moves during the download.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

from . import kinds, signing
from .kinds.base import Artifact, MlflowUnreachable, ModelLoadError, Resolved
from .models import ServedModel
from .retry import Backoff, GaveUp, is_transient, retry
from .settings import ServerSettings

__all__ = ["MlflowUnreachable", "ModelLoadError", "Resolved", "load_model", "resolve"]

log = logging.getLogger("mlkube_server.loader")
LOGGED_MODEL_URI = re.compile(r"models:/m-[0-9a-f]{32}")
# Models load on parallel threads; two threads importing MLflow for the first time at once see it partially
# initialised (its package imports are circular: ImportError on EvaluationDataset), so the first import is serialised.
_MLFLOW_IMPORT = threading.Lock()
# ...and the builds take turns: a build imports the model's framework (scikit-learn, ONNX Runtime, a pyfunc's
# packages) on first use, and two threads importing one package through different submodules can deadlock on
# Python's module locks (a canary pod raised _DeadlockError on sklearn.ensemble._forest: skops imported the forest
# for one model while trees.py imported it for another). A build is deserialisation that holds the GIL anyway;
# the downloads, the slow part, still overlap.
_BUILD = threading.Lock()


def _import_mlflow() -> None:
    with _MLFLOW_IMPORT:
        import mlflow  # noqa: F401
        import mlflow.artifacts  # noqa: F401
        import mlflow.models  # noqa: F401


# Our own retry loop logs one line per attempt; MLflow's internal HTTP retries (minutes) would hide them.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def load_model(name: str, uri: str, settings: ServerSettings) -> ServedModel:
    """Load with retries while MLflow is unreachable; raise ModelLoadError otherwise."""
    try:
        return retry(
            partial(_load_once, name, uri, settings),
            Backoff(settings.load_attempts, settings.load_backoff_seconds),
            f"model {name}: MLflow unreachable",
            transient=lambda exc: isinstance(exc, MlflowUnreachable),
            logger=log,
        )
    except GaveUp as exc:
        raise MlflowUnreachable(f"{exc.last}; gave up after {exc.attempts} attempts") from None


def _load_once(name: str, uri: str, settings: ServerSettings) -> ServedModel:
    started = time.perf_counter()
    _import_mlflow()
    resolved = resolve(name, uri, settings)
    settings.model_cache_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=settings.model_cache_dir))
    try:
        local = _download(resolved, workdir, settings)
        if settings.signing_certificate:
            signing.verify(resolved, local, settings.signing_certificate)
        model = _build(resolved, local, settings, started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return model


def resolve(name: str, uri: str, settings: ServerSettings) -> Resolved:
    if LOGGED_MODEL_URI.fullmatch(uri):  # MLflow 3's logged model (models:/m-<id>), not a registry version
        model_id = uri[len("models:/") :]
        return Resolved(name, uri, uri, f"logged-{model_id[2:10]}", None, None, {})
    if uri.startswith("models:/"):
        return _resolve_registry(name, uri, settings)
    if uri.startswith("runs:/"):
        run_id = uri[len("runs:/") :].split("/", 1)[0]
        return Resolved(name, uri, uri, f"run-{run_id[:8]}", None, run_id, {})
    path = Path(uri[len("file://") :] if uri.startswith("file://") else uri)
    if not (path / "MLmodel").is_file():
        raise ModelLoadError(f"model {name}: {uri} is not an MLflow model folder (no MLmodel file)")
    return Resolved(name, uri, str(path), settings.pod_model_version or "local", None, None, {})


def _client(settings: ServerSettings):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def _resolve_registry(name: str, uri: str, settings: ServerSettings) -> Resolved:
    body = uri[len("models:/") :]
    client = _client(settings)
    try:
        if "@" in body:
            registered, alias = body.split("@", 1)
            mv = client.get_model_version_by_alias(registered, alias)
        else:
            registered, _, version = body.partition("/")
            if not version or not version.isdigit():
                raise ModelLoadError(
                    f"model {name}: {uri} must name a version or an alias (models:/name/3, models:/name@champion)"
                )
            alias = None
            mv = client.get_model_version(registered, version)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below into retryable or final
        raise _classify(name, uri, exc) from None
    return Resolved(
        name=name,
        uri=uri,
        download_uri=f"models:/{registered}/{mv.version}",
        version=str(mv.version),
        alias=alias,
        run_id=mv.run_id,
        tags=dict(mv.tags or {}),
    )


def _download(resolved: Resolved, workdir: Path, settings: ServerSettings) -> Path:
    if not resolved.download_uri.startswith(("models:/", "runs:/")):
        return Path(resolved.download_uri)
    import mlflow
    import mlflow.artifacts

    if settings.tracking_uri:  # models:/ downloads ask the registry, which is the tracking server here
        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.set_registry_uri(settings.tracking_uri)
    try:
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=resolved.download_uri, dst_path=str(workdir), tracking_uri=settings.tracking_uri
            )
        )
    except Exception as exc:  # noqa: BLE001
        raise _classify(resolved.name, resolved.download_uri, exc) from None


def _classify(name: str, uri: str, exc: Exception) -> ModelLoadError:
    text = f"{type(exc).__name__}: {exc}"
    first_line = text.strip().splitlines()[0][:300]
    code = getattr(exc, "error_code", "")
    if is_transient(exc):
        return MlflowUnreachable(f"model {name}: cannot reach MLflow for {uri} ({first_line})")
    if code == "RESOURCE_DOES_NOT_EXIST" or "not found" in text.lower():
        return ModelLoadError(f"model {name}: {uri} does not exist in the MLflow registry")
    return ModelLoadError(f"model {name}: cannot load {uri} ({first_line})")


def _build(resolved: Resolved, local: Path, settings: ServerSettings, started: float) -> ServedModel:
    from mlflow.models import Model

    try:
        mlmodel = Model.load(str(local))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"model {resolved.name}: unreadable MLmodel in {resolved.uri} ({exc})") from None
    with _BUILD:
        return kinds.build(Artifact(resolved, local, mlmodel, started), settings)
