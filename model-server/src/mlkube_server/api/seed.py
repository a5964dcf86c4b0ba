"""The seed API the users started from (tutorials 004 and 002): /predict, /predict/batch, /models, ..."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request, UploadFile
from starlette.datastructures import UploadFile as StarletteUpload

from .. import __version__
from ..dataplane import Prediction, decode_image
from ..errors import ApiError, bad_request
from ..jsonio import FastJSONResponse, media_type, probabilities_by_class, read_json, require_object
from ..repository import State
from . import mlflow_scoring, repository, v1, v2
from .calls import app_state, request_info, serving
from .docs import body_doc
from .protocols import PROBES

PROTOCOL = "seed"
router = APIRouter(tags=["seed API"])

SINGLE = {"$ref": "#/components/schemas/Features"}
ROWS = {"type": "array", "items": SINGLE, "minItems": 1}  # an empty list is refused (422)
RECORDS = {
    "type": "object",
    "properties": {"records": ROWS, "model": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
    "required": ["records"],
    "additionalProperties": False,
}
BATCH = {"type": "object", "properties": {"penguins": ROWS}, "required": ["penguins"], "additionalProperties": False}
# /predict/compare reads "records", else "penguins", else the body as one penguin, and ignores other fields.
COMPARE = {
    "anyOf": [SINGLE, *({k: v for k, v in part.items() if k != "additionalProperties"} for part in (RECORDS, BATCH))]
}
EXAMPLE = {
    "island": "Biscoe",
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181.0,
    "body_mass_g": 3750.0,
    "sex": "male",
}


def _single(prediction: Prediction) -> dict[str, Any]:
    return {
        "species": prediction.labels[0],
        "confidence": prediction.confidences[0],
        "probabilities": probabilities_by_class(prediction.model.classes, prediction.probabilities[0]),
        **prediction.identity(),
    }


def _records(prediction: Prediction) -> dict[str, Any]:
    classes = prediction.model.classes
    return {
        **prediction.identity(),
        "predictions": prediction.labels,
        "confidence": prediction.confidences,
        "probabilities": [probabilities_by_class(classes, row) for row in prediction.probabilities],
        "classes": classes,
    }


@lru_cache(maxsize=8)  # the routes are fixed once the app is built (only the models' schemas change)
def endpoints_by_protocol(app: FastAPI) -> dict[str, list[str]]:
    """The paths of each protocol's routers, read from the app's own OpenAPI document (so the list cannot drift
    from the routes): V2's model repository counts with V2, and each router's health and version routes with it."""
    key_of_tag = {
        router.tags[0]: "seed",
        v1.router.tags[0]: "kserve_v1",
        v2.router.tags[0]: "open_inference_v2",
        repository.router.tags[0]: "open_inference_v2",
        mlflow_scoring.router.tags[0]: "mlflow",
    }
    grouped: dict[str, list[str]] = {key: [] for key in key_of_tag.values()}
    for path, operations in app.openapi()["paths"].items():
        tags = {tag for operation in operations.values() for tag in operation.get("tags", [])}
        for key in dict.fromkeys(key_of_tag[tag] for tag in tags if tag in key_of_tag):
            grouped[key].append(path)
    return grouped


@router.get(
    "/", tags=[PROBES], summary="Liveness as KServe's V1 client checks it (status: alive), and where to go next"
)
async def root(request: Request) -> FastJSONResponse:
    state = app_state(request)
    return FastJSONResponse(
        {
            "status": "alive",
            "message": "mlkube model server",
            "version": __version__,
            "default_model": state.repository.default_name,
            "models": state.repository.names,
            "docs": "/docs",
            "endpoints": {**endpoints_by_protocol(request.app), "metrics": "/metrics"},
        }
    )


@router.get("/health", tags=[PROBES], summary="Seed health check: 200 when every configured model is loaded, else 503")
async def health(request: Request) -> FastJSONResponse:
    state = app_state(request)
    entries = state.repository.entries.values()
    if state.shutting_down:
        status = "shutting_down"
    elif state.repository.ready():
        status = "healthy"
    elif any(e.state in (State.PENDING, State.LOADING) for e in entries):
        status = "loading"
    else:
        status = "degraded"
    body = {
        "status": status,
        "ready": state.ready(),
        "models": {e.name: e.summary() for e in entries},
    }
    return FastJSONResponse(body, status_code=200 if state.ready() else 503)


@router.get("/models", summary="Every configured model with its version, alias and state")
async def models(request: Request) -> FastJSONResponse:
    repo = app_state(request).repository
    listing = [e.summary() for e in repo.entries.values()]
    return FastJSONResponse({"default": repo.default_name, "count": len(listing), "models": listing})


@router.get("/model/info", summary="Metadata of one model (default unless ?model=)")
async def model_info(request: Request, model: str | None = Query(None)) -> FastJSONResponse:
    plane, call = serving(request)
    served = plane.select_model(call, model)
    return FastJSONResponse({**served.metadata(), "default": served.name == app_state(request).repository.default_name})


async def _predict(request: Request, model_name: str | None) -> FastJSONResponse:
    plane, call = serving(request)
    payload = require_object(await read_json(request), "one penguin, or {'records': [...]}")
    if "records" in payload:
        extra = set(payload) - {"records", "model"}
        if extra:
            raise bad_request(f"unexpected field(s) {sorted(extra)} next to 'records'", ("body", sorted(extra)[0]))
        body_model = payload.get("model")
        if body_model is not None and not isinstance(body_model, str):
            raise bad_request("must be a model name", ("body", "model"))
        model = plane.select_model(call, model_name or body_model)
        prediction = await plane.predict_rows(call, model, payload["records"], ("body", "records"))
        return FastJSONResponse(_records(prediction))
    model = plane.select_model(call, model_name)
    prediction = await plane.predict_rows(call, model, [payload], ("body",), single=True)
    return FastJSONResponse(_single(prediction))


# Fixed paths first: /predict/{model_name} would otherwise swallow them.
@router.post(
    "/predict/batch",
    summary="Predict many penguins: {'penguins': [...]} (limit: max_batch_rows, 413 above)",
    openapi_extra=body_doc(BATCH, {"penguins": [EXAMPLE, {**EXAMPLE, "island": "Dream", "sex": "FEMALE"}]}),
)
async def predict_batch(request: Request, model: str | None = Query(None)) -> FastJSONResponse:
    plane, call = serving(request)
    payload = require_object(await read_json(request), "{'penguins': [...]}")
    if "penguins" not in payload:
        raise bad_request("field required", ("body", "penguins"))
    extra = set(payload) - {"penguins"}
    if extra:
        raise bad_request(f"unexpected field(s) {sorted(extra)}", ("body", sorted(extra)[0]))
    served = plane.select_model(call, model)
    prediction = await plane.predict_rows(call, served, payload["penguins"], ("body", "penguins"))
    classes = served.classes
    items = [
        {"species": label, "confidence": confidence, "probabilities": probabilities_by_class(classes, row)}
        for label, confidence, row in zip(
            prediction.labels, prediction.confidences, prediction.probabilities, strict=True
        )
    ]
    return FastJSONResponse({**prediction.identity(), "count": len(items), "predictions": items})


@router.post(
    "/predict/compare",
    summary="Every model (or ?models=a&models=b) on the same rows",
    openapi_extra=body_doc(COMPARE, {"records": [EXAMPLE]}),
)
async def predict_compare(request: Request, models: list[str] | None = Query(None)) -> FastJSONResponse:
    plane, call = serving(request)
    state = app_state(request)
    payload = require_object(await read_json(request), "one penguin, {'records': [...]} or {'penguins': [...]}")
    loc: tuple[str, ...]
    if "records" in payload:
        rows, loc = payload["records"], ("body", "records")
    elif "penguins" in payload:
        rows, loc = payload["penguins"], ("body", "penguins")
    else:
        rows, loc = [payload], ("body",)
    single = loc == ("body",)
    names = [n.strip() for item in (models or []) for n in item.split(",") if n.strip()]
    if not names:
        names = [
            n
            for n in state.repository.ready_models()
            if (model := state.repository.entries[n].model) is not None and model.kind == "tabular"
        ]
    for name in names:
        state.repository.entry(name)  # 404 listing the models before any work
    results: dict[str, Any] = {}
    for name in names:
        served = state.repository.get(name)[0]
        results[name] = _records(await plane.predict_rows(call, served, rows, loc, single=single))
    info = request_info(request)
    info.model = "compare"
    info.version = ",".join(f"{n}:{results[n]['version']}" for n in names)
    return FastJSONResponse({"models": names, "results": results})


@router.post(
    "/predict/image",
    summary="Classify a PNG/JPEG upload with the image model (default: the first image model, or ?model=)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    },
)
async def predict_image(request: Request, model: str | None = Query(None)) -> FastJSONResponse:
    plane, call = serving(request)
    state = app_state(request)
    if media_type(request) != "multipart/form-data":
        raise ApiError(415, "send the image as multipart/form-data with a 'file' field (curl -F file=@digit.png)")
    if model is None:
        images = [e.name for e in state.repository.entries.values() if e.model is not None and e.model.kind == "image"]
        candidates = images or [n for n in state.repository.names if "digit" in n]
        if not candidates:
            raise ApiError(404, f"no image model is configured; available models: {', '.join(state.repository.names)}")
        model = candidates[0]
    served = plane.select_model(call, model)
    try:
        form = await request.form()
    except ApiError:
        raise
    except Exception:  # noqa: BLE001 - a broken multipart body is the client's
        raise bad_request("malformed multipart body", ("body",), status=400) from None
    upload = form.get("file")
    if not isinstance(upload, (UploadFile, StarletteUpload)):
        raise bad_request("field required: a file upload named 'file'", ("body", "file"))
    sample = decode_image(served, await upload.read())
    prediction = await plane.predict_tensor(call, served, sample, ("body", "file"))
    label = prediction.labels[0]
    return FastJSONResponse(
        {
            "digit": int(label) if label.isdigit() else label,
            "prediction": label,
            "confidence": prediction.confidences[0],
            "probabilities": probabilities_by_class(served.classes, prediction.probabilities[0]),
            **prediction.identity(),
        }
    )


@router.post(
    "/predict",
    summary="Predict one penguin (or {'records': [...]}) with the default model or ?model=",
    openapi_extra=body_doc({"oneOf": [SINGLE, RECORDS]}, EXAMPLE),
)
async def predict(request: Request, model: str | None = Query(None)) -> FastJSONResponse:
    return await _predict(request, model)


@router.post(
    "/predict/{model_name}",
    summary="Predict with the named model",
    openapi_extra=body_doc({"oneOf": [SINGLE, RECORDS]}, EXAMPLE),
)
async def predict_named(request: Request, model_name: str) -> FastJSONResponse:
    return await _predict(request, model_name)
