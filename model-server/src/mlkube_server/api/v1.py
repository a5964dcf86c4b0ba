"""KServe V1: /v1/models, /v1/models/{name}, /v1/models/{name}:predict with {"instances": [...]} (or "inputs")."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from ..errors import ApiError, bad_request
from ..jsonio import FastJSONResponse, probabilities_by_class, read_json, require_object
from ..models import TabularModel
from .bodies import V1Request, validated
from .calls import app_state, serving
from .direct import direct
from .docs import body_doc

PROTOCOL = "v1"
router = APIRouter(prefix="/v1", tags=["KServe V1"])

EXAMPLE = {
    "instances": [
        {"island": "Biscoe", "bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181.0,
         "body_mass_g": 3750.0, "sex": "male"}
    ]
}  # fmt: skip


@router.get("/models", summary="Model names")
async def list_models(request: Request) -> FastJSONResponse:
    return FastJSONResponse({"models": app_state(request).repository.names})


@router.get("/models/{name}", summary="Model readiness (503 while not loaded)")
async def model_status(request: Request, name: str) -> FastJSONResponse:
    plane, call = serving(request)
    if name.endswith(":predict"):  # this route matches /v1/models/{name}:predict too, with the suffix in name
        raise ApiError(405, f"method {request.method} not allowed; predict takes POST", headers={"Allow": "POST"})
    try:
        model = plane.select_model(call, name)
    except ApiError as exc:
        if exc.status == 503:
            return FastJSONResponse({"name": name, "ready": False, "error": exc.message}, status_code=503)
        raise
    return FastJSONResponse({"name": name, "ready": True, "model_version": model.version})


@router.post(
    "/models/{name}:predict",
    summary="Predict: rows as objects, or as lists in signature order; image models take nested arrays",
    openapi_extra=body_doc(V1Request, EXAMPLE),
)
@direct
async def predict(request: Request, name: str) -> FastJSONResponse:
    plane, call = serving(request)
    model = plane.select_model(call, name)
    body = validated(V1Request, require_object(await read_json(request), "{'instances': [...]}"))
    if body.instances is not None and body.inputs is not None:
        raise bad_request("send the rows as instances or as inputs, not both", ("body",))
    field, instances = ("inputs", body.inputs) if body.inputs is not None else ("instances", body.instances)
    if instances is None:
        raise bad_request("field required: instances (or inputs)", ("body", "instances"))
    loc = ("body", field)
    if isinstance(model, TabularModel):
        prediction = await plane.predict_rows(call, model, instances, loc)
    else:
        try:
            array = np.asarray(instances, dtype=np.float32)
        except (TypeError, ValueError, OverflowError):
            raise bad_request(f"{field} must be nested arrays of numbers within the FP32 range", loc) from None
        prediction = await plane.predict_tensor(call, model, array, loc)
    return FastJSONResponse(
        {
            "predictions": prediction.labels,
            "probabilities": [probabilities_by_class(model.classes, row) for row in prediction.probabilities],
            "model_name": model.name,
            "model_version": model.version,
        }
    )
