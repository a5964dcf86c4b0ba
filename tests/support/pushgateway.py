"""A real Prometheus Pushgateway (Debian's ``prometheus-pushgateway``) on a free loopback port."""

from __future__ import annotations

import contextlib
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .processes import ManagedProcess, free_port, wait_for_http

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Pushgateway:
    url: str
    log_path: Path

    def metrics_text(self) -> str:
        """The gateway's /metrics exposition (what Prometheus would scrape)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:  # noqa: S310 - loopback
            return response.read().decode()


def pushgateway_binary() -> str:
    found = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
    if found is None:
        raise RuntimeError(
            "prometheus-pushgateway not found; install it with `apt-get install -y prometheus-pushgateway` "
            "(make test-training does this)"
        )
    return found


@contextlib.contextmanager
def run_pushgateway(workdir: Path) -> Iterator[Pushgateway]:
    port = free_port(HOST)
    # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: give each instance its own file.
    process = ManagedProcess(
        "pushgateway",
        [
            pushgateway_binary(),
            f"--web.listen-address={HOST}:{port}",
            f"--persistence.file={Path(workdir) / 'pushgateway.data'}",
        ],
        log_path=Path(workdir) / "pushgateway.log",
    )
    try:
        url = f"http://{HOST}:{port}"
        wait_for_http(f"{url}/-/ready", timeout=30, process=process)
        yield Pushgateway(url=url, log_path=process.log_path)
    finally:
        process.stop()
