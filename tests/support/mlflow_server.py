"""A real ``mlflow server`` process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .processes import ManagedProcess, free_port, wait_for_http

HOST = "127.0.0.1"


@dataclass(frozen=True)
class MlflowServer:
    url: str  # tracking URI, e.g. http://127.0.0.1:41234
    backend_store_uri: str
    artifacts_dir: Path
    log_path: Path
    pid: int


def mlflow_server_argv(
    backend_store_uri: str, artifacts_dir: Path, port: int, extra_args: tuple[str, ...] = ()
) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", artifacts_dir.as_uri(),
        "--serve-artifacts",
        "--host", HOST,
        "--port", str(port),
        "--workers", "1",
        *extra_args,
    ]  # fmt: skip


@contextlib.contextmanager
def run_mlflow_server(
    workdir: Path,
    backend_store_uri: str | None = None,
    startup_timeout: float = 120.0,
    extra_env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` with its store in ``workdir`` (or ``backend_store_uri``) and stop it on exit.

    The first start against an empty database runs MLflow's schema migrations, hence the generous timeout.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    backend_store_uri = backend_store_uri or f"sqlite:///{workdir / 'mlflow.db'}"
    artifacts_dir = workdir / "artifacts"
    artifacts_dir.mkdir(exist_ok=True)
    port = free_port(HOST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(extra_env or {})}  # as the mlflow chart runs it
    process = ManagedProcess(
        "mlflow server",
        mlflow_server_argv(backend_store_uri, artifacts_dir, port, extra_args),
        log_path=workdir / "mlflow-server.log",
        env=env,
        cwd=workdir,
    )
    try:
        url = f"http://{HOST}:{port}"
        wait_for_http(f"{url}/health", timeout=startup_timeout, process=process)  # /health needs no credentials
        yield MlflowServer(
            url=url,
            backend_store_uri=backend_store_uri,
            artifacts_dir=artifacts_dir,
            log_path=process.log_path,
            pid=process.pid,
        )
    finally:
        process.stop()
