"""The metrics port: ``/metrics`` and the health checks, answering from the moment the process starts.

The serving port opens only once every configured model has settled (``app.py``), so that a restarted
process refuses connections, which a proxy retries on another endpoint, instead of answering 503 while its
endpoint is still listed as ready. Prometheus scrapes this port, so the load-failure counters of a server
that waits for MLflow stay visible. (MLServer keeps its metrics on a port of their own too.)
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from ..context import AppState
from . import seed, v2
from .calls import app_state


async def prometheus_metrics(request: Request) -> Response:
    return Response(generate_latest(app_state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_metrics_port_app(state: AppState) -> FastAPI:
    """Served beside the main app, in the same process and event loop, on ``settings.metrics_port``."""
    app = FastAPI(title="mlkube model server: metrics and health", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.mlkube = state
    for path, endpoint in (
        ("/metrics", prometheus_metrics),
        ("/v2/health/live", v2.live),
        ("/v2/health/ready", v2.ready),
        ("/health", seed.health),
    ):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
    return app
