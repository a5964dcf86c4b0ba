"""The penguins data: loading, validation against physical ranges, split, and the training profile."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlkube_models.penguins_features import NUMERIC_FEATURES

from ..errors import DataError

TARGET = "species"
CATEGORICAL_FEATURES = ("island", "sex")
FEATURES = ("island", *NUMERIC_FEATURES, "sex")
SPECIES = ("Adelie", "Chinstrap", "Gentoo")
ISLANDS = ("Biscoe", "Dream", "Torgersen")
SEXES = ("female", "male")
# Plausible physical bounds; a value outside them is a data error, not a penguin.
PHYSICAL_RANGES: dict[str, tuple[float, float]] = {
    "bill_length_mm": (10.0, 100.0),
    "bill_depth_mm": (5.0, 40.0),
    "flipper_length_mm": (100.0, 300.0),
    "body_mass_g": (1000.0, 10000.0),
}


@dataclass(frozen=True)
class Dataset:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    sha256: str
    rows_total: int
    rows_dropped: int
    source: str


def load_raw(data_path: Path | None) -> tuple[pd.DataFrame, str]:
    if data_path is None:
        from palmerpenguins import load_penguins

        return load_penguins(), "palmerpenguins"
    if not data_path.is_file():
        raise DataError(f"data file {str(data_path)!r} not found; set data_path to an existing CSV")
    try:
        return pd.read_csv(data_path), str(data_path)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"data file {str(data_path)!r} is not a readable CSV: {exc}") from None


def clean(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Validate columns and values; return (rows usable for training, number of rows dropped).

    Rows without a species or with no measurement at all are dropped; any other missing value is left
    for the Pipeline's imputers. Out-of-range or unknown values raise DataError naming column and value.
    """
    missing = [c for c in (TARGET, *FEATURES) if c not in frame.columns]
    if missing:
        raise DataError(f"data lacks column(s) {', '.join(missing)}; expected {', '.join((TARGET, *FEATURES))}")
    data = frame.loc[:, [*FEATURES, TARGET]].copy()
    for column in NUMERIC_FEATURES:
        numbers = pd.to_numeric(data[column], errors="coerce")
        bad = data[column].notna() & numbers.isna()
        if bad.any():
            raise DataError(f"column {column} holds a non-numeric value {data.loc[bad, column].iloc[0]!r}")
        low, high = PHYSICAL_RANGES[column]
        out = numbers.notna() & ((numbers < low) | (numbers > high))
        if out.any():
            raise DataError(
                f"column {column} value {numbers[out].iloc[0]:g} is outside the plausible range [{low:g}, {high:g}]"
                f" (row {out.idxmax()}); fix the data"
            )
        data[column] = numbers.astype("float64")
    for column, allowed in (("island", ISLANDS), ("sex", SEXES), (TARGET, SPECIES)):
        values = data[column].astype("object").where(data[column].notna(), None)
        if column == "sex":
            values = values.map(lambda v: v.lower() if isinstance(v, str) else v)
        unknown = values.notna() & ~values.isin(allowed)
        if unknown.any():
            raise DataError(f"column {column} value {values[unknown].iloc[0]!r} is not one of {', '.join(allowed)}")
        data[column] = values.astype("object")
    keep = data[TARGET].notna() & data[list(NUMERIC_FEATURES)].notna().any(axis=1)
    return data.loc[keep].reset_index(drop=True), int((~keep).sum())


def content_sha256(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def load_dataset(data_path: Path | None, test_size: float, seed: int, min_per_class: int) -> Dataset:
    raw, source = load_raw(data_path)
    data, dropped = clean(raw)
    counts = data[TARGET].value_counts()
    if len(counts) < 2 or counts.min() < min_per_class:
        raise DataError(
            f"each species needs at least {min_per_class} rows for the split and cross-validation; got "
            + ", ".join(f"{k}={v}" for k, v in counts.items())
        )
    x_train, x_test, y_train, y_test = train_test_split(
        data[list(FEATURES)], data[TARGET], test_size=test_size, random_state=seed, stratify=data[TARGET]
    )
    return Dataset(
        x_train=x_train.reset_index(drop=True),
        x_test=x_test.reset_index(drop=True),
        y_train=y_train.reset_index(drop=True),
        y_test=y_test.reset_index(drop=True),
        sha256=content_sha256(data),
        rows_total=len(data),
        rows_dropped=dropped,
        source=source,
    )


def training_profile(x_train: pd.DataFrame, y_train: pd.Series) -> dict:
    """What serving validates inputs against and what the class-mix alert compares live traffic with."""
    ranges = {
        column: {"min": float(np.nanmin(x_train[column])), "max": float(np.nanmax(x_train[column]))}
        for column in NUMERIC_FEATURES
    }
    categories = {column: sorted(str(v) for v in x_train[column].dropna().unique()) for column in CATEGORICAL_FEATURES}
    share = y_train.value_counts(normalize=True).sort_index()
    return {
        "feature_ranges": ranges,
        "feature_categories": categories,
        "training_class_share": {str(k): round(float(v), 6) for k, v in share.items()},
        "training_rows": len(x_train),
    }
