"""Request bodies in, JSON out: content-type checks, tolerant-but-strict JSON parsing, fast responses."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

from .errors import ApiError, bad_request

JSON_TYPES = ("application/json",)


class FastJSONResponse(JSONResponse):
    """orjson rendering (numpy arrays included): JSON encoding is a visible share of a request's cost."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def error_response(error: ApiError, request_id: str | None = None, mlflow: bool = False) -> FastJSONResponse:
    """``mlflow``: the request came through MLflow's scoring protocol, which has its own error shape."""
    headers = dict(error.headers or {})
    if request_id:
        headers["X-Request-ID"] = request_id
    status, body = error.mlflow() if mlflow else (error.status, error.body())
    return FastJSONResponse(body, status_code=status, headers=headers)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_json(request: Request) -> None:
    kind = media_type(request)
    # No Content-Type at all is taken as JSON; a different one is a client mistake worth naming.
    if kind and kind not in JSON_TYPES and not kind.endswith("+json"):
        raise ApiError(415, f"unsupported Content-Type {kind!r}; send application/json")


async def read_json(request: Request) -> Any:
    require_json(request)
    return parse_json(await request.body())


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise bad_request("request body is empty; expected a JSON document", status=400)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson stops at 1024 levels; the standard parser would recurse until it fails
            raise bad_request(f"JSON nested too deeply: {exc}", status=400) from None
        # The standard parser also reads NaN/Infinity and integers beyond 64 bits, so that those get a
        # per-field answer instead.
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise bad_request(f"malformed JSON: {exc}", status=400) from None


def require_object(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise bad_request(f"expected a JSON object ({what}), got {type(payload).__name__}")
    return payload


def probabilities_by_class(classes: list[str], row: np.ndarray) -> dict[str, float]:
    return {label: round(float(p), 6) for label, p in zip(classes, row, strict=True)}
