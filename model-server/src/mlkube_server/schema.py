"""The input schema of a tabular model, and the validation of request rows against it.

The MLflow signature gives the columns, their types and which are optional; the fitted pipeline's
one-hot encoders give the categories each string column knows; the training job's version tags give the
numeric ranges seen in training. Nothing here re-implements feature engineering: validated rows go to the
pipeline as they came (strings only canonicalised to the spelling the encoder learnt, e.g. ``MALE`` ->
``male``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import FieldError, invalid_input, shown

NUMBER_TYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}
INTEGER_TYPES = {"long", "integer"}
# The largest magnitude each signature type holds: a value beyond it would overflow when the frame is built.
LIMITS = {
    "double": float(np.finfo(np.float64).max),
    "float": float(np.finfo(np.float32).max),
    "long": int(np.iinfo(np.int64).max),
    "integer": int(np.iinfo(np.int32).max),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # MLflow DataType name: double, float, long, integer, string, boolean
    required: bool = True
    categories: tuple[str, ...] | None = None  # known values of a string column
    minimum: float | None = None  # training range of a numeric column
    maximum: float | None = None

    @property
    def numeric(self) -> bool:
        return self.type in NUMBER_TYPES

    def json_schema(self) -> dict[str, Any]:
        if self.type == "string":
            schema: dict[str, Any] = {"type": "string"}
            if self.categories:
                schema["enum"] = list(self.categories)
                schema["description"] = "any letter case"
        elif self.type == "boolean":
            schema = {"type": "boolean"}
        else:
            schema = {"type": "integer" if self.type in INTEGER_TYPES else "number"}
            if self.minimum is not None and self.maximum is not None:
                schema["description"] = f"training range [{self.minimum:g}, {self.maximum:g}]"
        if not self.required:
            schema = {"anyOf": [schema, {"type": "null"}]}
        return schema


@dataclass
class TabularSchema:
    columns: list[Column]
    range_tolerance: float = 0.5
    check_ranges: bool = True
    _by_name: dict[str, Column] = field(init=False, repr=False)
    _lookup: dict[str, dict[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {column.name: column for column in self.columns}
        self._lookup = {
            column.name: {value.lower(): value for value in column.categories}
            for column in self.columns
            if column.categories
        }

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {column.name: column.json_schema() for column in self.columns},
            "required": [column.name for column in self.columns if column.required],
            "additionalProperties": False,
        }

    def validate_rows(self, rows: Any, loc: tuple[str | int, ...], indexed: bool = True) -> dict[str, list[Any]]:
        """Check every row; return the values column by column, or raise a 422 listing every bad field.

        ``indexed=False``: one row sent on its own, so error paths carry no row index.
        """
        errors: list[FieldError] = []
        if not isinstance(rows, list):
            raise invalid_input([FieldError(loc, "expected a list of rows")])
        values: dict[str, list[Any]] = {name: [] for name in self.names}
        for index, row in enumerate(rows):
            row_loc = (*loc, index) if indexed else loc
            if isinstance(row, list):
                row = self._row_from_list(row, row_loc, errors)
                if row is None:
                    continue
            if not isinstance(row, dict):
                errors.append(FieldError(row_loc, f"expected an object with fields {self.names}"))
                continue
            for key in row:
                if key not in self._by_name:
                    errors.append(FieldError((*row_loc, key), f"unexpected field; expected only {self.names}"))
            for column in self.columns:
                value = self._check_value(column, row.get(column.name), column.name in row, row_loc, errors)
                values[column.name].append(value)
            if len(errors) > 50:
                break
        if errors:
            raise invalid_input(errors)
        return values

    def validate_columns(self, columns: dict[str, Any], loc: tuple[str | int, ...]) -> dict[str, list[Any]]:
        """Column-oriented input (V2 per-column tensors, dataframe_split): same checks, one row at a time."""
        errors: list[FieldError] = []
        for name in columns:
            if name not in self._by_name:
                errors.append(FieldError((*loc, name), f"unexpected input; expected only {self.names}"))
        lengths = {len(v) for v in columns.values() if isinstance(v, list)}
        if len(lengths) > 1:
            errors.append(FieldError(loc, f"inputs have different lengths {sorted(lengths)}"))
        if errors:
            raise invalid_input(errors)
        count = lengths.pop() if lengths else 0
        rows = [{name: columns[name][i] for name in columns} for i in range(count)]
        return self.validate_rows(rows, loc)

    def _row_from_list(self, row: list[Any], loc: tuple[str | int, ...], errors: list[FieldError]):
        if len(row) != len(self.columns):
            errors.append(FieldError(loc, f"expected {len(self.columns)} values in the order {self.names}"))
            return None
        return dict(zip(self.names, row, strict=True))

    def _check_value(
        self, column: Column, value: Any, present: bool, loc: tuple[str | int, ...], errors: list[FieldError]
    ) -> Any:
        field_loc = (*loc, column.name)
        if value is None:
            if column.required:
                errors.append(FieldError(field_loc, "field required" if not present else "must not be null"))
            return None
        if column.type == "string":
            if not isinstance(value, str):
                errors.append(FieldError(field_loc, f"expected a string, got {type(value).__name__}"))
                return None
            lookup = self._lookup.get(column.name)
            if lookup is not None:
                canonical = lookup.get(value.strip().lower())
                if canonical is None:
                    expected = list(column.categories or ())
                    errors.append(FieldError(field_loc, f"unknown value {shown(value)}; expected one of {expected}"))
                return canonical
            return value
        if column.type == "boolean":
            if not isinstance(value, bool):
                errors.append(FieldError(field_loc, f"expected true or false, got {type(value).__name__}"))
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(FieldError(field_loc, f"expected a number, got {type(value).__name__}"))
            return None
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(FieldError(field_loc, "must be a finite number (NaN and infinity are not allowed)"))
            return None
        if column.type in INTEGER_TYPES and value != int(value):
            errors.append(FieldError(field_loc, "expected an integer"))
            return None
        # Python integers have no bound (JSON and CSV alike); comparing an int with a float limit is exact.
        limit = LIMITS.get(column.type)
        if limit is not None and abs(value) > limit:
            errors.append(FieldError(field_loc, f"too large for a {column.type} (largest {limit:g})"))
            return None
        if self.check_ranges and column.minimum is not None and column.maximum is not None:
            slack = (column.maximum - column.minimum) * self.range_tolerance
            if not column.minimum - slack <= value <= column.maximum + slack:
                errors.append(
                    FieldError(
                        field_loc,
                        f"{value:g} is outside the range the model was trained on "
                        f"[{column.minimum:g}, {column.maximum:g}] (tolerance {self.range_tolerance:g} of its width)",
                    )
                )
        return value

    def probe_values(self, rows: int = 64, seed: int = 0) -> dict[str, list[Any]]:
        """Plausible rows for checking a model's behaviour, column by column: numbers across their training
        ranges (or around zero), known categories, and some missing values in optional columns."""
        rng = np.random.default_rng(seed)
        values: dict[str, list[Any]] = {}
        for column in self.columns:
            if column.categories:
                series: list[Any] = list(rng.choice(list(column.categories), size=rows))
            elif column.numeric:
                low, high = (
                    (column.minimum, column.maximum)
                    if column.minimum is not None and column.maximum is not None
                    else (-3.0, 3.0)
                )
                drawn = rng.uniform(low, high, size=rows)
                series = [round(v) if column.type in INTEGER_TYPES else float(v) for v in drawn]
            elif column.type == "boolean":
                series = list(rng.choice([True, False], size=rows))
            else:
                series = ["probe"] * rows
            if not column.required:
                series[::7] = [None] * len(series[::7])
            values[column.name] = series
        return values

    def probe_frame(self, rows: int = 64, seed: int = 0) -> pd.DataFrame:
        return self.frame(self.probe_values(rows, seed))

    def arrays(self, values: dict[str, list[Any]]) -> dict[str, np.ndarray]:
        """Validated columns -> one array each: numbers in their signature dtype (float64 with NaN where some
        are missing), anything else as objects (None where missing)."""
        data = {}
        for column in self.columns:
            series = values[column.name]
            if column.numeric:
                dtype = "float64" if None in series else NUMBER_TYPES[column.type]
                data[column.name] = np.asarray([np.nan if v is None else v for v in series], dtype=dtype)
            else:
                data[column.name] = np.asarray(series, dtype=object)
        return data

    def frame(self, values: dict[str, list[Any]]) -> pd.DataFrame:
        """Validated columns -> the DataFrame the pipeline was trained on (signature dtypes)."""
        return pd.DataFrame(self.arrays(values), columns=self.names, copy=False)


def encoder_categories(estimator: Any) -> dict[str, tuple[str, ...]]:
    """String categories learnt by every fitted OneHotEncoder/OrdinalEncoder inside a pipeline."""
    found: dict[str, tuple[str, ...]] = {}
    _walk(estimator, found, columns=None)
    return found


def _walk(estimator: Any, found: dict[str, tuple[str, ...]], columns: list[str] | None) -> None:
    transformers = getattr(estimator, "transformers_", None)
    if transformers is not None:  # a fitted ColumnTransformer
        for _, transformer, cols in transformers:
            if isinstance(cols, (list, tuple)) and all(isinstance(c, str) for c in cols):
                _walk(transformer, found, list(cols))
        return
    steps = getattr(estimator, "steps", None)
    if steps is not None:  # a Pipeline: the encoder may sit after an imputer
        for _, step in steps:
            _walk(step, found, columns)
        return
    categories = getattr(estimator, "categories_", None)
    names = columns or list(getattr(estimator, "feature_names_in_", []) or [])
    if categories is not None and names and len(names) == len(categories):
        for name, values in zip(names, categories, strict=True):
            strings = tuple(str(v) for v in values if isinstance(v, str))
            if strings:
                found[name] = strings
