"""What every served model is, whatever its kind: the identity MLflow gave it and the two input shapes.

A model takes table rows (``TabularModel``: columns from its MLflow signature) or image tensors
(``ImageModel``). Each kind in ``kinds/`` (scikit-learn, ONNX, PyTorch) subclasses one of them and
owns its loading and prediction; every kind answers ``predict_proba(batch) -> (rows, classes)``, and
``combine`` joins the parts of several requests into one batch so the micro-batcher makes one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .schema import TabularSchema


@dataclass(frozen=True)
class ModelIdentity:
    """Where a loaded model came from; ``version`` is what MLflow calls it (the metrics' version label)."""

    name: str
    uri: str
    version: str
    alias: str | None
    run_id: str | None
    flavor: str
    tags: dict[str, str] = field(default_factory=dict)
    load_seconds: float = 0.0


class ServedModel:
    kind = "abstract"

    def __init__(self, identity: ModelIdentity, classes: list[str]) -> None:
        self.identity = identity
        self.classes = classes

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def version(self) -> str:
        return self.identity.version

    def combine(self, parts: list[Any]) -> Any:
        raise NotImplementedError

    def predict_proba(self, batch: Any) -> np.ndarray:
        raise NotImplementedError

    def rows(self, part: Any) -> int:
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        ident = self.identity
        return {
            "name": ident.name,
            "uri": ident.uri,
            "version": ident.version,
            "alias": ident.alias,
            "run_id": ident.run_id,
            "flavor": ident.flavor,
            "kind": self.kind,
            "classes": self.classes,
            "load_seconds": round(ident.load_seconds, 3),
            "tags": ident.tags,
        }


class TabularModel(ServedModel):
    """A model over the named columns of its MLflow signature; subclasses predict."""

    kind = "tabular"

    def __init__(self, identity: ModelIdentity, classes: list[str], schema: TabularSchema) -> None:
        super().__init__(identity, classes)
        self.schema = schema

    def rows(self, part: dict[str, list[Any]]) -> int:
        return len(next(iter(part.values()), []))

    def combine(self, parts: list[dict[str, list[Any]]]) -> pd.DataFrame:
        return self.schema.frame(self.join(parts))

    def join(self, parts: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
        """The validated columns of several requests, one list per column."""
        if len(parts) == 1:
            return parts[0]
        joined: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        for part in parts:
            for name, values in part.items():
                joined[name].extend(values)
        return joined

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["inputs"] = [
            {
                "name": c.name,
                "type": c.type,
                "required": c.required,
                **({"categories": list(c.categories)} if c.categories else {}),
                **({"training_range": [c.minimum, c.maximum]} if c.minimum is not None else {}),
            }
            for c in self.schema.columns
        ]
        return meta


@dataclass(frozen=True)
class ImageSpec:
    """How an upload becomes the tensor the network was trained on.

    Pixels become ink intensities (dark-on-light uploads are inverted automatically), scaled to
    ``pixel_max`` (16 for scikit-learn's 8x8 digits, the trainer's contract), then ``(x - mean) / std``.
    """

    shape: tuple[int, ...]  # per-sample shape from the signature, e.g. (1, 8, 8)
    pixel_max: float = 16.0
    mean: float = 0.0
    std: float = 1.0

    @property
    def height(self) -> int:
        return self.shape[-2]

    @property
    def width(self) -> int:
        return self.shape[-1]


class ImageModel(ServedModel):
    """A classifier over float32 image tensors ``(N, *image.shape)``; subclasses run the network."""

    kind = "image"
    device = "cpu"

    def __init__(self, identity: ModelIdentity, image: ImageSpec, classes: list[str]) -> None:
        super().__init__(identity, classes)
        self.image = image

    def rows(self, part: np.ndarray) -> int:
        return int(part.shape[0])

    def combine(self, parts: list[np.ndarray]) -> np.ndarray:
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["inputs"] = [{"name": "image", "type": "float32", "shape": [-1, *self.image.shape]}]
        meta["device"] = self.device
        return meta


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64; of logits and of log-probabilities alike it gives the probabilities."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
