"""Batch scoring: a CSV/Parquet file in, the same rows with predictions and the model version out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .model_tags import TAG_FEATURE_CATEGORIES, TAG_FEATURE_RANGES

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")
DIGIT_PIXELS = 64
DIGIT_PIXEL_RANGE = (0.0, 16.0)


def resolve(model_uri: str) -> tuple[str, str]:
    """(name, version) for models:/NAME@ALIAS or models:/NAME/VERSION; ConfigError if it does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    match = _URI.match(model_uri)
    if not match:
        raise ConfigError(f"invalid --model-uri {model_uri!r}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    name, alias, version = match["name"], match["alias"], match["version"]
    client = MlflowClient()
    try:
        found = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise ConfigError(f"model {model_uri!r} not found in the registry; see `mlkube-train list`") from None
        raise
    return name, str(found.version)


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"input file {str(path)!r} not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise DataError(f"input file {str(path)!r} is not a readable CSV/Parquet file: {exc}") from None


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def out_of_range_columns(frame: pd.DataFrame, ranges: dict, categories: dict) -> pd.Series:
    """Per row, the comma-separated columns whose value lies outside what the model saw in training."""
    flags = pd.DataFrame(False, index=frame.index, columns=[*ranges, *categories])
    for column, bounds in ranges.items():
        values = pd.to_numeric(frame[column], errors="coerce")
        flags[column] = values.notna() & ((values < bounds["min"]) | (values > bounds["max"]))
    for column, allowed in categories.items():
        values = frame[column]
        flags[column] = values.notna() & ~values.astype("object").isin(allowed)
    return flags.apply(lambda row: ",".join(c for c in flags.columns if row[c]), axis=1)


def _first_violation(frame: pd.DataFrame, out_of_range: pd.Series) -> str:
    row = out_of_range[out_of_range != ""].index[0]
    column = out_of_range[row].split(",")[0]
    value = frame.at[row, column]
    return f"row {row} column {column} value {getattr(value, 'item', lambda: value)()!r}"


def score_file(model_uri: str, input_path: Path, output_path: Path, on_out_of_range: str) -> dict:
    import mlflow
    from mlflow import MlflowClient

    name, version = resolve(model_uri)
    pinned = f"models:/{name}/{version}"  # the alias may move while we score; this may not
    frame = read_table(input_path)
    flavors = mlflow.models.get_model_info(pinned).flavors
    tags = MlflowClient().get_model_version(name, version).tags
    if "sklearn" in flavors:
        scored, out_of_range = _score_sklearn(pinned, frame, tags)
    elif "pytorch" in flavors:
        scored, out_of_range = _score_pytorch(pinned, frame)
    else:
        raise ConfigError(f"model {model_uri!r} has flavours {sorted(flavors)}; score supports sklearn and pytorch")
    flagged = int((out_of_range != "").sum())
    if flagged and on_out_of_range == "error":
        raise DataError(
            f"{flagged} row(s) outside the training data of {name} version {version}, first: "
            f"{_first_violation(frame, out_of_range)}; fix the input or use --on-out-of-range flag"
        )
    scored["out_of_range"] = out_of_range.values
    scored["model_name"] = name
    scored["model_version"] = version
    write_table(scored, output_path)
    return {
        "model_name": name,
        "model_version": version,
        "rows": len(scored),
        "out_of_range_rows": flagged,
        "output": str(output_path),
    }


def _score_sklearn(model_uri: str, frame: pd.DataFrame, tags: dict) -> tuple[pd.DataFrame, pd.Series]:
    import mlflow

    model = mlflow.sklearn.load_model(model_uri)
    signature = mlflow.models.get_model_info(model_uri).signature
    required = (
        signature.inputs.input_names() if signature is not None else list(getattr(model, "feature_names_in_", []))
    )
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"input lacks column(s) {', '.join(missing)} that the model needs ({', '.join(required)})")
    features = frame[required].copy()
    ranges = json.loads(tags.get(TAG_FEATURE_RANGES, "{}"))
    categories = json.loads(tags.get(TAG_FEATURE_CATEGORIES, "{}"))
    for column in ranges:
        features[column] = pd.to_numeric(features[column], errors="coerce").astype("float64")
    if "sex" in features.columns:
        features["sex"] = features["sex"].map(lambda v: v.lower() if isinstance(v, str) else v)
    out_of_range = out_of_range_columns(features, ranges, categories)
    scored = frame.copy()
    scored["prediction"] = model.predict(features)
    if hasattr(model, "predict_proba"):
        for label, column in zip(model.classes_, np.asarray(model.predict_proba(features)).T, strict=True):
            scored[f"proba_{label}"] = column
    return scored, out_of_range


def _score_pytorch(model_uri: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    import mlflow
    import torch

    numeric = frame.select_dtypes(include="number")
    if numeric.shape[1] != DIGIT_PIXELS:
        raise DataError(f"digits input needs {DIGIT_PIXELS} numeric pixel columns, got {numeric.shape[1]}")
    pixels = numeric.to_numpy(dtype=np.float32)
    low, high = DIGIT_PIXEL_RANGE
    bad = ((pixels < low) | (pixels > high)).any(axis=1)
    out_of_range = pd.Series(np.where(bad, "pixels", ""), index=frame.index)
    model = mlflow.pytorch.load_model(model_uri, map_location="cpu")
    model.eval()
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.from_numpy(pixels).reshape(-1, 1, 8, 8)), dim=1).numpy()
    scored = frame.copy()
    scored["prediction"] = probabilities.argmax(axis=1)
    for digit in range(probabilities.shape[1]):
        scored[f"proba_{digit}"] = probabilities[:, digit]
    return scored, out_of_range
