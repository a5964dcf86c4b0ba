"""Pure ASGI middleware: request id, body size limit, load shedding before the body is read, arrival counting,
request metrics, access log, and the answer to an unexpected error."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api.direct import DirectCall, DirectRoutes
from .api.mlflow_scoring import PROTOCOL as MLFLOW
from .context import AppState, RequestInfo
from .errors import ApiError, at_capacity, internal_error
from .jsonio import error_response
from .metrics import AT_CAPACITY

log = logging.getLogger("mlkube_server.access")

# Request ids: a per-process random prefix and a counter (uuid4 reads the kernel's entropy on every request).
_ID_PREFIX = os.urandom(4).hex()
_ID_COUNTER = itertools.count(1)

UNCOUNTED = ("/v2/health/", "/metrics", "/docs", "/openapi.json", "/redoc")


class ServingMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        state: AppState,
        protocol_of: Callable[[str], str | None],
        direct_routes: DirectRoutes | None = None,
    ) -> None:
        self.app = app
        self.state = state
        self.protocol_of = protocol_of  # api.protocols.ProtocolTable: read from the routes
        self.direct_routes = direct_routes  # api.direct: prediction routes called past FastAPI's layers
        revision = state.settings.revision
        # Tells the canary's answers from the stable's (and a shadow copy that came back to its sender).
        self.fixed_headers = [(b"x-mlkube-revision", revision.encode("latin-1", errors="replace"))] if revision else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = request_id or f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
        info = RequestInfo(request_id=request_id, protocol=self.protocol_of(scope["path"]))
        scope.setdefault("state", {})["mlkube"] = info
        status = 500
        limit = state.settings.max_body_bytes

        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            # Answered before the body is read: the connection closes rather than swallow the body.
            message = f"request body of {int(length)} bytes exceeds the limit of {limit} bytes"
            error = ApiError(413, message, headers={"Connection": "close"})
            await error_response(error, request_id, mlflow=info.protocol == MLFLOW)(scope, receive, send)
            self._finish(info, scope, 413, started)
            return

        received = 0
        started_response = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                extra = [(b"x-request-id", request_id.encode("latin-1")), *self.fixed_headers]
                if info.version:
                    extra.append((b"x-model-version", info.version.encode("latin-1", errors="replace")))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        predicting = scope["method"] == "POST" and info.protocol is not None
        if predicting:
            bound = state.settings.max_concurrent_requests
            if 0 < bound <= state.in_progress:
                await self._refuse_at_capacity(info, scope, receive, send, started)
                return
            state.in_progress += 1
        if scope["method"] == "POST":
            info.arriving = True
            state.gate.pending += 1
        direct = self.direct_routes(scope["method"], scope["path"]) if self.direct_routes is not None else None
        try:
            if direct is not None:
                await self._call_direct(direct, info, scope, limited_receive, send_with_headers)
            else:
                await self.app(scope, limited_receive, send_with_headers)
        except Exception as exc:
            if started_response:
                raise
            # Answered here rather than by Starlette's ServerErrorMiddleware, which re-raises after its answer,
            # so that uvicorn would drop the keep-alive connection without a word.
            log.error("unhandled error", exc_info=exc, extra={"request_id": request_id, "path": scope["path"]})
            answer = error_response(internal_error(request_id), request_id, mlflow=info.protocol == MLFLOW)
            await answer(scope, receive, send_with_headers)
        finally:
            info.arrived(state.gate)
            if predicting:
                state.in_progress -= 1
            self._finish(info, scope, status, started)

    @staticmethod
    async def _call_direct(direct: DirectCall, info: RequestInfo, scope: Scope, receive: Receive, send: Send) -> None:
        """What FastAPI would do for this route, less its layers: the app's ApiError handler answers the same."""
        try:
            response = await direct.endpoint(Request(scope, receive), **direct.path_params)
        except ApiError as exc:
            response = error_response(exc, mlflow=info.protocol == MLFLOW)
        await response(scope, receive, send)

    async def _refuse_at_capacity(self, info: RequestInfo, scope: Scope, receive: Receive, send: Send,
                                  started: float) -> None:  # fmt: skip
        """The cheapest answer the process can give: no body read, no route, no access log line (the shed counter
        and the request metrics count it). uvicorn discards the unread body and keeps the connection."""
        state = self.state
        error = at_capacity(state.settings.max_concurrent_requests, state.settings.shed_retry_after_seconds)
        answer = error_response(error, info.request_id, mlflow=info.protocol == MLFLOW)
        answer.raw_headers.extend(self.fixed_headers)
        await answer(scope, receive, send)
        state.metrics.request_shed(AT_CAPACITY)
        state.metrics.observe_request(AT_CAPACITY, "", info.protocol or "", 503, time.perf_counter() - started)

    def _finish(self, info: RequestInfo, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        if info.protocol is not None:
            self.state.metrics.observe_request(info.model, info.version, info.protocol, status, elapsed)
        if self.state.settings.access_log and not scope["path"].startswith(UNCOUNTED):
            log.info(
                "%s %s %d",
                scope["method"], scope["path"], status,
                extra={"request_id": info.request_id, "status": status, "duration_ms": round(elapsed * 1000, 3),
                       "model": info.model or None, "version": info.version or None},
            )  # fmt: skip
