"""MLflow's scoring protocol: POST /invocations (dataframe_split, dataframe_records, instances, inputs, CSV)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from ..context import app_state
from ..errors import ApiError, bad_request
from ..jsonio import FastJSONResponse, media_type, parse_json, require_json, require_object
from ..models import TabularModel
from ..service import Prediction, predict_columns, predict_rows, predict_tensor, select_model
from .docs import body_doc

router = APIRouter(tags=["MLflow scoring"])

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
EXAMPLE = {
    "dataframe_split": {
        "columns": ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"],
        "data": [["Biscoe", 39.1, 18.7, 181.0, 3750.0, "male"]],
    }
}


@router.get("/ping", summary="MLflow health check: 200 when every configured model is loaded")
async def ping(request: Request) -> PlainTextResponse:
    ready = app_state(request).ready()
    return PlainTextResponse("\n" if ready else "not ready\n", status_code=200 if ready else 503)


@router.post(
    "/invocations",
    summary="Score with the default model (or ?model=): JSON in one of MLflow's four formats, or CSV",
    openapi_extra=body_doc({"type": "object"}, EXAMPLE),
)
async def invocations(request: Request, model: str | None = Query(None)) -> FastJSONResponse:
    served = select_model(request, model)
    if media_type(request) == "text/csv":
        prediction = await _csv(request, served)
    else:
        require_json(request)
        payload = require_object(parse_json(await request.body()), "one of " + ", ".join(FORMATS))
        present = [key for key in FORMATS if key in payload]
        if len(present) != 1:
            raise bad_request(f"the body needs exactly one of {list(FORMATS)}, found {present or 'none'}")
        extra = set(payload) - {present[0], "params"}
        if extra:
            raise bad_request(f"unexpected field(s) {sorted(extra)}", ("body", sorted(extra)[0]))
        prediction = await _json(request, served, present[0], payload[present[0]])
    return FastJSONResponse(
        {
            "predictions": prediction.labels,
            "model_name": served.name,
            "model_version": served.version,
        }
    )


async def _json(request: Request, model: Any, key: str, value: Any) -> Prediction:
    loc = ("body", key)
    if not isinstance(model, TabularModel):
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError, OverflowError):
            raise bad_request("expected nested arrays of numbers within the FP32 range (a tensor)", loc) from None
        return await predict_tensor(request, model, array, loc)
    if key == "dataframe_split":
        split = require_object(value, "{'columns': [...], 'data': [[...]]}")
        columns, data = split.get("columns"), split.get("data")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise bad_request("expected a list of column names", (*loc, "columns"))
        if not isinstance(data, list):
            raise bad_request("expected a list of rows", (*loc, "data"))
        rows = []
        for index, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(columns):
                raise bad_request(f"expected a list of {len(columns)} values", (*loc, "data", index))
            rows.append(dict(zip(columns, row, strict=True)))
        return await predict_rows(request, model, rows, (*loc, "data"))
    if key == "inputs" and isinstance(value, dict):
        columns = {name: v if isinstance(v, list) else [v] for name, v in value.items()}
        return await predict_columns(request, model, columns, loc)
    return await predict_rows(request, model, value, loc)


async def _csv(request: Request, model: Any) -> Prediction:
    import pandas as pd

    raw = await request.body()
    try:
        frame = pd.read_csv(io.BytesIO(raw))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ApiError(400, f"malformed CSV: {first}") from None
    rows = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
        for record in frame.to_dict(orient="records")
    ]
    return await predict_rows(request, model, rows, ("body", "csv"))
