"""Load at a fixed request rate, whatever the answers (vegeta, `make vegeta`), for the overload row of the fault suite.

The suite's own LoadGenerator is closed-loop: a slow answer slows its callers, so it can never overload a server.
Crowds of real callers do not wait for each other; vegeta sends at the rate it is given (open loop) and records
every answer's status, latency and headers.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import json
import math
import subprocess

from .kube import CACHE

VEGETA = CACHE / "bin" / "vegeta"


@dataclasses.dataclass
class Attack:
    seconds: float
    latencies: dict[int, list[float]]  # seconds by HTTP status (0: no answer)
    errors: collections.Counter[str]  # transport errors: refused, reset, timed out
    without_retry_after: int  # 503s that did not say when to come back

    def count(self, code: int) -> int:
        return len(self.latencies.get(code, []))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def rate(self, code: int) -> float:
        return self.count(code) / self.seconds

    def quantile(self, code: int, q: float) -> float:
        values = sorted(self.latencies.get(code, []))
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)] if values else math.nan

    def summary(self) -> str:
        codes = ", ".join(f"{code or 'no answer'}: {self.count(code)}" for code in sorted(self.latencies))
        tails = "; ".join(
            f"{code} p50 {self.quantile(code, 0.5) * 1000:.0f} ms p99 {self.quantile(code, 0.99) * 1000:.0f} ms"
            for code in sorted(self.latencies)
            if code
        )
        errors = f"; errors {dict(self.errors.most_common(3))}" if self.errors else ""
        return f"{self.total} requests in {self.seconds:.0f} s ({codes}); {tails}{errors}"


def attack(url: str, body: dict, seconds: float, rate: float = 0, workers: int = 8, timeout: float = 5) -> Attack:
    """POSTs `body` to `url` for `seconds`: at `rate` per second (open loop), or as fast as `workers` callers that
    each wait for their answer can (rate 0: closed loop, what measures capacity)."""
    target = {
        "method": "POST",
        "url": url,
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "header": {"Content-Type": ["application/json"]},
    }
    pace = ["-rate=0", f"-max-workers={workers}", f"-workers={workers}"] if rate == 0 else [f"-rate={rate:.0f}/s"]
    argv = [str(VEGETA), "attack", "-format=json", f"-duration={seconds:.0f}s", f"-timeout={timeout:.0f}s",
            "-max-body=0", *pace]  # fmt: skip
    attacked = _vegeta(argv, json.dumps(target).encode() + b"\n", timeout=seconds + timeout + 60)
    encoded = _vegeta([str(VEGETA), "encode", "--to", "json"], attacked, timeout=120)
    latencies: dict[int, list[float]] = collections.defaultdict(list)
    errors: collections.Counter[str] = collections.Counter()
    without_retry_after = 0
    for line in encoded.decode().splitlines():
        result = json.loads(line)
        latencies[result["code"]].append(result["latency"] / 1e9)
        if result["code"] == 0:
            errors[result["error"].rsplit(": ", 1)[-1]] += 1
        if result["code"] == 503 and "Retry-After" not in (result.get("headers") or {}):
            without_retry_after += 1
    return Attack(seconds, dict(latencies), errors, without_retry_after)


def _vegeta(argv: list[str], stdin: bytes, timeout: float) -> bytes:
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"`{' '.join(argv)}` exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return proc.stdout
