"""Closed-loop HTTP load generator: N workers post one body back to back for a fixed time.

Each worker keeps one keep-alive connection and sends its next request as soon as the previous one
returned, so concurrency is exactly N. Latencies are measured per request on the client side.
p50, p99 and p99.9 are nearest-rank percentiles of the measured requests (the warm-up's are not kept).
Usage (prints one JSON object): python loadgen.py URL BODY_FILE --concurrency 8 --duration 10
BODY_FILE ``-``: GET requests without a body (the server's no-op ceiling, e.g. /v2/health/live).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes | None,
    deadline: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    method = "POST" if body is not None else "GET"
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            async with session.request(method, url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors.append(f"HTTP {response.status}")
                    continue
        except (TimeoutError, aiohttp.ClientError) as exc:
            errors.append(type(exc).__name__)
            await asyncio.sleep(0.05)
            continue
        latencies.append(time.perf_counter() - started)


async def run(url: str, body: bytes | None, concurrency: int, duration: float, warmup: float) -> dict:
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if warmup > 0:
            sink: list[float] = []
            await asyncio.gather(
                *(_worker(session, url, body, time.perf_counter() + warmup, sink, []) for _ in range(concurrency))
            )
        latencies: list[float] = []
        errors: list[str] = []
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(_worker(session, url, body, deadline, latencies, errors) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(q: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "p999_ms": percentile(0.999),  # with fewer than 1,000 requests: the slowest one
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("body_file", help="a JSON body to POST, or - to GET")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    body = None if args.body_file == "-" else Path(args.body_file).read_bytes()
    result = asyncio.run(run(args.url, body, args.concurrency, args.duration, args.warmup))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
