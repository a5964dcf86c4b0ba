"""Models the server holds in memory: a tabular scikit-learn pipeline or a PyTorch image classifier.

Both answer ``predict_proba(batch) -> (rows, classes)``; ``combine`` joins the parts of several requests
into one batch so that the micro-batcher makes a single vectorised call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .schema import TabularSchema
from .trees import accelerate


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
    """A fitted scikit-learn pipeline taking the raw columns of its MLflow signature."""

    kind = "tabular"

    def __init__(self, identity: ModelIdentity, estimator: Any, schema: TabularSchema, compile_trees: bool = True) -> None:
        super().__init__(identity, [str(c) for c in estimator.classes_])
        self.estimator = estimator
        self.schema = schema
        self._has_proba = hasattr(estimator, "predict_proba")
        # A forest at the end of the pipeline is evaluated by trees.py when that reproduces scikit-learn.
        self._compiled = accelerate(estimator, schema.probe_frame()) if compile_trees else None

    def rows(self, part: dict[str, list[Any]]) -> int:
        return len(next(iter(part.values()), []))

    def combine(self, parts: list[dict[str, list[Any]]]) -> pd.DataFrame:
        if len(parts) == 1:
            return self.schema.frame(parts[0])
        joined: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        for part in parts:
            for name, values in part.items():
                joined[name].extend(values)
        return self.schema.frame(joined)

    def predict_proba(self, batch: pd.DataFrame) -> np.ndarray:
        if self._compiled is not None:
            return self._compiled(batch)
        if self._has_proba:
            return np.asarray(self.estimator.predict_proba(batch), dtype=np.float64)
        # A classifier without probabilities (e.g. SVC(probability=False)): certainty 1 for its answer.
        labels = self.estimator.predict(batch)
        index = {c: i for i, c in enumerate(self.estimator.classes_)}
        out = np.zeros((len(labels), len(self.classes)))
        out[np.arange(len(labels)), [index[label] for label in labels]] = 1.0
        return out

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["compiled_trees"] = self._compiled is not None
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


class TensorModel(ServedModel):
    """A PyTorch classifier over float32 tensors (CPU, or CUDA when present)."""

    kind = "image"

    def __init__(self, identity: ModelIdentity, module: Any, image: ImageSpec, classes: list[str]) -> None:
        super().__init__(identity, classes)
        import torch

        self._torch = torch
        if not isinstance(module, torch.nn.Module) and callable(getattr(module, "module", None)):
            module = module.module()  # a torch.export ExportedProgram (MLflow's "pt2" format)
        try:
            module = module.eval()
        except NotImplementedError:
            pass  # a module unlifted from torch.export: already in inference form, eval() is refused
        self.device = "cpu"
        if torch.cuda.is_available():
            try:
                module = module.to("cuda")
                self.device = "cuda"
            except (RuntimeError, NotImplementedError):
                pass  # an exported program pinned to the CPU: serve it there
        self.module = module
        self.image = image

    def rows(self, part: np.ndarray) -> int:
        return int(part.shape[0])

    def combine(self, parts: list[np.ndarray]) -> np.ndarray:
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            tensor = torch.as_tensor(batch, dtype=torch.float32, device=self.device)
            output = self.module(tensor)
            # softmax of logits and of log-probabilities alike gives the probabilities
            return torch.softmax(output, dim=1).cpu().numpy().astype(np.float64)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["inputs"] = [{"name": "image", "type": "float32", "shape": [-1, *self.image.shape]}]
        meta["device"] = self.device
        return meta
