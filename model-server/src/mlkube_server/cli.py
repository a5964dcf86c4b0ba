"""``mlkube-serve``: run the model server with uvicorn and a graceful SIGTERM.

    mlkube-serve --tracking-uri http://127.0.0.1:5000 \
        --model models:/penguins-random-forest@champion --model models:/penguins-logistic-regression@champion

The metrics port (``/metrics`` and the health checks) answers at once; the serving port opens once every
configured model has loaded or failed for good. On SIGTERM (or Ctrl-C) readiness turns false at once; after
``drain_seconds`` the serving listener closes, in-flight requests get up to ``graceful_timeout_seconds`` to
finish, then the metrics port closes and the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from pydantic import ValidationError

from .settings import CONFIG_ENV, ENV_PREFIX, ServerSettings, parse_model_spec

log = logging.getLogger("mlkube_server")


class GracefulServer(uvicorn.Server):
    """uvicorn that marks the app not-ready before it stops accepting connections."""

    def __init__(self, config: uvicorn.Config, app_state: Any, drain_seconds: float) -> None:
        super().__init__(config)
        self._app_state = app_state
        self._drain_seconds = drain_seconds
        self._draining = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._app_state.shutting_down = True
        if self._draining or self._drain_seconds <= 0:
            if not self._draining:
                log.info("signal %d: not ready any more; finishing in-flight requests", sig)
            self._stop(sig, frame)
            return
        self._draining = True
        log.info("signal %d: not ready any more; draining for %.1fs", sig, self._drain_seconds)
        timer = threading.Timer(self._drain_seconds, self._stop, args=(sig, frame))
        timer.daemon = True
        timer.start()

    def _stop(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        # uvicorn would re-raise the signal after its graceful shutdown, ending the process with 128+15;
        # a completed graceful shutdown is a clean exit.
        self._captured_signals.clear()


class MetricsPortServer(uvicorn.Server):
    """The metrics port's uvicorn, beside the serving one in the same event loop: the serving server owns the
    signals (it drains first), and this one stops after it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_with_metrics_port(
    server: GracefulServer, metrics_server: MetricsPortServer, metrics_socket: socket.socket
) -> None:
    async def both() -> None:
        metrics_serving = asyncio.create_task(metrics_server.serve(sockets=[metrics_socket]))
        try:
            await server.serve()
        finally:
            metrics_server.should_exit = True
            await metrics_serving

    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(both())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mlkube-serve",
        description="Serve MLflow models (seed API, KServe V1, Open Inference V2, MLflow /invocations).",
        epilog=f"Every option also reads {ENV_PREFIX}<NAME> from the environment or a YAML file ({CONFIG_ENV}).",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="[NAME=]URI",
        help="a model to serve, repeatable: models:/name@alias, NAME=models:/name/3, NAME=runs:/<id>/model, NAME=/path",
    )
    parser.add_argument("--default-model", help="model used when a request names none (default: the first)")
    parser.add_argument("--tracking-uri", help="MLflow tracking server (default: MLFLOW_TRACKING_URI)")
    parser.add_argument("--host", help="listen address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="listen port (default 8080)")
    parser.add_argument(
        "--metrics-port", type=int, help="port of /metrics and the health checks (default 8082; 0: none)"
    )
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    parser.add_argument("--config", help="YAML settings file")
    parser.add_argument("--log-level", help="debug, info, warning, error")
    return parser.parse_args(argv)


def build_settings(args: argparse.Namespace) -> ServerSettings:
    if args.config:
        os.environ[CONFIG_ENV] = args.config
    overrides: dict[str, Any] = {}
    if args.model:
        overrides["models"] = dict(parse_model_spec(spec) for spec in args.model)
    for key in ("default_model", "tracking_uri", "host", "port", "metrics_port", "workers", "log_level"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    return ServerSettings(**overrides)


def main(argv: list[str] | None = None) -> int:
    gc.disable()  # until the models have loaded: the app turns it back on (app.py, load_models)
    from .logging_setup import configure_logging

    args = parse_args(argv)
    configure_logging(args.log_level or os.environ.get(f"{ENV_PREFIX}LOG_LEVEL", "info"))
    try:
        settings = build_settings(args)
    except (ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        print(f"mlkube-serve: invalid settings: {' '.join(first[:3])}", file=sys.stderr)
        return 2
    if settings.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    common: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_timeout_seconds),
        timeout_keep_alive=settings.keep_alive_seconds,
        proxy_headers=False,
    )
    if settings.workers > 1:
        if settings.metrics_port:
            log.warning("with %d workers there is no metrics port: /metrics answers on the serving port, for the "
                        "worker that takes the request", settings.workers)  # fmt: skip
        # Worker processes rebuild the settings from the environment.
        os.environ[f"{ENV_PREFIX}MODELS"] = json.dumps(settings.models)
        if settings.default_model:
            os.environ[f"{ENV_PREFIX}DEFAULT_MODEL"] = settings.default_model
        uvicorn.run("mlkube_server.app:app_from_environment", factory=True, workers=settings.workers, **common)
        return 0

    from .api.metrics_port import create_metrics_port_app
    from .app import create_app

    app = create_app(settings)
    server = GracefulServer(uvicorn.Config(app, **common), app.state.mlkube, settings.drain_seconds)
    log.info(
        "serving %d model(s) on %s:%d, metrics on port %d", len(settings.models), settings.host, settings.port,
        settings.metrics_port, extra={"models": settings.models, "variant": settings.variant},
    )  # fmt: skip
    if not settings.metrics_port:
        server.run()
        return 0
    metrics_app = create_metrics_port_app(app.state.mlkube)
    metrics_config = uvicorn.Config(metrics_app, **{**common, "port": settings.metrics_port})
    try:  # before any model loads: a port in use fails at once
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        metrics_socket = socket.create_server((settings.host, settings.metrics_port), family=family, backlog=2048)
    except OSError as exc:
        print(f"mlkube-serve: metrics port: {exc.strerror}", file=sys.stderr)
        return 1
    serve_with_metrics_port(server, MetricsPortServer(metrics_config), metrics_socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
