"""scikit-learn pipelines over the raw columns of their MLflow signature (the Penguins models)."""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..models import ModelIdentity, TabularModel
from ..schema import TabularSchema, encoder_categories
from ..settings import ServerSettings
from .base import Artifact, column_schema, training_categories
from .sklearn_fast import fast_path

FLAVOR = "sklearn"
# scikit-learn's array-API adapter for PyTorch: importing it imports PyTorch, where PyTorch is installed.
TORCH_ARRAY_API = "sklearn.externals.array_api_compat.torch"
_SKOPS_IMPORT = threading.Lock()
log = logging.getLogger("mlkube_server.loader")


class SklearnModel(TabularModel):
    def __init__(
        self,
        identity: ModelIdentity,
        estimator: Any,
        schema: TabularSchema,
        compile_trees: bool = True,
        compile_preprocessing: bool = True,
    ) -> None:
        super().__init__(identity, [str(c) for c in estimator.classes_], schema)
        self.estimator = estimator
        self._has_proba = hasattr(estimator, "predict_proba")
        self._fast = fast_path(
            identity.name, estimator, schema, trees=compile_trees, preprocessing=compile_preprocessing
        )

    def combine(self, parts: list[dict[str, list[Any]]]) -> Any:
        if self._fast is not None and self._fast.compiled_preprocessing:
            return self.schema.arrays(self.join(parts))
        return super().combine(parts)

    def predict_proba(self, batch: Any) -> np.ndarray:
        if self._fast is not None:
            return self._fast.predict_proba(batch)
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
        meta["compiled_trees"] = self._fast is not None and self._fast.compiled_trees
        meta["compiled_preprocessing"] = self._fast is not None and self._fast.compiled_preprocessing
        return meta


def _once_under_lock(import_skops_somehow: Callable[[], None]) -> Callable[[], None]:
    """Imports skops.io once per process, whichever thread asks first; the others wait for that import."""

    @functools.wraps(import_skops_somehow)
    def once() -> None:
        with _SKOPS_IMPORT:
            if "skops.io" not in sys.modules:
                import_skops_somehow()

    return once


def _import_skops_without_torch() -> None:
    """Import skops.io (the trainers' model format) without importing PyTorch.

    At import, skops builds its table of trusted scikit-learn types with ``sklearn.utils.all_estimators()``. That
    walk imports every scikit-learn package it passes, the PyTorch array-API adapter too, although it leaves
    ``sklearn.externals`` out of the table: where PyTorch is installed, two of the import's three seconds. While
    skops imports, the adapter reads as missing, which the walk skips; the table is the same (test_startup.py).
    """
    modules: dict[str, Any] = sys.modules  # None there: importing that name raises ModuleNotFoundError
    placeholder = TORCH_ARRAY_API not in modules
    if placeholder:
        modules[TORCH_ARRAY_API] = None
    try:
        import skops.io  # noqa: F401
    finally:
        if placeholder and modules.get(TORCH_ARRAY_API, ...) is None:
            del modules[TORCH_ARRAY_API]


import_skops_computing_its_table = _once_under_lock(_import_skops_without_torch)


@_once_under_lock
def import_skops() -> None:
    """Import skops.io with the trusted-type table of this environment (skops_table.py) if one was written for
    these versions, else computing the table as skops does."""
    from . import skops_table

    why_not = skops_table.install()
    if why_not is None:
        import skops.io  # noqa: F401
    else:
        log.info("skops computes its trusted-type table at import (about a second): %s", why_not)
        _import_skops_without_torch()


def build(artifact: Artifact, settings: ServerSettings) -> SklearnModel:
    import mlflow.sklearn

    if artifact.flavor_conf(FLAVOR).get("serialization_format") == "skops":
        import_skops()
    try:
        estimator = mlflow.sklearn.load_model(str(artifact.local))
    except Exception as exc:  # noqa: BLE001
        raise artifact.fail(f"scikit-learn could not load {artifact.resolved.uri} ({exc})") from None
    if not hasattr(estimator, "classes_"):
        raise artifact.fail(f"{artifact.resolved.uri} is not a fitted classifier (no classes_)")
    categories = {**encoder_categories(estimator), **training_categories(artifact.resolved.tags)}
    schema = column_schema(artifact, settings, categories)
    return SklearnModel(
        artifact.identity(FLAVOR), estimator, schema, settings.compile_trees, settings.compile_preprocessing
    )
