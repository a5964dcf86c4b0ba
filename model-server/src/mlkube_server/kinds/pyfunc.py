"""Any other MLflow classifier, through ``mlflow.pyfunc``: XGBoost, LightGBM, CatBoost, custom python_function.

The signature's columns validate requests as for scikit-learn pipelines (schema.py) and give the V2
metadata. The answer becomes per-class probabilities, decided once at load from a probe batch:
1. the flavor's own model (``get_raw_model()``) has ``predict_proba`` and ``classes_`` (the scikit-learn API
   of XGBoost, LightGBM, CatBoost): its probabilities, the classes named by the version's ``classes`` tag
   when the trainer label-encoded them (XGBoost wants labels 0..K-1), else by ``classes_``;
2. otherwise ``predict``'s output: a frame or 2-D array whose rows sum to 1 is probabilities (classes: the
   frame's columns or the ``classes`` tag); a 1-D output is labels, each certainty 1 for its class (the
   ``classes`` tag lists them).
Anything else (a regression, text) is refused at load with the reason: the server serves classifiers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..models import ModelIdentity, TabularModel
from ..schema import TabularSchema
from ..settings import ServerSettings
from .base import Artifact, ModelLoadError, class_names, column_schema, training_categories

FLAVOR = "python_function"
RAW_PROBABILITIES, PROBABILITIES, LABELS = "raw_predict_proba", "probabilities", "labels"
PROBABILITY_SUM_TOLERANCE = 1e-4


class PyfuncModel(TabularModel):
    def __init__(
        self, identity: ModelIdentity, pyfunc: Any, raw: Any, schema: TabularSchema, classes: list[str], mode: str
    ) -> None:
        super().__init__(identity, classes, schema)
        self.pyfunc, self.raw, self.mode = pyfunc, raw, mode
        self._index = {c: i for i, c in enumerate(classes)}

    def predict_proba(self, batch: pd.DataFrame) -> np.ndarray:
        if self.mode == RAW_PROBABILITIES:
            return np.asarray(self.raw.predict_proba(batch), dtype=np.float64)
        output = self.pyfunc.predict(batch)
        if self.mode == PROBABILITIES:
            return np.asarray(output, dtype=np.float64)
        labels = [str(label) for label in np.asarray(output).ravel()]
        unknown = sorted(set(labels) - set(self._index))
        if unknown:
            raise ValueError(f"model {self.name} answered {unknown[:3]}, not among its classes {self.classes}")
        out = np.zeros((len(labels), len(self.classes)))
        out[np.arange(len(labels)), [self._index[label] for label in labels]] = 1.0
        return out

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["pyfunc_output"] = self.mode
        return meta


def build(artifact: Artifact, settings: ServerSettings) -> PyfuncModel:
    import mlflow.pyfunc

    flavors = sorted(f for f in artifact.mlmodel.flavors if f != FLAVOR)
    try:
        pyfunc = mlflow.pyfunc.load_model(str(artifact.local))
    except ImportError as exc:
        package = exc.name or str(exc)
        raise artifact.fail(
            f"its flavor {', '.join(flavors) or FLAVOR} needs the Python package {package!r}, which this server "
            "does not have"
        ) from None
    except Exception as exc:  # noqa: BLE001
        raise artifact.fail(f"mlflow.pyfunc could not load {artifact.resolved.uri} ({_first_line(exc)})") from None
    schema = column_schema(artifact, settings, training_categories(artifact.resolved.tags))
    probe = schema.probe_frame(rows=8)  # plausible rows: the output's form is learnt from them
    tagged = class_names(artifact.resolved.tags)
    raw = _raw_model(pyfunc)
    try:
        if raw is not None and callable(getattr(raw, "predict_proba", None)) and hasattr(raw, "classes_"):
            classes = tagged or [str(c) for c in raw.classes_]
            _check_width(artifact, np.asarray(raw.predict_proba(probe)), classes)
            mode = RAW_PROBABILITIES
        else:
            classes, mode = _from_predict(artifact, pyfunc.predict(probe), tagged)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - the model itself failed on plausible rows
        raise artifact.fail(f"predicting a probe batch failed ({_first_line(exc)})") from None
    flavor = flavors[0] if flavors else FLAVOR
    return PyfuncModel(artifact.identity(flavor), pyfunc, raw, schema, classes, mode)


def _raw_model(pyfunc: Any) -> Any:
    try:
        return pyfunc.get_raw_model()
    except Exception:  # noqa: BLE001 - a custom python_function model need not expose one
        return None


def _from_predict(artifact: Artifact, output: Any, tagged: list[str] | None) -> tuple[list[str], str]:
    if isinstance(output, pd.DataFrame) and output.shape[1] > 1:
        classes = tagged or [str(c) for c in output.columns]
        _check_probabilities(artifact, output.to_numpy(dtype=np.float64), classes)
        return classes, PROBABILITIES
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] > 1:
        if tagged is None:
            raise artifact.fail("it answers a matrix of scores; tag the version with `classes` (a JSON list)")
        _check_probabilities(artifact, array.astype(np.float64), tagged)
        return tagged, PROBABILITIES
    if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1):
        if tagged is None:
            raise artifact.fail(
                "it answers labels and no classes are known; tag the version with `classes` (a JSON list)"
            )
        if array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
            raise artifact.fail("it answers fractional numbers (a regression?); the server serves classifiers")
        return tagged, LABELS
    raise artifact.fail(f"its answer of shape {list(array.shape)} is neither labels nor class probabilities")


def _check_width(artifact: Artifact, proba: np.ndarray, classes: list[str]) -> None:
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise artifact.fail(f"{len(classes)} classes for probabilities of shape {list(proba.shape)}")


def _check_probabilities(artifact: Artifact, proba: np.ndarray, classes: list[str]) -> None:
    _check_width(artifact, proba, classes)
    if not ((proba >= 0).all() and np.allclose(proba.sum(axis=1), 1.0, atol=PROBABILITY_SUM_TOLERANCE)):
        raise artifact.fail("its per-class scores are not probabilities (rows must sum to 1)")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
