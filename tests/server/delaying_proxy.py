"""A slow network in front of a real server: every request waits ``delay`` seconds, then goes through.

Each request that went through is recorded (``passed``: method, path, when it arrived and when it was answered),
so a test can tell which requests were in flight at the same time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

PASSED_HEADERS = ("content-type", "x-model-version", "x-mlkube-revision")


@dataclass(frozen=True)
class Passed:
    method: str
    path: str  # with the query string
    arrived: float  # time.monotonic()
    answered: float


class DelayingProxy:
    def __init__(self, target: str, delay: float) -> None:
        self.target = target
        self.delay = delay
        self.received = 0
        self.passed: list[Passed] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._forward("GET")

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self._forward("POST")

            def _forward(self, method: str) -> None:
                arrived = time.monotonic()
                with proxy._lock:
                    proxy.received += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(proxy.delay)
                content_type = self.headers.get("Content-Type")
                answer = httpx.request(method, proxy.target + self.path, content=body or None,
                                       headers={"Content-Type": content_type} if content_type else {})  # fmt: skip
                self.send_response(answer.status_code)
                for name in PASSED_HEADERS:
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)
                with proxy._lock:
                    proxy.passed.append(Passed(method, self.path, arrived, time.monotonic()))

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextlib.contextmanager
def delaying_proxy(target: str, delay: float) -> Iterator[DelayingProxy]:
    proxy = DelayingProxy(target, delay)
    thread = threading.Thread(target=proxy._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy._server.shutdown()
        proxy._server.server_close()
