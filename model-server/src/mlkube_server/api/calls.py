"""What a route reads from its request: the app's data plane and state, and this call's bookkeeping."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ..context import AppState, RequestInfo
from ..dataplane import DataPlane


def app_state(request: Request) -> AppState:
    return request.app.state.mlkube


def dataplane(request: Request) -> DataPlane:
    return request.app.state.dataplane


def request_info(request: Request) -> RequestInfo:
    info: Any = request.scope.get("state", {}).get("mlkube")
    if info is None:  # requests that bypassed the middleware (never in production)
        info = RequestInfo(request_id="-", protocol=None)
    return info


def serving(request: Request) -> tuple[DataPlane, RequestInfo]:
    """What a prediction route hands to the data plane: the plane, and the call it records model and version on."""
    return request.app.state.dataplane, request_info(request)
