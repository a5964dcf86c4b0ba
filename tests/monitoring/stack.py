"""Real Prometheus and Pushgateway processes on loopback, and a small client for Prometheus's HTTP API."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests.support.processes import ManagedProcess, free_port, wait_for_http

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Target:
    address: str  # host:port
    labels: dict[str, str]


@contextlib.contextmanager
def run_pushgateway(workdir: Path) -> Iterator[str]:
    port = free_port()
    process = ManagedProcess(
        "prometheus-pushgateway",
        # Debian's default persists pushed metrics under /var/lib; an empty file name keeps them in memory only.
        ["prometheus-pushgateway", f"--web.listen-address={HOST}:{port}", "--persistence.file=", "--log.level=warn"],
        workdir / "pushgateway.log",
    )
    try:
        url = f"http://{HOST}:{port}"
        wait_for_http(f"{url}/-/ready", timeout=30, process=process)
        yield url
    finally:
        process.stop()


def prometheus_config(
    servers: Sequence[Target], pushgateway: Target, rule_files: Sequence[Path], interval: str
) -> dict:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": "model-server",
                "static_configs": [{"targets": [t.address], "labels": t.labels} for t in servers],
            },
            # As the chart does: the pushed `job` label (the trainer) wins over the scrape job's.
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [pushgateway.address], "labels": pushgateway.labels}],
            },
        ],
    }


@contextlib.contextmanager
def run_prometheus(workdir: Path, config: dict) -> Iterator[PrometheusApi]:
    port = free_port()
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    process = ManagedProcess(
        "prometheus",
        [
            "prometheus",
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address={HOST}:{port}",
            "--log.level=warn",
        ],
        workdir / "prometheus.log",
    )
    try:
        url = f"http://{HOST}:{port}"
        wait_for_http(f"{url}/-/ready", timeout=60, process=process)
        with httpx.Client(base_url=url, timeout=30) as client:
            yield PrometheusApi(client, process)
    finally:
        process.stop()


class QueryError(AssertionError):
    pass


class PrometheusApi:
    def __init__(self, client: httpx.Client, process: ManagedProcess) -> None:
        self.client = client
        self.process = process

    def _get(self, path: str, **params) -> dict:
        response = self.client.get(path, params=params)
        body = response.json()
        if body.get("status") != "success":
            raise QueryError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def instant(self, expr: str) -> list[dict]:
        return self._get("/api/v1/query", query=expr)["result"]

    def range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        return self._get("/api/v1/query_range", query=expr, start=start, end=end, step=step)["result"]

    def label_values(self, label: str, match: str) -> list[str]:
        return self._get(f"/api/v1/label/{label}/values", **{"match[]": match})

    def targets(self) -> list[dict]:
        return self._get("/api/v1/targets")["activeTargets"]

    def rule_groups(self) -> list[dict]:
        return self._get("/api/v1/rules")["groups"]

    def wait_until(self, expr: str, timeout: float, what: str) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.instant(expr)
            if result:
                return result
            time.sleep(1)
        raise AssertionError(f"waited {timeout:.0f}s for {what} ({expr}); Prometheus log:\n{self.process.log_tail()}")
