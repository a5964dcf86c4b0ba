"""MLflow's scoring protocol, as ``mlflow models serve`` (MLflow 3.17) answers it.

POST /invocations takes JSON (dataframe_split, dataframe_records, instances or inputs, and params), CSV as
``DataFrame.to_csv()`` writes it (index column included) or Parquet as ``DataFrame.to_parquet()`` writes it.
As in MLflow: columns the signature does not name are ignored (the ``Unnamed: 0`` of a CSV written with its
index, among them), top-level JSON fields other than the formats and ``params`` are ignored, bad input is a
400 ``{"error_code": ..., "message": ...}`` (``ApiError.mlflow``), and a refused content type a 415 in plain
text. GET /ping and GET /version answer in plain text. The response carries model_name and model_version
next to MLflow's ``predictions``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from ..dataplane import Prediction, tabular
from ..errors import bad_request, too_large
from ..jsonio import FastJSONResponse, parse_json
from ..models import ServedModel, TabularModel
from .calls import app_state, dataplane, serving
from .protocols import PROBES

PROTOCOL = "mlflow"
router = APIRouter(tags=["MLflow scoring"])

# mlflow.pyfunc.scoring_server's constants (3.17.2), word for word; tests/server/test_mlflow_conformance.py
# compares them with MLflow's. Not imported: that module imports all of MLflow's pyfunc machinery.
CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = [CONTENT_TYPE_CSV, CONTENT_TYPE_JSON, CONTENT_TYPE_PARQUET]
SCORING_PROTOCOL_CHANGE_INFO = (
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are"
    " seeing this error, you are likely using an outdated scoring request format. To resolve the"
    " error, either update your request format or adjust your MLflow Model's requirements file to"
    " specify an older version of MLflow (for example, change the 'mlflow' requirement specifier"
    " to 'mlflow==1.30.0'). If you are making a request using the MLflow client"
    " (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in"
    " order to use the new request format. For more information about the updated MLflow"
    " Model scoring protocol in MLflow 2.0, see"
    " https://mlflow.org/docs/latest/models.html#deploy-mlflow-models."
)
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
SPLIT_KEYS = {"columns", "data", "index"}
LLM_KEYS = ("messages", "prompt", "input")  # MLflow's unified LLM input: the whole body goes to the model
# MLflow's DataType.to_pandas(): the dtypes MLflow reads CSV columns with, from the signature.
PANDAS_TYPES: dict[str, Any] = {
    "boolean": "bool", "integer": "int32", "long": "int64", "float": "float32", "double": "float64",
    "string": object, "binary": object, "datetime": "datetime64[ns]",
}  # fmt: skip

EXAMPLE = {
    "dataframe_split": {
        "columns": ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"],
        "data": [["Biscoe", 39.1, 18.7, 181.0, 3750.0, "male"]],
    }
}
_ROWS = {"type": "array", "minItems": 1}
REQUEST_SCHEMA = {
    "type": "object",
    "description": "exactly one of the four formats; other fields are ignored, as MLflow ignores them",
    "properties": {
        "dataframe_split": {
            "type": "object",
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {**_ROWS, "items": {"type": "array"}},
                "index": {"type": "array", "description": "accepted and ignored"},
            },
            "required": ["columns", "data"],
            "additionalProperties": False,
        },
        "dataframe_records": {**_ROWS, "items": {"type": "object"}},
        "instances": {**_ROWS, "description": "rows as objects, or nested arrays of numbers for an image model"},
        "inputs": {
            "anyOf": [_ROWS, {"type": "object", "description": "column name -> values"}],
            "description": "rows, columns, or nested arrays of numbers for an image model",
        },
        "params": {"description": "accepted and ignored: these models take no parameters"},
    },
    "oneOf": [{"required": [key]} for key in FORMATS],
}


@router.get(
    "/ping",
    tags=[PROBES],
    summary="MLflow health check: 200 when every configured model is loaded, else 503",
    response_class=PlainTextResponse,
)
async def ping(request: Request) -> PlainTextResponse:
    ready = app_state(request).ready()
    return PlainTextResponse("\n" if ready else "not ready\n", status_code=200 if ready else 503)


@router.get(
    "/version",
    summary="The MLflow version this server runs, as MLflow's scoring server answers it",
    response_class=PlainTextResponse,
)
async def version() -> PlainTextResponse:
    return PlainTextResponse(mlflow_version())


@functools.cache
def mlflow_version() -> str:
    for distribution in ("mlflow", "mlflow-skinny"):  # the image has MLflow's skinny distribution
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


@router.post(
    "/invocations",
    summary="Score with the default model (or ?model=): JSON in one of MLflow's four formats, CSV or Parquet",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                CONTENT_TYPE_JSON: {"schema": REQUEST_SCHEMA, "example": EXAMPLE},
                CONTENT_TYPE_CSV: {"schema": {"type": "string", "description": "DataFrame.to_csv(), index or not"}},
                CONTENT_TYPE_PARQUET: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def invocations(request: Request, model: str | None = Query(None)) -> Response:
    plane, call = serving(request)
    served = plane.select_model(call, model)
    kind, refusal = _content_type(request.headers.get("content-type"))
    if refusal is not None:
        return PlainTextResponse(refusal, status_code=415)
    raw = await request.body()
    if kind == CONTENT_TYPE_CSV:
        prediction = await _frame(request, served, _read_csv(served, raw), ("body", "csv"))
    elif kind == CONTENT_TYPE_PARQUET:
        if not _can_read_parquet():
            return PlainTextResponse(
                f"This server cannot read {CONTENT_TYPE_PARQUET}: pyarrow is not installed. "
                f"Send {CONTENT_TYPE_CSV} or {CONTENT_TYPE_JSON}.",
                status_code=415,
            )
        prediction = await _frame(request, served, _read_parquet(request, raw), ("body", "parquet"))
    else:
        prediction = await _json(request, served, parse_json(raw))
    return FastJSONResponse(
        {
            "predictions": prediction.labels,
            "model_name": served.name,
            "model_version": served.version,
        }
    )


def _content_type(header: str | None) -> tuple[str, str | None]:
    """The media type, or MLflow's 415 message. As MLflow: charset must be UTF-8 and no other parameter is
    allowed. Unlike MLflow, names are compared ignoring case and no Content-Type at all means JSON (MLflow
    answers that with a 500)."""
    if header is None or not header.strip():
        return CONTENT_TYPE_JSON, None
    parts = [part.strip() for part in header.split(";")]
    parameters = {key.strip().lower(): value for pair in parts[1:] for key, _, value in [pair.partition("=")]}
    if parameters.get("charset", "utf-8").strip().strip('"').lower() != "utf-8":
        return "", "The scoring server only supports UTF-8"
    unexpected = sorted(set(parameters) - {"charset"})
    if unexpected:
        return "", f"Unrecognized content type parameters: {', '.join(unexpected)}. {SCORING_PROTOCOL_CHANGE_INFO}"
    kind = parts[0].lower()
    if kind not in CONTENT_TYPES:
        return "", f"This predictor only supports the following content types: Types: {CONTENT_TYPES}. Got '{header}'."
    return kind, None


async def _json(request: Request, model: ServedModel, payload: Any) -> Prediction:
    plane, call = serving(request)
    if not isinstance(payload, dict):
        raise bad_request(
            f"The input must be a JSON dictionary with exactly one of the input fields {list(FORMATS)}. "
            f"Received a {type(payload).__name__}."
        )
    llm = [key for key in LLM_KEYS if key in payload]
    if llm:
        raise bad_request(
            f"{llm} make this MLflow's unified LLM input, which only LLM models take; send one of {list(FORMATS)}",
            ("body", llm[0]),
        )
    present = [key for key in FORMATS if key in payload]
    if len(present) != 1:
        raise bad_request(
            f"The input must be a JSON dictionary with exactly one of the input fields {list(FORMATS)}; "
            f"found {present or 'none'}"
        )
    key = present[0]
    value, loc = payload[key], ("body", key)
    if not isinstance(model, TabularModel):
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError, OverflowError):
            raise bad_request("expected nested arrays of numbers within the FP32 range (a tensor)", loc) from None
        return await plane.predict_tensor(call, model, array, loc)
    known = set(model.schema.names)
    if key == "dataframe_split":
        if not isinstance(value, dict):
            raise bad_request("Dataframe split format must be a dictionary: {'columns': [...], 'data': [[...]]}", loc)
        extra = sorted(set(value) - SPLIT_KEYS)
        if extra:
            raise bad_request(
                f"Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields; "
                f"got {sorted(value)}",
                (*loc, extra[0]),
            )
        columns, data = value.get("columns"), value.get("data")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise bad_request("expected a list of column names", (*loc, "columns"))
        if not isinstance(data, list):
            raise bad_request("expected a list of rows", (*loc, "data"))
        plane.check_rows(len(data), (*loc, "data"))
        rows = []
        for index, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(columns):
                raise bad_request(f"expected a list of {len(columns)} values", (*loc, "data", index))
            rows.append({c: v for c, v in zip(columns, row, strict=True) if c in known})
        return await plane.predict_rows(call, model, rows, (*loc, "data"))
    if key == "inputs" and isinstance(value, dict):
        columns = {name: v if isinstance(v, list) else [v] for name, v in value.items() if name in known}
        if not columns:
            raise bad_request(f"none of the inputs is a column of the model's signature {model.schema.names}", loc)
        return await plane.predict_columns(call, model, columns, loc)
    return await plane.predict_rows(call, model, _signature_columns(value, known), loc)


def _signature_columns(rows: Any, known: set[str]) -> Any:
    """Rows without the columns the signature does not name: MLflow ignores those."""
    if not isinstance(rows, list):
        return rows
    return [
        {k: v for k, v in row.items() if k in known} if isinstance(row, dict) and not known.issuperset(row) else row
        for row in rows
    ]


def _read_csv(model: ServedModel, raw: bytes) -> pd.DataFrame:
    """As MLflow's parse_csv_input: pandas.read_csv with the signature's dtypes; a column without a header (the
    index DataFrame.to_csv() writes) becomes ``Unnamed: 0``, which the signature does not name."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # str, not MLflow's repr: that would echo the whole body back
        raise bad_request(f"Invalid input. Ensure that input is a valid UTF-8 encoded string. Error: '{exc}'") from None
    dtypes = None
    if isinstance(model, TabularModel):
        dtypes = {column.name: PANDAS_TYPES.get(column.type, object) for column in model.schema.columns}
    try:
        return pd.read_csv(io.StringIO(text), dtype=dtypes)
    except Exception as exc:  # noqa: BLE001 - as MLflow: whatever pandas raises, the CSV is the caller's
        raise bad_request(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas "
            f"DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{_first_line(exc)}'"
        ) from None


@functools.cache
def _can_read_parquet() -> bool:
    """pandas reads Parquet with pyarrow, which MLflow's full distribution brings and this server's image lacks."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _read_parquet(request: Request, raw: bytes) -> pd.DataFrame:
    """As MLflow's parse_parquet_input (pandas.read_parquet), after checking the file's own account of its rows
    and size: a few KB of compressed Parquet can declare gigabytes."""
    plane = dataplane(request)
    import pyarrow.parquet as pq

    state = app_state(request)
    try:
        meta = pq.ParquetFile(io.BytesIO(raw)).metadata
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        rows = meta.num_rows
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
        raise bad_request(_parquet_failure(exc)) from None
    plane.check_rows(rows, ("body", "parquet"))
    if size > state.settings.max_body_bytes:
        limit = state.settings.max_body_bytes
        raise too_large(f"the Parquet data decompresses to {size} bytes, over the limit of {limit} bytes")
    try:
        return pd.read_parquet(io.BytesIO(raw), engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - as MLflow: whatever pandas/pyarrow raise, the file is the caller's
        raise bad_request(_parquet_failure(exc)) from None


def _parquet_failure(exc: Exception) -> str:
    return (
        "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid Parquet Pandas DataFrame "
        f"produced using the `pandas.DataFrame.to_parquet()` method. Error: '{_first_line(exc)}'"
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


async def _frame(request: Request, model: ServedModel, frame: pd.DataFrame, loc: tuple[str | int, ...]) -> Prediction:
    plane, call = serving(request)
    model = tabular(model, loc)
    names = set(model.schema.names)
    known = [column for column in frame.columns if isinstance(column, str) and column in names]
    rows = [
        {k: (None if _missing(v) else v) for k, v in record.items()}
        for record in frame[known].to_dict(orient="records")
    ]
    return await plane.predict_rows(call, model, rows, loc)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))
