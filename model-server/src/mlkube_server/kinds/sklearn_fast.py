"""The fastest way to run a scikit-learn pipeline's ``predict_proba`` that gives scikit-learn's own answers.

A pipeline ``ColumnTransformer -> ... -> classifier`` can have its preprocessing compiled (preprocess.py) and,
when the classifier is a random forest or extra-trees, its evaluation too (trees.py). Candidates are tried
from the fastest: compiled preprocessing and compiled forest, compiled preprocessing and the classifier's own
``predict_proba``, scikit-learn's preprocessing and the compiled forest. The first that reproduces the
pipeline's ``predict_proba`` on the schema's probe rows (to 1e-12, with the same predicted classes) is used;
none agreeing, or nothing compiling, leaves the model entirely to scikit-learn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..preprocess import CompiledColumns, Unsupported, compile_columns
from ..schema import TabularSchema
from ..trees import compile_forest

log = logging.getLogger("mlkube_server.loader")
TOLERANCE = 1e-12


@dataclass(frozen=True)
class FastPath:
    predict_proba: Callable[[Any], np.ndarray]
    # True: it takes the schema's column arrays (schema.arrays); False: the schema's DataFrame (schema.frame)
    compiled_preprocessing: bool
    compiled_trees: bool

    def describe(self) -> str:
        parts = [
            "compiled preprocessing" if self.compiled_preprocessing else "scikit-learn's preprocessing",
            "compiled forest" if self.compiled_trees else "the estimator's predict_proba",
        ]
        return " and ".join(parts)


def fast_path(
    name: str, estimator: Any, schema: TabularSchema, *, trees: bool = True, preprocessing: bool = True
) -> FastPath | None:
    """The first candidate that agrees with ``estimator.predict_proba``, or None."""
    if not hasattr(estimator, "predict_proba") or not (trees or preprocessing):
        return None
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    forest = _compiled(name, "forest", lambda: compile_forest(final)) if trees else None
    columns = None
    if preprocessing and steps and len(steps) >= 2:
        columns = _compiled(name, "preprocessing", lambda: compile_columns(steps[0][1]))
    candidates = _candidates(estimator, forest, columns)
    if not candidates:
        return None
    probe = schema.probe_values()
    frame, arrays = schema.frame(probe), schema.arrays(probe)
    try:
        expected = np.asarray(estimator.predict_proba(frame), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - the model may still answer real rows; nothing to compare with
        log.warning("model %s: nothing compiled; its predict_proba failed on probe rows (%s)", name, exc)
        return None
    for candidate in candidates:
        probe_input = arrays if candidate.compiled_preprocessing else frame
        if _agrees(name, candidate, probe_input, expected):
            log.info("model %s: %s", name, candidate.describe())
            return candidate
    return None


def _candidates(estimator: Any, forest: Callable | None, columns: CompiledColumns | None) -> list[FastPath]:
    steps = getattr(estimator, "steps", None) or []
    middle = [step for _, step in steps[1:-1] if step not in (None, "passthrough")]

    def prepared(features: np.ndarray) -> np.ndarray:
        for step in middle:
            features = step.transform(features)
        return features

    candidates = []
    if columns is not None and steps:
        final = steps[-1][1]
        if forest is not None:
            candidates.append(FastPath(lambda arrays: forest(prepared(columns(arrays))), True, True))
        candidates.append(
            FastPath(lambda arrays: np.asarray(final.predict_proba(prepared(columns(arrays))), np.float64), True, False)
        )
    if forest is not None:
        sklearn_preprocessing = estimator[:-1].transform if steps else (lambda frame: frame)
        candidates.append(FastPath(lambda frame: forest(sklearn_preprocessing(frame)), False, True))
    return candidates


def _compiled(name: str, part: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except Unsupported as why:
        log.info("model %s: %s not compiled: %s", name, part, why)
    except Exception as exc:  # noqa: BLE001 - any surprise means: keep scikit-learn's own path
        log.warning("model %s: %s not compiled: %s", name, part, exc)
    return None


def _agrees(name: str, candidate: FastPath, probe_input: Any, expected: np.ndarray) -> bool:
    try:
        got = np.asarray(candidate.predict_proba(probe_input), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001
        log.warning("model %s: %s failed on probe rows (%s)", name, candidate.describe(), exc)
        return False
    if (
        got.shape != expected.shape
        or not np.allclose(got, expected, rtol=0, atol=TOLERANCE)
        or not (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    ):
        log.warning("model %s: %s disagrees with scikit-learn on probe rows; not used", name, candidate.describe())
        return False
    return True
