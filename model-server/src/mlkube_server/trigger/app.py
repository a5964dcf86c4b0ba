"""HTTP layer: ``POST /webhook`` for MLflow's deliveries, ``GET /analysis/prometheus`` for Argo's analysis,
``GET /healthz``. Every error is one JSON line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import events, prometheus_probe, signature
from .errors import BadPayload, SignatureError
from .service import Trigger
from .settings import TriggerSettings

log = logging.getLogger("mlkube_server.trigger")
MAX_BODY = 64 * 1024  # MLflow's alias payloads are a few hundred bytes


def create_app(settings: TriggerSettings, trigger: Trigger) -> Starlette:
    secret = settings.webhook_secret.get_secret_value()
    prometheus = httpx.AsyncClient(timeout=settings.prometheus_timeout_seconds)

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, status_code=413)
        try:
            delivery = signature.verify(secret, request.headers, body, time.time(), settings.max_skew_seconds)
        except SignatureError as exc:
            log.warning("refused delivery from %s: %s", request.client.host if request.client else "?", exc)
            return JSONResponse({"error": str(exc)}, status_code=401)
        try:
            event = events.parse(body)
            change = events.alias_set(event)
        except BadPayload as exc:
            log.warning("bad delivery %s: %s", delivery, exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        if change is None:
            log.info("ignored: event %s (delivery %s)", event.kind, delivery)
            return JSONResponse({"result": f"ignored event {event.kind}"})
        return JSONResponse({"result": trigger.alias_set(change)})

    async def prometheus_reachable(_: Request) -> JSONResponse:
        if not settings.prometheus_url:
            return JSONResponse({"error": "no Prometheus to check: set MLKUBE_TRIGGER_PROMETHEUS_URL"}, status_code=404)
        answer = await prometheus_probe.probe(prometheus, settings.prometheus_url)
        if not answer["reachable"]:
            log.warning("analysis asked for Prometheus: unreachable (%s)", answer["reason"])
        return JSONResponse(answer)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(trigger.reconcile_forever(settings.reconcile_seconds))]
        if settings.register_webhook:
            tasks.append(asyncio.create_task(
                trigger.register_webhook_forever(settings.hook_name, settings.webhook_url, secret)))  # fmt: skip
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            trigger.kube.close()
            await prometheus.aclose()

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/analysis/prometheus", prometheus_reachable, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
