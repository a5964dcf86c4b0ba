"""OpenAPI: bodies the handlers parse themselves (the V1/V2 ones from their pydantic models in bodies.py), every
status each operation answers (with the media type it answers it in), and the Features schema taken from the
default model."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

JSON = "application/json"
PLAIN_TEXT = "text/plain; charset=utf-8"  # what PlainTextResponse sends

MODEL = (404, 503)  # a model picked by name: unknown (the answer lists the known ones), or not loaded
BODY = (400, 413, 415, 422)  # a JSON body: malformed, too large, not JSON, invalid fields
# The statuses besides 200 each operation answers ("METHOD path" as in the document), 500 (a bug, with a request
# id) aside. Any POST may be refused 413 for its size before it is read. tests/server/test_mlflow_conformance.py
# checks that every operation is listed and that what the server answers is documented.
ERRORS: dict[str, tuple[int, ...]] = {
    "GET /": (),
    "GET /health": (503,),
    "GET /models": (),
    "GET /model/info": MODEL,
    "POST /predict": BODY + MODEL,
    "POST /predict/{model_name}": BODY + MODEL,
    "POST /predict/batch": BODY + MODEL,
    "POST /predict/compare": BODY + MODEL,
    "POST /predict/image": BODY + MODEL,
    "GET /v1/models": (),
    "GET /v1/models/{name}": (404, 405, 503),  # 405: GET on .../{name}:predict
    "POST /v1/models/{name}:predict": BODY + MODEL,
    "GET /v2": (),
    "GET /v2/health/live": (),
    "GET /v2/health/ready": (503,),
    "GET /v2/models": (),
    "GET /v2/models/{name}": MODEL,
    "GET /v2/models/{name}/versions/{version}": MODEL,
    "GET /v2/models/{name}/ready": MODEL,
    "GET /v2/models/{name}/versions/{version}/ready": MODEL,
    "POST /v2/models/{name}/infer": BODY + MODEL,
    "POST /v2/models/{name}/versions/{version}/infer": BODY + MODEL,
    "POST /v2/repository/index": (401, 403, 413),
    "POST /v2/repository/models/{name}/load": (400, 401, 403, 404, 413, 415, 422, 503),
    "POST /v2/repository/models/{name}/unload": (401, 403, 404, 413),
    "GET /ping": (503,),
    "GET /version": (),
    "POST /invocations": (400, 404, 413, 415, 503),  # MLflow answers bad input 400, never 422
    "GET /metrics": (),
}
# Answers that are not JSON.
MEDIA: dict[tuple[str, int], str] = {
    ("GET /metrics", 200): CONTENT_TYPE_LATEST,
    ("GET /ping", 200): PLAIN_TEXT,
    ("GET /ping", 503): PLAIN_TEXT,
    ("GET /version", 200): PLAIN_TEXT,
    ("POST /invocations", 415): PLAIN_TEXT,  # MLflow's refusal of a content type is plain text
}
# Their 503 is the status document saying "not ready", not an error.
STATUS_DOCUMENTS = {
    "GET /health", "GET /v2/health/ready", "GET /v1/models/{name}", "GET /v2/models/{name}/ready",
    "GET /v2/models/{name}/versions/{version}/ready",
}  # fmt: skip
MLFLOW = {"POST /invocations"}  # errors in MLflow's shape (ApiError.mlflow)
DESCRIPTIONS = {
    400: "Malformed body (JSON, CSV, Parquet, multipart) or a header that does not parse",
    401: "No bearer token, or not the right one",
    403: "The repository API is off (the server has no repository API token)",
    404: "Unknown model (the answer lists the available ones) or version",
    405: "Wrong method for this path",
    413: "Body over max_body_bytes, more rows than max_batch_rows, or an image over 4096x4096 pixels",
    415: "Content type not accepted here",
    422: "Invalid input: every bad field with its location and the reason",
    503: "Model not loaded (with the reason), or its queue full (load shedding: max_queued_requests), both with "
    "Retry-After; or not ready",
}
_DETAILS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
        },
        "required": ["loc", "msg"],
    },
}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "string"}, "details": _DETAILS},
        "required": ["error"],
    },
    "MlflowError": {
        "type": "object",
        "description": "MLflow's error body (MlflowException.serialize_as_json); details is this server's addition",
        "properties": {
            "error_code": {"type": "string", "examples": ["BAD_REQUEST", "RESOURCE_DOES_NOT_EXIST"]},
            "message": {"type": "string"},
            "sqlstate": {"type": "string"},
            "error_class": {"type": "string"},
            "details": _DETAILS,
        },
        "required": ["error_code", "message"],
    },
}


# The pydantic models the operations refer to, by name, with the mode their schema is written in (a request is
# validated, an answer serialised); install_openapi puts them and the models they use in components/schemas.
REFERENCED: dict[str, tuple[type[BaseModel], JsonSchemaMode]] = {}
REF = "#/components/schemas/{model}"


def model_ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
    REFERENCED[model.__name__] = (model, mode)
    return {"$ref": REF.format(model=model.__name__)}


def body_doc(schema: dict[str, Any] | type[BaseModel], example: Any, required: bool = True) -> dict[str, Any]:
    if isinstance(schema, type):
        schema = model_ref(schema, "validation")
    return {
        "requestBody": {
            "required": required,
            "content": {JSON: {"schema": schema, "example": example}},
        }
    }


def response_doc(model: type[BaseModel], binary_media: str) -> dict[str, Any]:
    """The 200 answer: the model as JSON, or the JSON then the raw tensors when the request asks for binary outputs."""
    content = {
        JSON: {"schema": model_ref(model, "serialization")},
        binary_media: {"schema": {"type": "string", "format": "binary"}},
    }
    return {"responses": {"200": {"description": "Successful Response", "content": content}}}


def install_openapi(app: FastAPI) -> None:
    """/docs shows the input columns of the default model's MLflow signature once it is loaded."""

    def openapi() -> dict[str, Any]:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        features: dict[str, Any] = {"type": "object", "description": "the input columns of the model"}
        state = getattr(app.state, "mlkube", None)
        if state is not None:
            for entry in state.repository.entries.values():
                model = entry.model
                if model is not None and model.kind == "tabular":
                    features = model.schema.json_schema()
                    features["description"] = f"input columns of {model.name} (MLflow signature)"
                    if entry.name == state.repository.default_name:
                        break
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Features"] = features
        components.update(SCHEMAS)
        for name, (model, mode) in REFERENCED.items():
            written = model.model_json_schema(ref_template=REF, mode=mode)
            components.update(written.pop("$defs", {}))
            components[name] = written
        for path, item in schema["paths"].items():
            for method, operation in item.items():
                _document_responses(f"{method.upper()} {path}", operation)
        text = json.dumps(schema["paths"])
        for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, which this server never sends
            if f"#/components/schemas/{unused}" not in text:
                components.pop(unused, None)
        return schema  # not cached: the models (and so the schema) can change at run time

    app.openapi = openapi  # type: ignore[method-assign]


def _document_responses(key: str, operation: dict[str, Any]) -> None:
    codes = ERRORS.get(key)
    if codes is None:  # a route missing from ERRORS keeps FastAPI's guess; the conformance test names it
        return
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's request validation error, with a body this server never sends
    ok = responses.setdefault("200", {"description": "Successful Response"})
    if (key, 200) in MEDIA:
        ok["content"] = {MEDIA[key, 200]: {"schema": {"type": "string"}}}
    for code in codes:
        media = MEDIA.get((key, code), JSON)
        if media != JSON:
            body: dict[str, Any] = {"type": "string"}
        elif code == 503 and key in STATUS_DOCUMENTS:
            body = {"type": "object", "description": "the status document, saying what is not ready"}
        else:
            body = {"$ref": "#/components/schemas/" + ("MlflowError" if key in MLFLOW else "Error")}
        responses[str(code)] = {"description": DESCRIPTIONS[code], "content": {media: {"schema": body}}}
    operation["responses"] = dict(sorted(responses.items()))
