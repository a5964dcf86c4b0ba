"""Open Inference Protocol V2 (REST), including the /versions/{version} forms and the repository extension.

Inputs for a tabular model: one input per column (shape [n] or [n, 1]; BYTES for strings), or one
[n, columns] input in signature order. For an image model: one FP32 tensor [n, *sample shape].
The binary tensor data extension (``Inference-Header-Content-Length``) is accepted, as the KServe client
sends it for numpy inputs by default, and answered when the request asks for binary outputs (v2_binary.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from .. import __version__
from ..dataplane import Prediction
from ..errors import ApiError, bad_request, shown
from ..jsonio import FastJSONResponse, parse_json, require_json, require_object
from ..models import ImageModel, ServedModel, TabularModel
from . import v2_binary
from .bodies import InferenceRequest, InferenceResponse, OutputName
from .calls import app_state, request_info, serving
from .direct import direct
from .docs import body_doc, response_doc
from .protocols import PROBES
from .v2_tensors import decode_request

PROTOCOL = "v2"
router = APIRouter(prefix="/v2", tags=["Open Inference Protocol V2"])

BINARY_HEADER = v2_binary.HEADER
INFER_EXAMPLE = {
    "inputs": [
        {"name": "island", "shape": [1], "datatype": "BYTES", "data": ["Biscoe"]},
        {"name": "bill_length_mm", "shape": [1], "datatype": "FP64", "data": [39.1]},
        {"name": "bill_depth_mm", "shape": [1], "datatype": "FP64", "data": [18.7]},
        {"name": "flipper_length_mm", "shape": [1], "datatype": "FP64", "data": [181.0]},
        {"name": "body_mass_g", "shape": [1], "datatype": "FP64", "data": [3750.0]},
        {"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["male"]},
    ]
}


@router.get("", summary="Server metadata")
async def server_metadata(request: Request) -> FastJSONResponse:
    repository_api = app_state(request).settings.repository_api_token is not None
    extensions = ["model_repository"] * repository_api + ["binary_tensor_data", "model_versions"]
    return FastJSONResponse({"name": "mlkube-model-server", "version": __version__, "extensions": extensions})


@router.get("/health/live", tags=[PROBES], summary="Liveness: the process answers")
async def live() -> FastJSONResponse:
    return FastJSONResponse({"live": True})


@router.get(
    "/health/ready", tags=[PROBES], summary="Readiness: every configured model is loaded and no shutdown is under way"
)
async def ready(request: Request) -> FastJSONResponse:
    is_ready = app_state(request).ready()
    return FastJSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("/models", summary="Model names (KServe extension)")
async def list_models(request: Request) -> FastJSONResponse:
    return FastJSONResponse({"models": app_state(request).repository.names})


def _versioned(request: Request, name: str, version: str | None) -> ServedModel:
    plane, call = serving(request)
    model = plane.select_model(call, name)
    if version is not None and version != model.version:
        raise ApiError(404, f"model {name!r} version {version!r} is not loaded; the loaded version is {model.version}")
    return model


def _metadata(model: ServedModel) -> dict[str, Any]:
    if isinstance(model, TabularModel):
        inputs = [
            {"name": c.name, "datatype": "BYTES" if c.type == "string" else _v2_type(c.type), "shape": [-1]}
            for c in model.schema.columns
        ]
    elif isinstance(model, ImageModel):
        inputs = [{"name": "input-0", "datatype": "FP32", "shape": [-1, *model.image.shape]}]
    else:
        inputs = []
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": model.identity.flavor,
        "inputs": inputs,
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(model.classes)]},
        ],
        "parameters": {"alias": model.identity.alias, "classes": model.classes, "uri": model.identity.uri},
    }


def _v2_type(mlflow_type: str) -> str:
    return {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32", "boolean": "BOOL"}.get(
        mlflow_type, "BYTES"
    )


@router.get("/models/{name}", summary="Model metadata")
async def model_metadata(request: Request, name: str) -> FastJSONResponse:
    return FastJSONResponse(_metadata(_versioned(request, name, None)))


@router.get("/models/{name}/versions/{version}", summary="Model metadata of one version")
async def model_version_metadata(request: Request, name: str, version: str) -> FastJSONResponse:
    return FastJSONResponse(_metadata(_versioned(request, name, version)))


async def _model_ready(request: Request, name: str, version: str | None) -> FastJSONResponse:
    try:
        _versioned(request, name, version)
    except ApiError as exc:
        if exc.status == 503:
            return FastJSONResponse({"name": name, "ready": False, "error": exc.message}, status_code=503)
        raise
    return FastJSONResponse({"name": name, "ready": True})


@router.get("/models/{name}/ready", summary="Model readiness")
async def model_ready(request: Request, name: str) -> FastJSONResponse:
    return await _model_ready(request, name, None)


@router.get("/models/{name}/versions/{version}/ready", summary="Readiness of one model version")
async def model_version_ready(request: Request, name: str, version: str) -> FastJSONResponse:
    return await _model_ready(request, name, version)


INFER_DOC = {**body_doc(InferenceRequest, INFER_EXAMPLE), **response_doc(InferenceResponse, v2_binary.MEDIA_TYPE)}


@router.post("/models/{name}/infer", summary="Inference", openapi_extra=INFER_DOC)
@direct
async def infer(request: Request, name: str) -> Response:
    return await _infer(request, name, None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Inference on one model version (404 unless it is the loaded one)",
    openapi_extra=INFER_DOC,
)
@direct
async def infer_version(request: Request, name: str, version: str) -> Response:
    return await _infer(request, name, version)


async def _read_infer_body(request: Request) -> tuple[dict[str, Any], bytes]:
    raw = await request.body()
    header = request.headers.get(BINARY_HEADER)
    if header is None:
        require_json(request)
        return require_object(parse_json(raw), "an inference request"), b""
    try:
        json_length = int(header)
    except ValueError:
        raise bad_request(f"{BINARY_HEADER} must be an integer", ("header", BINARY_HEADER), status=400) from None
    if not 0 < json_length <= len(raw):
        raise bad_request(f"{BINARY_HEADER} {json_length} is outside the body", ("header", BINARY_HEADER), status=400)
    return require_object(parse_json(raw[:json_length]), "an inference request"), raw[json_length:]


async def _infer(request: Request, name: str, version: str | None) -> Response:
    plane, call = serving(request)
    model = _versioned(request, name, version)
    payload, binary = await _read_infer_body(request)
    inference, tensors = decode_request(payload, binary)
    loc = ("body", "inputs")
    if isinstance(model, TabularModel):
        first = tensors[0]
        if len(tensors) == 1 and first.name not in model.schema.names and len(first.shape) == 2:
            plane.check_rows(first.shape[0], (*loc, 0, "shape"))
            width = first.shape[1]
            rows = [first.data[i * width : (i + 1) * width] for i in range(first.shape[0])]
            prediction = await plane.predict_rows(call, model, rows, (*loc, 0, "data"))
        else:
            for index, tensor in enumerate(tensors):
                shape = tensor.shape
                if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                    raise bad_request(f"column input {shown(tensor.name)} must have shape [n] or [n, 1]", (*loc, index))
            prediction = await plane.predict_columns(call, model, {t.name: t.data for t in tensors}, loc)
    else:
        if len(tensors) != 1:
            raise bad_request(f"model {name!r} takes one image tensor, got {len(tensors)} inputs", loc)
        tensor = tensors[0]
        if tensor.datatype == "BYTES":
            raise bad_request("image tensors must be numeric (FP32)", (*loc, 0, "datatype"))
        try:
            array = np.asarray(tensor.data, dtype=np.float32).reshape(tensor.shape)
        except (TypeError, ValueError, OverflowError):
            raise bad_request("tensor data must be numbers within the FP32 range", (*loc, 0, "data")) from None
        prediction = await plane.predict_tensor(call, model, array, (*loc, 0))
    wanted = [output.name for output in inference.outputs or ()]
    answer = _infer_response(inference.id or request_info(request).request_id, wanted, prediction)
    binary_names = v2_binary.binary_outputs(inference, [o["name"] for o in answer["outputs"]])
    return v2_binary.response(answer, binary_names) if binary_names else FastJSONResponse(answer)


def _infer_response(request_id: str, wanted: list[OutputName], prediction: Prediction) -> dict[str, Any]:
    """``bodies.InferenceResponse`` as a plain dict: orjson writes the probabilities straight from the array."""
    model, probabilities = prediction.model, prediction.probabilities
    rows = len(probabilities)
    outputs = {
        "predict": {"name": "predict", "datatype": "BYTES", "shape": [rows], "data": prediction.labels},
        "predict_proba": {
            "name": "predict_proba",
            "datatype": "FP64",
            "shape": [rows, len(model.classes)],
            "data": probabilities.ravel(),
        },
    }
    selected = [outputs[n] for n in wanted] if wanted else list(outputs.values())
    ident = model.identity
    return {
        "model_name": ident.name,
        "model_version": ident.version,
        "id": request_id,
        "parameters": {"alias": ident.alias, "classes": model.classes},
        "outputs": selected,
    }
