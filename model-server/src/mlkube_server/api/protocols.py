"""The ``protocol`` label of the serving metrics and logs, read from the routes themselves: each router module
says which protocol it speaks (``PROTOCOL``), and health probes carry the ``PROBES`` tag (kubelets and load
balancers poll them: they are not traffic). A path that no route matches has no protocol."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from fastapi.routing import APIRoute

PROBES = "health probes"
# Enough for every route with every model name; an unbounded cache would grow with the paths callers invent.
CACHE_SIZE = 4096


class ProtocolTable:
    """``table(path)`` -> the protocol of the route that serves ``path``, or None (probes, /metrics, no route).

    Built from the router modules in the order the app includes them, so the first route that matches is the
    one the app would call."""

    def __init__(self, routers: Iterable[ModuleType]) -> None:
        self._routes = [
            (route.path_regex, None if PROBES in route.tags else module.PROTOCOL)
            for module in routers
            for route in module.router.routes
            if isinstance(route, APIRoute)
        ]
        self._cache: dict[str, str | None] = {}

    def __call__(self, path: str) -> str | None:
        try:
            return self._cache[path]
        except KeyError:
            pass
        protocol = next((protocol for regex, protocol in self._routes if regex.match(path)), None)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[path] = protocol
        return protocol
