"""What every kind's loader gets and may raise, and the version tags the trainers write that kinds read."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import model_tags
from ..models import ImageSpec, ModelIdentity
from ..schema import Column, TabularSchema
from ..settings import ServerSettings


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


@dataclass(frozen=True)
class Artifact:
    """A downloaded MLflow model: where it lies, its parsed MLmodel, and when loading it started."""

    resolved: Resolved
    local: Path
    mlmodel: Any  # mlflow.models.Model
    started: float

    @property
    def name(self) -> str:
        return self.resolved.name

    def fail(self, why: str) -> ModelLoadError:
        return ModelLoadError(f"model {self.resolved.name}: {why}")

    def identity(self, flavor: str) -> ModelIdentity:
        r = self.resolved
        return ModelIdentity(
            name=r.name,
            uri=r.uri,
            version=r.version,
            alias=r.alias,
            run_id=r.run_id,
            flavor=flavor,
            tags=r.tags,
            load_seconds=time.perf_counter() - self.started,
        )

    def flavor_conf(self, flavor: str) -> dict[str, Any]:
        return dict(self.mlmodel.flavors.get(flavor) or {})


def training_ranges(tags: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Numeric feature ranges the training job recorded in the version's feature_ranges tag (JSON)."""
    try:
        recorded = json.loads(tags.get(model_tags.TAG_FEATURE_RANGES, "{}"))
    except ValueError:
        return {}
    if not isinstance(recorded, dict):
        return {}
    ranges: dict[str, tuple[float, float]] = {}
    for feature, bounds in recorded.items():
        pair = _bounds(bounds)
        if pair is not None:
            ranges[feature] = pair
    return ranges


def training_categories(tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """String values seen in training per column (tag ``feature_categories``, JSON) when the trainer sets it."""
    try:
        value = json.loads(tags.get(model_tags.TAG_FEATURE_CATEGORIES, "{}"))
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): tuple(str(x) for x in v) for k, v in value.items() if isinstance(v, list) and v}


def _bounds(bounds: Any) -> tuple[float, float] | None:
    if isinstance(bounds, dict) and "min" in bounds and "max" in bounds:
        return float(bounds["min"]), float(bounds["max"])
    if isinstance(bounds, (list, tuple)) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds):
        return float(bounds[0]), float(bounds[1])
    return None


def class_names(tags: dict[str, str]) -> list[str] | None:
    for key in model_tags.CLASS_NAME_TAGS:
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
        pixel_max=float(tags.get(model_tags.TAG_INPUT_PIXEL_MAX, 16.0)),
        mean=float(tags.get(model_tags.TAG_INPUT_MEAN, 0.0)),
        std=float(tags.get(model_tags.TAG_INPUT_STD, 1.0)),
    )


def signature_image_shape(artifact: Artifact) -> tuple[int, ...] | None:
    """The per-sample shape of a tensor signature's one input ((-1, 1, 8, 8) -> (1, 8, 8)); None without one."""
    signature = artifact.mlmodel.signature
    if signature is None or signature.inputs is None or not signature.inputs.is_tensor_spec():
        return None
    shape = tuple(int(d) for d in signature.inputs.inputs[0].shape)
    return shape[1:] if len(shape) >= 3 else None


def column_schema(
    artifact: Artifact, settings: ServerSettings, categories: dict[str, tuple[str, ...]]
) -> TabularSchema:
    """The columns of the signature, with the categories and training ranges known for them."""
    signature = artifact.mlmodel.signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        raise artifact.fail(
            f"{artifact.resolved.uri} has no column signature; log it with an input example or a signature"
        )
    ranges = training_ranges(artifact.resolved.tags)
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
    return TabularSchema(columns, range_tolerance=settings.range_tolerance, check_ranges=settings.validate_ranges)
