"""A bounded background load generator that counts failed requests per phase of a rollout."""

from __future__ import annotations

import collections
import threading
import time

import httpx

PENGUIN = {
    "island": "Biscoe",
    "bill_length_mm": 45.1,
    "bill_depth_mm": 14.5,
    "flipper_length_mm": 215.0,
    "body_mass_g": 5000.0,
    "sex": "female",
}


class LoadGenerator:
    """Sends single-penguin predictions to one URL from a few threads until stopped (or max_seconds pass).

    `phase(name)` starts a new bucket: every response is counted under the phase that was current
    when it was sent, so a test can report failures per transition.
    """

    def __init__(
        self,
        url: str,
        threads: int = 2,
        max_seconds: float = 900,
        pause: float = 0.02,
        requests_per_connection: int = 20,
    ):
        self.url = url
        self.requests_per_connection = requests_per_connection
        self.threads = threads
        self.max_seconds = max_seconds
        self.pause = pause
        self.current = "start"
        self.ok: collections.Counter[str] = collections.Counter()
        self.failed: collections.Counter[str] = collections.Counter()
        self.errors: dict[str, list[str]] = collections.defaultdict(list)
        self.versions: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        # Monotonic times of the first and the last answer of each model version (X-Model-Version) per phase.
        self.seen: dict[tuple[str, str], list[float]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def phase(self, name: str) -> None:
        with self._lock:
            self.current = name

    def __enter__(self) -> LoadGenerator:
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.threads):
            worker = threading.Thread(target=self._loop, args=(deadline,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)

    def _loop(self, deadline: float) -> None:
        while not self._stop.is_set() and time.monotonic() < deadline:
            # A fresh connection every few requests, so Service changes reach this client as they
            # reach real ones (kube-proxy routes per connection).
            with httpx.Client(timeout=5.0) as client:
                for _ in range(self.requests_per_connection):
                    if self._stop.is_set() or time.monotonic() >= deadline:
                        break
                    self._send(client)

    def _send(self, client: httpx.Client) -> None:
        phase = self.current
        try:
            response = client.post(self.url, json=PENGUIN)
            good = response.status_code == 200
            detail = f"HTTP {response.status_code}"
            version = response.headers.get("x-model-version") if good else None
        except httpx.HTTPError as exc:
            good, detail, version = False, type(exc).__name__, None
        with self._lock:
            if good:
                self.ok[phase] += 1
                self.versions[phase][str(version)] += 1
                now = time.monotonic()
                self.seen.setdefault((phase, str(version)), [now, now])[1] = now
            else:
                self.failed[phase] += 1
                if len(self.errors[phase]) < 5:
                    self.errors[phase].append(detail)
        time.sleep(self.pause)

    def report(self) -> str:
        phases = list(dict.fromkeys([*self.ok, *self.failed]))
        lines = [f"{'phase':<28}{'ok':>8}{'failed':>8}  versions"]
        for name in phases:
            lines.append(f"{name:<28}{self.ok[name]:>8}{self.failed[name]:>8}  {dict(self.versions[name])}")
        return "\n".join(lines)
