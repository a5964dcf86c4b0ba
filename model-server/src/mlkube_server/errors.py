"""Errors a client can act on, and the one JSON shape every error response has.

``{"error": "<one line>", "details": [{"loc": [...], "msg": "..."}]}`` — V2 clients read ``error``, people
read both. No exception text from a library and never a traceback reaches a response.
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
