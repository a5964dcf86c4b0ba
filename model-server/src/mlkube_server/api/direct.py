"""Prediction routes the serving middleware calls itself, past FastAPI's layers.

Measured with py-spy on the compiled Penguins forest (one row, concurrency 8, server on one core): between our
ServingMiddleware and the V2 handler, FastAPI's body-limit, telemetry and exception middlewares, its exit stack,
the two routers' matching and the dependency solving took 10 % of the server's samples on every request — as much
as the compiled pipeline itself. A route marked ``@direct`` takes only the ``Request`` and ``str`` path
parameters, returns a ``Response`` and raises ``ApiError``; for those the middleware matches the path once
(cached), builds the ``Request`` and calls the endpoint, answering an ``ApiError`` as the app's handler does.
FastAPI still owns the route for the OpenAPI document, and every other method, path and route goes through it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from .protocols import CACHE_SIZE

Endpoint = Callable[..., Awaitable[Response]]
_MARK = "__mlkube_direct__"


def direct(endpoint: Endpoint) -> Endpoint:
    """Mark a route's endpoint as callable by the serving middleware (see the module's docstring)."""
    parameters = list(inspect.signature(endpoint).parameters.values())
    if not parameters or parameters[0].annotation not in (Request, "Request"):
        raise TypeError(f"{endpoint.__name__}: a direct route takes the Request first")
    if any(p.annotation not in (str, "str") for p in parameters[1:]):
        raise TypeError(f"{endpoint.__name__}: a direct route's other parameters are str path parameters")
    setattr(endpoint, _MARK, True)
    return endpoint


@dataclass(frozen=True)
class DirectCall:
    endpoint: Endpoint
    path_params: dict[str, Any]


class DirectRoutes:
    """``routes(method, path)`` -> the direct route FastAPI would call for it, with its path parameters, or None.

    Routes in the order the app includes them: the first whose path and method match is the one FastAPI calls,
    so a direct route shadowed by an earlier one is never called directly."""

    def __init__(self, routers: Iterable[ModuleType]) -> None:
        self._routes: list[tuple[re.Pattern[str], set[str], Endpoint | None]] = [
            (
                route.path_regex,
                route.methods or set(),
                route.endpoint if getattr(route.endpoint, _MARK, False) else None,
            )
            for module in routers
            for route in module.router.routes
            if isinstance(route, APIRoute)
        ]
        self._cache: dict[tuple[str, str], DirectCall | None] = {}

    def __call__(self, method: str, path: str) -> DirectCall | None:
        key = (method, path)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = None
        for regex, methods, endpoint in self._routes:
            match = regex.match(path)
            if match and method in methods:
                found = DirectCall(endpoint, match.groupdict()) if endpoint is not None else None
                break
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = found
        return found
