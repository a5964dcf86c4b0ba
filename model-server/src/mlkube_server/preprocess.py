"""Compiled preprocessing: a fitted ColumnTransformer evaluated in NumPy on the request's column arrays.

With the forest compiled (trees.py), most of a prediction's time went to the pipeline's ColumnTransformer:
a DataFrame per batch, columns checked and selected by name, each step validating its input again and the
blocks stacked, milliseconds of bookkeeping around microseconds of arithmetic. Here the fitted steps'
learnt numbers (imputation statistics, scaler means and scales, encoder categories) are applied directly to
the columns the schema already validated, with the same NumPy operations scikit-learn performs.

Only steps whose transform is fully described by their fitted attributes are compiled; anything else raises
``Unsupported`` naming the step, and the model keeps scikit-learn's own preprocessing. Whatever compiles is
still used only if it reproduces the pipeline's probabilities on probe rows (sklearn_fast.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Columns = Mapping[str, np.ndarray]
Step = Callable[[np.ndarray], np.ndarray]
FLOATS = (np.float64, np.float32)  # the dtypes scikit-learn's numeric steps keep; others become float64


class Unsupported(Exception):
    """This transformer cannot be compiled; the message names the step and why."""


@dataclass(frozen=True)
class Block:
    """One of the ColumnTransformer's blocks: its input columns and its steps, in order."""

    name: str
    columns: tuple[str, ...]
    steps: tuple[Step, ...]

    def __call__(self, columns: Columns) -> np.ndarray:
        X = np.column_stack([columns[name] for name in self.columns])
        for step in self.steps:
            X = step(X)
        return X


@dataclass(frozen=True)
class CompiledColumns:
    """``transform`` of a fitted ColumnTransformer, taking a mapping of column name to 1-D array."""

    blocks: tuple[Block, ...]

    def __call__(self, columns: Columns) -> np.ndarray:
        return np.hstack([block(columns) for block in self.blocks])


def compile_columns(transformer: Any) -> CompiledColumns:
    from sklearn.compose import ColumnTransformer

    if not isinstance(transformer, ColumnTransformer) or not hasattr(transformer, "transformers_"):
        raise Unsupported(f"{type(transformer).__name__} is not a fitted ColumnTransformer")
    _refuse_pandas_output("the ColumnTransformer", transformer)
    if transformer.transformer_weights:
        raise Unsupported("the ColumnTransformer weights its blocks (transformer_weights)")
    known = [str(name) for name in getattr(transformer, "feature_names_in_", [])]
    if not known:
        raise Unsupported("the ColumnTransformer was fitted without column names")
    blocks = []
    for name, fitted, selected in transformer.transformers_:
        columns = _column_names(name, selected, known)
        if fitted == "drop" or not columns:
            continue
        blocks.append(Block(name, columns, _block_steps(name, fitted)))
    if not blocks:
        raise Unsupported("the ColumnTransformer outputs no columns")
    return CompiledColumns(tuple(blocks))


def _column_names(block: str, selected: Any, known: list[str]) -> tuple[str, ...]:
    if isinstance(selected, str) or not isinstance(selected, (list, tuple, np.ndarray)):
        raise Unsupported(f"block {block!r} selects its columns by {type(selected).__name__}, not by a list")
    names = []
    for item in selected:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):  # a remainder, by position
            names.append(known[int(item)])
        else:
            raise Unsupported(f"block {block!r} selects a column by {type(item).__name__}")
    return tuple(names)


def _block_steps(block: str, fitted: Any) -> tuple[Step, ...]:
    if fitted == "passthrough":
        return (_numeric_passthrough(block),)
    steps = getattr(fitted, "steps", None)
    named = [(f"{block}.{name}", step) for name, step in steps] if steps else [(block, fitted)]
    if steps:
        _refuse_pandas_output(f"block {block!r}", fitted)
    compiled = []
    for position, (name, step) in enumerate(named):
        if step == "passthrough" or step is None:
            continue
        _refuse_pandas_output(name, step)
        compiled.append(_compile_step(name, step, first=position == 0))
    return tuple(compiled)


def _compile_step(name: str, step: Any, first: bool) -> Step:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    # exact types: a subclass may transform differently from what its fitted attributes say
    if type(step) is SimpleImputer:
        return _imputer(name, step)
    if type(step) is StandardScaler:
        return _scaler(step)
    if type(step) is OneHotEncoder:
        return _one_hot(name, step)
    if type(step) is FunctionTransformer:
        if step.func is None:  # identity: how a fitted ColumnTransformer holds a "passthrough" block or remainder
            return _numeric_passthrough(name)
        if first:  # there it would be given the block's DataFrame, and may use its column names
            raise Unsupported(f"{name}: a FunctionTransformer as a block's first step")
        return step.transform
    raise Unsupported(f"{name}: {type(step).__name__} is not compiled")


def _numeric_passthrough(name: str) -> Step:
    def passthrough(X: np.ndarray) -> np.ndarray:
        if X.dtype == object:
            raise TypeError(f"{name}: passes a non-numeric column through")
        return X

    return passthrough


def _float(X: np.ndarray) -> np.ndarray:
    """A copy as scikit-learn's numeric steps see it: float32 and float64 kept, anything else float64."""
    return X.astype(X.dtype if X.dtype in FLOATS else np.float64, copy=True)


def _imputer(name: str, imputer: Any) -> Step:
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise Unsupported(f"{name}: imputes {missing!r}, not NaN")
    if imputer.add_indicator:
        raise Unsupported(f"{name}: adds missing-value indicators")
    statistics = imputer.statistics_
    if any(value is None or (isinstance(value, float) and math.isnan(value)) for value in statistics.tolist()):
        raise Unsupported(f"{name}: a column was empty in training (its statistic is missing)")

    def impute(X: np.ndarray) -> np.ndarray:
        if X.dtype == object:
            # scikit-learn counts None and NaN as missing in object columns
            X = X.copy()
            mask = np.frompyfunc(lambda v: v is None or (isinstance(v, float) and math.isnan(v)), 1, 1)(X)
            mask = mask.astype(bool)
        else:
            X = _float(X)
            mask = np.isnan(X)
        if mask.any():
            rows, cols = np.nonzero(mask)
            X[rows, cols] = statistics[cols]
        return X

    return impute


def _scaler(scaler: Any) -> Step:
    mean, scale = scaler.mean_ if scaler.with_mean else None, scaler.scale_ if scaler.with_std else None

    def standardise(X: np.ndarray) -> np.ndarray:
        X = _float(X)
        if mean is not None:
            X -= mean
        if scale is not None:
            X /= scale
        return X

    return standardise


def _one_hot(name: str, encoder: Any) -> Step:
    if encoder.handle_unknown not in ("ignore", "error"):
        raise Unsupported(f"{name}: handle_unknown={encoder.handle_unknown!r}")
    if encoder.drop is not None:
        raise Unsupported(f"{name}: drops categories (drop={encoder.drop!r})")
    if getattr(encoder, "_infrequent_enabled", False):
        raise Unsupported(f"{name}: groups infrequent categories")
    lookups = []
    for categories in encoder.categories_:
        values = categories.tolist()
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            raise Unsupported(f"{name}: a missing value is one of its categories")
        lookups.append({value: index for index, value in enumerate(values)})
    offsets = np.cumsum([0] + [len(lookup) for lookup in lookups])
    width, dtype, strict = int(offsets[-1]), encoder.dtype, encoder.handle_unknown == "error"

    def encode(X: np.ndarray) -> np.ndarray:
        out = np.zeros((X.shape[0], width), dtype=dtype)
        for j, lookup in enumerate(lookups):
            codes = np.fromiter((lookup.get(v, -1) for v in X[:, j].tolist()), dtype=np.intp, count=X.shape[0])
            known = codes >= 0
            if strict and not known.all():
                unknown = X[~known, j].tolist()[:5]
                raise ValueError(f"{name}: unknown categories {unknown} in column {j}")
            out[np.nonzero(known)[0], offsets[j] + codes[known]] = 1
        return out

    return encode


def _refuse_pandas_output(name: str, estimator: Any) -> None:
    config = getattr(estimator, "_sklearn_output_config", {}) or {}
    if config.get("transform") not in (None, "default"):
        raise Unsupported(f"{name}: outputs {config['transform']} (set_output), not arrays")
