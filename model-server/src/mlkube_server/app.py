"""The FastAPI application: routers, error handlers, middleware, model loading in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from . import __version__
from .api import mlflow_scoring, repository, seed, v1, v2
from .api.calls import request_info
from .api.direct import DirectRoutes
from .api.docs import install_openapi
from .api.metrics_port import prometheus_metrics
from .api.protocols import ProtocolTable
from .batching import ArrivalGate
from .context import AppState
from .dataplane import DataPlane
from .errors import ApiError, FieldError, internal_error, invalid_input
from .jsonio import FastJSONResponse, error_response
from .metrics import ServerMetrics
from .middleware import ServingMiddleware
from .repository import ModelRepository
from .settings import ServerSettings
from .shadow import Shadow

log = logging.getLogger("mlkube_server")

DESCRIPTION = (
    "Serves every configured MLflow model over the seed API, KServe V1, the Open Inference Protocol V2 "
    "and MLflow's /invocations, with adaptive micro-batching and Prometheus metrics at /metrics."
)
SETTLE_POLL_SECONDS = 0.02


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    metrics = ServerMetrics(settings.variant, settings.revision)
    if settings.max_concurrent_requests > 0:
        metrics.sheds_at_capacity()
    gate = ArrivalGate()
    shadow = Shadow(settings, metrics) if settings.shadow_enabled else None
    state = AppState(settings, metrics, ModelRepository(settings, metrics, gate), gate, shadow)

    async def load_models() -> None:
        # What the start-up imports and builds (MLflow, scikit-learn, skops, the models: hundreds of thousands
        # of objects) lives as long as the process. The cyclic collector would rescan it over and over while it
        # grows, a fifth of the imports' CPU time: it stays off (mlkube-serve turns it off first thing) until
        # every model has loaded or failed once; then all of it is frozen out of the collector's scans, which
        # keeps them out of request latencies too. (The little garbage of the imports is frozen with it.)
        gc.disable()
        try:
            await state.repository.load_all()
        finally:
            gc.freeze()
            gc.enable()
        await state.repository.retry_failed()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.models:
            log.warning("no model configured: set MLKUBE_SERVER_MODELS or pass --model; readiness stays false")
        if bool(settings.shadow_url) != (settings.shadow_fraction > 0):
            log.warning("shadow traffic is off: it needs both shadow_url and a shadow_fraction above 0")
        loading = asyncio.create_task(load_models())
        if shadow is not None:
            await shadow.start()
        # uvicorn opens the serving port once the lifespan has started: here, once every configured model has
        # loaded or failed for good (api/metrics_port.py says why; the metrics port answers meanwhile).
        while state.repository.pending_count and not (state.shutting_down or loading.done()):
            await asyncio.sleep(SETTLE_POLL_SECONDS)
        try:
            yield
        finally:
            state.shutting_down = True
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loading
            if shadow is not None:
                await shadow.stop()
            await state.repository.close()

    app = FastAPI(
        title="mlkube model server",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
        **_telemetry(settings),
    )
    app.state.mlkube = state
    app.state.dataplane = DataPlane(state)

    def mlflow(request: Request) -> bool:
        """MLflow's /invocations answers its errors in MLflow's shape (ApiError.mlflow)."""
        return request_info(request).protocol == mlflow_scoring.PROTOCOL

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc, mlflow=mlflow(request))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = [FieldError(tuple(err.get("loc", ())), err.get("msg", "invalid")) for err in exc.errors()]
        error = invalid_input(details or [FieldError(("request",), "invalid request")])
        return error_response(error, mlflow=mlflow(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: f"no route {request.url.path}; see /docs", 405: f"method {request.method} not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        headers = dict(exc.headers) if exc.headers else None
        return error_response(ApiError(exc.status_code, message, headers=headers), mlflow=mlflow(request))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # Errors inside the routes are answered by ServingMiddleware; this is for the middleware's own.
        request_id = request_info(request).request_id
        log.error("unhandled error", exc_info=exc, extra={"request_id": request_id, "path": request.url.path})
        return error_response(internal_error(request_id), mlflow=mlflow(request))

    # Also on the metrics port, which Prometheus scrapes; here for callers of the serving port (the seed API's).
    app.add_api_route("/metrics", prometheus_metrics, tags=["operations"], summary="Prometheus metrics")

    # Routes are matched in order: the machine-to-machine protocols first, as they carry the most traffic.
    routers = (v2, repository, v1, mlflow_scoring, seed)
    for module in routers:
        app.include_router(module.router)
    app.add_middleware(
        ServingMiddleware,
        state=state,
        protocol_of=ProtocolTable(routers),
        direct_routes=DirectRoutes(routers) if settings.direct_routes else None,
    )
    install_openapi(app)
    return app


def _telemetry(settings: ServerSettings) -> dict:
    """FastAPI's own OpenTelemetry instrumentation (newer FastAPI): asks for the global providers on every
    request, which MLflow's OpenTelemetry dependency makes real work. Off unless asked for; /metrics is
    this server's instrumentation."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    on = settings.opentelemetry
    return {"telemetry": {"tracing": on, "metrics": on, "logs": on}}


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker runs: settings from the environment only."""
    return create_app(ServerSettings())
