"""Resolve an MLflow model URI, download its artifacts and build the served model.

``models:/name@alias`` is resolved to a concrete version first, so the version on every response and
metric is the one actually loaded, even when the alias moves during the download.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import ImageSpec, ModelIdentity, ServedModel, TabularModel, TensorModel
from .schema import Column, TabularSchema, encoder_categories
from .settings import ServerSettings

log = logging.getLogger("mlkube_server.loader")

# Our own retry loop logs one line per attempt; MLflow's internal HTTP retries (minutes) would hide them.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

TORCH_MISSING = (
    "PyTorch is not installed in this server; install mlkube-server[torch] "
    "(image: build with --build-arg WITH_TORCH=1)"
)


class ModelLoadError(Exception):
    """A model could not be loaded; the message says which and why in one line."""


class MlflowUnreachable(ModelLoadError):
    """Transient: the tracking server or artifact store did not answer."""


@dataclass(frozen=True)
class Resolved:
    name: str
    uri: str
    download_uri: str
    version: str
    alias: str | None
    run_id: str | None
    tags: dict[str, str]


def load_model(name: str, uri: str, settings: ServerSettings) -> ServedModel:
    """Load with retries while MLflow is unreachable; raise ModelLoadError otherwise."""
    delay = settings.load_backoff_seconds
    for attempt in range(1, settings.load_attempts + 1):
        try:
            return _load_once(name, uri, settings)
        except MlflowUnreachable as exc:
            if attempt == settings.load_attempts:
                raise MlflowUnreachable(f"{exc}; gave up after {attempt} attempts") from None
            log.warning(
                "model %s: MLflow unreachable (attempt %d/%d): %s; retrying in %.1fs",
                name, attempt, settings.load_attempts, exc, delay,
            )  # fmt: skip
            time.sleep(delay)
            delay = min(max(delay * 2, 0.5), 30.0)
    raise AssertionError("unreachable")


def _load_once(name: str, uri: str, settings: ServerSettings) -> ServedModel:
    started = time.perf_counter()
    resolved = resolve(name, uri, settings)
    settings.model_cache_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=settings.model_cache_dir))
    try:
        local = _download(resolved, workdir, settings)
        model = _build(resolved, local, settings, started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return model


def resolve(name: str, uri: str, settings: ServerSettings) -> Resolved:
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
    transient_words = ("Connection", "Max retries", "timed out", "Timeout", "503", "502", "temporarily")
    if code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") and any(
        word in text for word in transient_words
    ):
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
    flavors = mlmodel.flavors
    if "sklearn" in flavors:
        return _build_sklearn(resolved, local, mlmodel, settings, started)
    if "pytorch" in flavors:
        return _build_pytorch(resolved, local, mlmodel, started)
    raise ModelLoadError(
        f"model {resolved.name}: flavor(s) {sorted(flavors)} not supported; the server serves sklearn and pytorch"
    )


def _identity(resolved: Resolved, flavor: str, started: float) -> ModelIdentity:
    return ModelIdentity(
        name=resolved.name,
        uri=resolved.uri,
        version=resolved.version,
        alias=resolved.alias,
        run_id=resolved.run_id,
        flavor=flavor,
        tags=resolved.tags,
        load_seconds=time.perf_counter() - started,
    )


def _build_sklearn(
    resolved: Resolved, local: Path, mlmodel: Any, settings: ServerSettings, started: float
) -> TabularModel:
    import mlflow.sklearn

    try:
        estimator = mlflow.sklearn.load_model(str(local))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"model {resolved.name}: scikit-learn could not load {resolved.uri} ({exc})") from None
    if not hasattr(estimator, "classes_"):
        raise ModelLoadError(f"model {resolved.name}: {resolved.uri} is not a fitted classifier (no classes_)")
    signature = mlmodel.signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        raise ModelLoadError(
            f"model {resolved.name}: {resolved.uri} has no column signature; log it with an input example"
        )
    categories = {**encoder_categories(estimator), **training_categories(resolved.tags)}
    ranges = training_ranges(resolved.tags, local)
    columns = []
    for spec in signature.inputs.inputs:
        low, high = ranges.get(spec.name, (None, None))
        columns.append(
            Column(
                name=spec.name,
                type=spec.type.name,
                required=bool(getattr(spec, "required", True)),
                categories=categories.get(spec.name),
                minimum=low,
                maximum=high,
            )
        )
    schema = TabularSchema(columns, range_tolerance=settings.range_tolerance, check_ranges=settings.validate_ranges)
    return TabularModel(_identity(resolved, "sklearn", started), estimator, schema, settings.compile_trees)


def _build_pytorch(resolved: Resolved, local: Path, mlmodel: Any, started: float) -> TensorModel:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ModelLoadError(f"model {resolved.name}: {TORCH_MISSING}") from None
    import mlflow.pytorch

    try:
        module = mlflow.pytorch.load_model(str(local), map_location="cpu")
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"model {resolved.name}: PyTorch could not load {resolved.uri} ({exc})") from None
    signature = mlmodel.signature
    shape: tuple[int, ...] = (1, 8, 8)
    if signature is not None and signature.inputs is not None and signature.inputs.is_tensor_spec():
        spec_shape = tuple(int(d) for d in signature.inputs.inputs[0].shape)
        if len(spec_shape) >= 3:
            shape = spec_shape[1:]
    image = image_spec(resolved.tags, shape)
    classes = class_names(resolved.tags) or [str(i) for i in range(10)]
    return TensorModel(_identity(resolved, "pytorch", started), module, image, classes)


def training_ranges(tags: dict[str, str], local: Path) -> dict[str, tuple[float, float]]:
    """Numeric feature ranges recorded by the training job, from version tags or a logged JSON artifact."""
    candidates: list[Any] = []
    for key, value in tags.items():
        if "range" in key.lower():
            try:
                candidates.append(json.loads(value))
            except (TypeError, ValueError):
                continue
    for path in list(local.glob("*range*.json")) + list(local.glob("*/*range*.json")):
        try:
            candidates.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    ranges: dict[str, tuple[float, float]] = {}
    for candidate in candidates:
        if isinstance(candidate, dict):
            for feature, bounds in candidate.items():
                pair = _bounds(bounds)
                if pair is not None:
                    ranges[feature] = pair
    return ranges


def training_categories(tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """String values seen in training per column (tag ``feature_categories``, JSON) when the trainer sets it."""
    try:
        value = json.loads(tags.get("feature_categories", "{}"))
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        str(k): tuple(str(x) for x in v) for k, v in value.items() if isinstance(v, list) and v
    }


def _bounds(bounds: Any) -> tuple[float, float] | None:
    if isinstance(bounds, dict) and "min" in bounds and "max" in bounds:
        return float(bounds["min"]), float(bounds["max"])
    if isinstance(bounds, (list, tuple)) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds):
        return float(bounds[0]), float(bounds[1])
    return None


def class_names(tags: dict[str, str]) -> list[str] | None:
    for key in ("classes", "mlkube.classes", "class_names"):
        if key in tags:
            try:
                value = json.loads(tags[key])
            except ValueError:
                value = [part.strip() for part in tags[key].split(",")]
            if isinstance(value, list):
                return [str(v) for v in value]
    return None


def image_spec(tags: dict[str, str], shape: tuple[int, ...]) -> ImageSpec:
    """Input scaling from version tags when the trainer records them, else the digits trainer's contract."""
    return ImageSpec(
        shape=shape,
        pixel_max=float(tags.get("input_pixel_max", 16.0)),
        mean=float(tags.get("input_mean", 0.0)),
        std=float(tags.get("input_std", 1.0)),
    )
