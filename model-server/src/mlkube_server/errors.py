"""Errors a client can act on, and the one JSON shape every error response has.

``{"error": "<one line>", "details": [{"loc": [...], "msg": "..."}]}`` — V2 clients read ``error``, people
read both. MLflow's ``/invocations`` answers in MLflow's own shape instead (``ApiError.mlflow``). No exception
text from a library and never a traceback reaches a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    msg: str

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg}


@dataclass
class ApiError(Exception):
    """An error answered with ``status`` and a message meant for the caller."""

    status: int
    message: str
    details: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] | None = None

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"error": self.message}
        if self.details:
            payload["details"] = [detail.as_dict() for detail in self.details]
        return payload

    def mlflow(self) -> tuple[int, dict[str, Any]]:
        """Status and body as MLflow's scoring server answers (``MlflowException.serialize_as_json``): bad input
        is 400 there, never 422; ``details`` (the fields at fault) is this server's addition."""
        status = 400 if self.status == 422 else self.status
        code = MLFLOW_ERROR_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
        sqlstate, error_class = MLFLOW_CLASSIFICATION[code]
        payload: dict[str, Any] = {
            "error_code": code,
            "message": self.message,
            "sqlstate": sqlstate,
            "error_class": error_class,
        }
        if self.details:
            payload["details"] = [detail.as_dict() for detail in self.details]
        return status, payload


# MLflow's error codes (mlflow.protos.databricks_pb2) by HTTP status, and the sqlstate and error_class MLflow 3.17
# derives for each (tests/server/test_mlflow_conformance.py checks them against MlflowException). Written out
# rather than imported: MLflow's first import is serialised with the model loads (loader.py).
MLFLOW_ERROR_CODES = {400: "BAD_REQUEST", 404: "RESOURCE_DOES_NOT_EXIST", 503: "TEMPORARILY_UNAVAILABLE"}
MLFLOW_CLASSIFICATION = {
    "BAD_REQUEST": ("KAM00", "INVALID_PARAMETER_VALUE"),
    "RESOURCE_DOES_NOT_EXIST": ("KAM00", "RESOURCE_NOT_FOUND"),
    "TEMPORARILY_UNAVAILABLE": ("XXM00", "CLIENT_INTERNAL_ERROR"),
    "INTERNAL_ERROR": ("XXM00", "CLIENT_INTERNAL_ERROR"),
}


def invalid_input(details: list[FieldError], status: int = 422) -> ApiError:
    first = details[0]
    where = ".".join(str(part) for part in first.loc) or "body"
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return ApiError(status, f"invalid input at {where}: {first.msg}{more}", details)


def bad_request(message: str, loc: tuple[str | int, ...] = ("body",), status: int = 422) -> ApiError:
    return ApiError(status, message, [FieldError(loc, message)])


def too_large(message: str, loc: tuple[str | int, ...] = ("body",)) -> ApiError:
    return ApiError(413, message, [FieldError(loc, message)])


def unknown_model(name: str, available: list[str]) -> ApiError:
    listing = ", ".join(available) if available else "none"
    return ApiError(404, f"model {name!r} not found; available models: {listing}")


def model_unavailable(name: str, reason: str) -> ApiError:
    return ApiError(503, f"model {name!r} is not loaded: {reason}", headers={"Retry-After": "5"})


def overloaded(name: str, limit: int, retry_after: int) -> ApiError:
    """Load shedding: the model already has ``limit`` requests queued; answered at once, the connection kept."""
    return _shed(
        f"model {name!r} is overloaded: {limit} requests are already queued for it (max_queued_requests={limit})",
        retry_after,
    )


def at_capacity(limit: int, retry_after: int) -> ApiError:
    """Load shedding before the body is read: the process already holds ``limit`` prediction requests."""
    return _shed(
        f"the server is at capacity: {limit} requests are already in progress (max_concurrent_requests={limit})",
        retry_after,
    )


def _shed(reason: str, retry_after: int) -> ApiError:
    return ApiError(503, f"{reason}; retry after {retry_after} s", headers={"Retry-After": str(retry_after)})


def load_failed(reason: str, loc: tuple[str | int, ...], transient: bool, serving: str | None) -> ApiError:
    """A repository (re)load that did not happen: what failed, and which version (if any) still answers."""
    message = reason + (f"; version {serving} keeps serving" if serving else "")
    if transient:
        return ApiError(503, message, [FieldError(loc, reason)], headers={"Retry-After": "5"})
    return ApiError(422, message, [FieldError(loc, reason)])


def repository_api_off() -> ApiError:
    return ApiError(
        403,
        "the repository API is off; start the server with MLKUBE_SERVER_REPOSITORY_API_TOKEN "
        "(or MLKUBE_SERVER_REPOSITORY_API_TOKEN_FILE) to turn it on",
    )


def unauthorized(reason: str) -> ApiError:
    return ApiError(401, reason, [FieldError(("header", "authorization"), reason)], {"WWW-Authenticate": "Bearer"})


def internal_error(request_id: str) -> ApiError:
    # The server's state after an unexpected error is unknown: the client opens a fresh connection.
    return ApiError(
        500, f"internal error; see the server log for request id {request_id}", headers={"Connection": "close"}
    )


def shown(value: Any, limit: int = 64) -> str:
    """A caller's value quoted in a message: short strings as they are, anything else by its type only
    (repr of a deeply nested document would recurse, and of a large one would echo the whole body)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."
    return f"a {type(value).__name__}"
