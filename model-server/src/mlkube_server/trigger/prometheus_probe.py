"""Whether the Prometheus that the rollout's analysis queries answers, as a value for an Argo ``web`` metric.

Argo Rollouts counts a measurement that cannot reach its provider as an error, and too many errors in a row as
an analysis Error, which aborts the rollout: an outage of the monitoring would roll back every good version in
flight, and a shorter one passes unnoticed. Asked through this endpoint, which answers whatever Prometheus does,
"unreachable" is a value that meets neither condition of the AnalysisTemplates' ``prometheus-reachable`` metric:
Inconclusive, and after its inconclusiveLimit the rollout pauses, naming the metric, with the reason in the
measurement's value.
"""

from __future__ import annotations

from typing import Any

import httpx

READY_PATH = "/-/ready"  # Prometheus answers 200 here once it serves queries


async def probe(client: httpx.AsyncClient, prometheus_url: str) -> dict[str, Any]:
    url = prometheus_url.rstrip("/") + READY_PATH
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        return {"reachable": False, "reason": f"GET {url}: {detail}"[:300]}
    if response.status_code != httpx.codes.OK:
        return {"reachable": False, "reason": f"GET {url} answered HTTP {response.status_code}"}
    return {"reachable": True}
