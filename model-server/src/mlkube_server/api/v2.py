"""Open Inference Protocol V2 (REST), including the /versions/{version} forms and the repository extension.

Inputs for a tabular model: one input per column (shape [n] or [n, 1]; BYTES for strings), or one
[n, columns] input in signature order. For an image model: one FP32 tensor [n, *sample shape].
The binary tensor data extension (``Inference-Header-Content-Length``) is accepted, as the KServe client
sends it for numpy inputs by default, and answered when the request asks for binary outputs (v2_binary.py).
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from .. import __version__
from ..dataplane import Prediction
from ..errors import ApiError, FieldError, bad_request, invalid_input, shown
from ..jsonio import FastJSONResponse, parse_json, require_json, require_object
from ..models import ImageModel, ServedModel, TabularModel
from . import v2_binary
from .calls import app_state, request_info, serving
from .docs import body_doc
from .protocols import PROBES

PROTOCOL = "v2"
router = APIRouter(prefix="/v2", tags=["Open Inference Protocol V2"])

BINARY_HEADER = v2_binary.HEADER
OUTPUTS = ["predict", "predict_proba"]
NUMERIC = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}  # fmt: skip
_NAMED_OUTPUT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "enum": OUTPUTS},
        "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
    },
    "required": ["name"],
}
INFER_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "inputs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
                    "datatype": {"type": "string", "enum": ["BYTES", *NUMERIC]},
                    "data": {"description": "flat or nested; absent when parameters.binary_data_size is given"},
                    "parameters": {"type": "object"},
                },
                "required": ["name", "shape", "datatype"],
            },
        },
        "outputs": {"type": "array", "items": _NAMED_OUTPUT},
        "parameters": {
            "type": "object",
            "properties": {"binary_data_output": {"type": "boolean", "description": "every output as binary"}},
        },
    },
    "required": ["inputs"],
}
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


@router.post("/models/{name}/infer", summary="Inference", openapi_extra=body_doc(INFER_SCHEMA, INFER_EXAMPLE))
async def infer(request: Request, name: str) -> Response:
    return await _infer(request, name, None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Inference on one model version (404 unless it is the loaded one)",
    openapi_extra=body_doc(INFER_SCHEMA, INFER_EXAMPLE),
)
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


def _decode_inputs(payload: dict[str, Any], binary: bytes) -> list[tuple[str, list[int], str, Any]]:
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad_request("field required: a non-empty list of input tensors", ("body", "inputs"))
    decoded, errors, offset = [], [], 0
    for index, tensor in enumerate(inputs):
        loc = ("body", "inputs", index)
        if not isinstance(tensor, dict):
            errors.append(FieldError(loc, "expected an object with name, shape, datatype and data"))
            continue
        name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
        if not isinstance(name, str):
            errors.append(FieldError((*loc, "name"), "field required: a string"))
            continue
        if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d >= 0 for d in shape)):
            errors.append(FieldError((*loc, "shape"), "expected a list of non-negative integers"))
            continue
        if not isinstance(datatype, str) or (datatype != "BYTES" and datatype not in NUMERIC):
            errors.append(FieldError((*loc, "datatype"), f"unknown datatype {shown(datatype)}"))
            continue
        size = math.prod(shape)
        params = tensor.get("parameters") or {}
        if isinstance(params, dict) and "binary_data_size" in params:
            length = params["binary_data_size"]
            if not isinstance(length, int) or length < 0 or offset + length > len(binary):
                errors.append(FieldError((*loc, "parameters", "binary_data_size"), "runs past the end of the body"))
                continue
            chunk = binary[offset : offset + length]
            offset += length
            try:
                data = _from_binary(chunk, datatype, size)
            except ValueError as exc:
                errors.append(FieldError(loc, str(exc)))
                continue
        else:
            if "data" not in tensor:
                errors.append(FieldError((*loc, "data"), "field required"))
                continue
            data = _flatten(tensor["data"])
            if len(data) != size:
                errors.append(FieldError((*loc, "data"), f"holds {len(data)} values but shape {shape} needs {size}"))
                continue
        decoded.append((name, shape, datatype, data))
    if errors:
        raise invalid_input(errors)
    return decoded


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(item, list) for item in data):
        return data
    # Iterative: nesting is the caller's choice, up to the JSON parser's depth limit.
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _from_binary(chunk: bytes, datatype: str, size: int) -> list[Any]:
    if datatype == "BYTES":
        values, position = [], 0
        while position < len(chunk):
            if position + 4 > len(chunk):
                raise ValueError("truncated BYTES element")
            (length,) = struct.unpack_from("<I", chunk, position)
            values.append(chunk[position + 4 : position + 4 + length].decode("utf-8", errors="replace"))
            position += 4 + length
    else:
        dtype = np.dtype(NUMERIC[datatype])
        if len(chunk) != size * dtype.itemsize:
            raise ValueError(f"binary data has {len(chunk)} bytes; {size} x {datatype} needs {size * dtype.itemsize}")
        values = np.frombuffer(chunk, dtype=dtype).tolist()
    if len(values) != size:
        raise ValueError(f"binary data holds {len(values)} values, shape needs {size}")
    return values


async def _infer(request: Request, name: str, version: str | None) -> Response:
    plane, call = serving(request)
    model = _versioned(request, name, version)
    payload, binary = await _read_infer_body(request)
    request_id, wanted = _request_id(payload), _requested_outputs(payload)
    tensors = _decode_inputs(payload, binary)
    loc = ("body", "inputs")
    if isinstance(model, TabularModel):
        names = set(model.schema.names)
        if len(tensors) == 1 and tensors[0][0] not in names and len(tensors[0][1]) == 2:
            _, shape, _, data = tensors[0]
            plane.check_rows(shape[0], (*loc, 0, "shape"))
            width = shape[1]
            rows = [data[i * width : (i + 1) * width] for i in range(shape[0])]
            prediction = await plane.predict_rows(call, model, rows, (*loc, 0, "data"))
        else:
            for index, (tensor_name, shape, _, _) in enumerate(tensors):
                if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                    raise bad_request(f"column input {shown(tensor_name)} must have shape [n] or [n, 1]", (*loc, index))
            prediction = await plane.predict_columns(call, model, {t[0]: t[3] for t in tensors}, loc)
    else:
        if len(tensors) != 1:
            raise bad_request(f"model {name!r} takes one image tensor, got {len(tensors)} inputs", loc)
        _, shape, datatype, data = tensors[0]
        if datatype == "BYTES":
            raise bad_request("image tensors must be numeric (FP32)", (*loc, 0, "datatype"))
        try:
            array = np.asarray(data, dtype=np.float32).reshape(shape)
        except (TypeError, ValueError, OverflowError):
            raise bad_request("tensor data must be numbers within the FP32 range", (*loc, 0, "data")) from None
        prediction = await plane.predict_tensor(call, model, array, (*loc, 0))
    body = _infer_response(request_id or request_info(request).request_id, wanted, prediction)
    binary_names = v2_binary.binary_outputs(payload, [o["name"] for o in body["outputs"]])
    return v2_binary.response(body, binary_names) if binary_names else FastJSONResponse(body)


def _request_id(payload: dict[str, Any]) -> str | None:
    value = payload.get("id")
    if value is not None and not isinstance(value, str):
        raise bad_request(f"expected a string, got {shown(value)}", ("body", "id"))
    return value or None


def _requested_outputs(payload: dict[str, Any]) -> list[str] | None:
    """The names in ``outputs`` (None: every output), checked before any prediction is made."""
    wanted = payload.get("outputs")
    if wanted is None:
        return None
    if not isinstance(wanted, list):
        raise bad_request(f"expected a list of {{'name': ...}} objects, got {shown(wanted)}", ("body", "outputs"))
    names, errors = [], []
    for index, item in enumerate(wanted):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            errors.append(FieldError(("body", "outputs", index, "name"), "field required: an output name (string)"))
        elif name not in OUTPUTS:
            errors.append(
                FieldError(("body", "outputs", index, "name"), f"unknown output {shown(name)}; available: {OUTPUTS}")
            )
        else:
            names.append(name)
    if errors:
        raise invalid_input(errors)
    return names or None


def _infer_response(request_id: str, wanted: list[str] | None, prediction: Prediction) -> dict[str, Any]:
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
