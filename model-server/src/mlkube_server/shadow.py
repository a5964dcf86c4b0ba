"""Shadow traffic: copy a share of answered predictions to a candidate server and compare its labels row by row.

``offer`` runs on the request path: it samples, and queues the already validated rows and the answer without
waiting (a full queue drops the copy and counts it). Background workers send each copy to the candidate —
another instance of this server — over its V2 protocol, which carries validated rows losslessly, and count
per row whether the candidate's predicted label agrees. The candidate's answers go only into the metrics.

Nothing here knows about the caller's HTTP request: the values in are a model, its input part and the
probabilities it answered with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import orjson

from .metrics import ServerMetrics
from .models import ServedModel
from .settings import ServerSettings

log = logging.getLogger("mlkube_server.shadow")

AGREE, DISAGREE, ERROR, DROPPED = "agree", "disagree", "error", "dropped"
REVISION_HEADER = "X-Mlkube-Revision"
VERSION_HEADER = "X-Model-Version"
# Without a rollout in progress the canary Service selects the stable pods: the copy came back to this
# revision. Pause for a while rather than compare the server with itself.
SAME_REVISION_PAUSE_SECONDS = 10.0
ERROR_LOG_INTERVAL_SECONDS = 10.0

Copy = tuple[ServedModel, Any, np.ndarray]  # the model, its validated input part, the probabilities answered


class ShadowError(Exception):
    """The candidate gave no comparable answer; the message is one log line."""


class Shadow:
    def __init__(self, settings: ServerSettings, metrics: ServerMetrics) -> None:
        self.url = settings.shadow_url
        self.fraction = settings.shadow_fraction
        self.revision = settings.revision
        self.metrics = metrics
        self._concurrency = settings.shadow_concurrency
        self._timeout = settings.shadow_timeout_seconds
        self._queue: asyncio.Queue[Copy] = asyncio.Queue(settings.shadow_queue_size)
        self._random = random.Random()  # noqa: S311 - sampling, not security
        self._open = False
        self._paused_until = 0.0
        self._workers: list[asyncio.Task[None]] = []
        limits = httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency)
        self._client = httpx.AsyncClient(base_url=self.url, limits=limits, timeout=self._timeout)
        self._errors_unlogged = 0
        self._error_logged_at = -ERROR_LOG_INTERVAL_SECONDS
        self._candidate_is_self = False

    def offer(self, model: ServedModel, part: Any, probabilities: np.ndarray) -> None:
        """Queue a copy of an answered prediction, with probability ``fraction``; never waits."""
        if not self._open or self._random.random() >= self.fraction:
            return
        if self._paused_until and time.monotonic() < self._paused_until:
            return
        try:
            self._queue.put_nowait((model, part, probabilities))
        except asyncio.QueueFull:
            self.metrics.shadow_outcome(model.name, model.version, ("", ""), DROPPED)

    async def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]
        self._open = True
        log.info("shadowing %.0f%% of predictions to %s", self.fraction * 100, self.url)

    async def stop(self) -> None:
        """Stop taking copies, give the queued ones up to the timeout to finish, then cancel the rest."""
        self._open = False
        try:
            await asyncio.wait_for(self._queue.join(), self._timeout)
        except TimeoutError:
            log.warning("shadow: %d queued copies abandoned at shutdown", self._queue.qsize())
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await self._client.aclose()

    async def _work(self) -> None:
        while True:
            model, part, probabilities = await self._queue.get()
            try:
                if time.monotonic() >= self._paused_until:
                    await self._compare(model, part, probabilities)
            except Exception:  # noqa: BLE001 - a worker that dies would silently end shadowing
                log.exception("shadow comparison failed")
            finally:
                self._queue.task_done()

    async def _compare(self, model: ServedModel, part: Any, probabilities: np.ndarray) -> None:
        candidate = ("", "")
        try:
            body = _infer_body(part)
            response = await self._client.post(
                f"/v2/models/{quote(model.name, safe='')}/infer",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            candidate = (response.headers.get(VERSION_HEADER, ""), response.headers.get(REVISION_HEADER, ""))
            if self._is_self(candidate[1]):
                return
            theirs = _predicted_labels(response)
        except (httpx.HTTPError, ShadowError) as exc:
            self.metrics.shadow_outcome(model.name, model.version, candidate, ERROR)
            self._log_error(model.name, str(exc) or type(exc).__name__)
            return
        ours = [model.classes[i] for i in probabilities.argmax(axis=1).tolist()]
        if len(theirs) != len(ours):
            self.metrics.shadow_outcome(model.name, model.version, candidate, ERROR)
            self._log_error(model.name, f"the candidate answered {len(theirs)} labels for {len(ours)} rows")
            return
        agree = sum(1 for a, b in zip(ours, theirs, strict=True) if a == b)
        self.metrics.shadow_outcome(model.name, model.version, candidate, AGREE, agree)
        self.metrics.shadow_outcome(model.name, model.version, candidate, DISAGREE, len(ours) - agree)

    def _is_self(self, candidate_revision: str) -> bool:
        same = bool(self.revision) and candidate_revision == self.revision
        if same:
            self._paused_until = time.monotonic() + SAME_REVISION_PAUSE_SECONDS
        if same != self._candidate_is_self:
            self._candidate_is_self = same
            if same:
                log.info("shadow: %s answers from this server's own revision %s; paused while it does",
                         self.url, self.revision)  # fmt: skip
            else:
                log.info("shadow: %s answers from revision %s; comparing", self.url, candidate_revision)
        return same

    def _log_error(self, model: str, reason: str) -> None:
        self._errors_unlogged += 1
        now = time.monotonic()
        if now - self._error_logged_at < ERROR_LOG_INTERVAL_SECONDS:
            return
        log.warning(
            "shadow copy of %s to %s failed: %s (%d failures since the last line)",
            model, self.url, reason, self._errors_unlogged,
        )  # fmt: skip
        self._error_logged_at = now
        self._errors_unlogged = 0


def v2_inputs(part: Any) -> list[dict[str, Any]]:
    """A validated input part as V2 input tensors: one per column for rows, one FP32 tensor for images."""
    if isinstance(part, dict):
        return [
            {"name": name, "shape": [len(values)], "datatype": _datatype(values), "data": values}
            for name, values in part.items()
        ]
    array = np.asarray(part, dtype=np.float32)
    return [{"name": "input-0", "shape": list(array.shape), "datatype": "FP32", "data": array.ravel().tolist()}]


def _infer_body(part: Any) -> bytes:
    try:
        return orjson.dumps({"inputs": v2_inputs(part), "outputs": [{"name": "predict"}]},
                            option=orjson.OPT_SERIALIZE_NUMPY)  # fmt: skip
    except orjson.JSONEncodeError as exc:
        raise ShadowError(f"the rows cannot be sent as JSON: {exc}") from None


def _datatype(values: list[Any]) -> str:
    sample = next((v for v in values if v is not None), "")
    if isinstance(sample, (bool, np.bool_)):
        return "BOOL"
    if isinstance(sample, (int, float, np.number)):
        return "FP64"
    return "BYTES"


def _predicted_labels(response: httpx.Response) -> list[Any]:
    if not response.is_success:
        raise ShadowError(f"HTTP {response.status_code}")
    try:
        outputs = orjson.loads(response.content)["outputs"]
        return next(o["data"] for o in outputs if o.get("name") == "predict")
    except (orjson.JSONDecodeError, KeyError, TypeError, StopIteration):
        raise ShadowError("the answer has no 'predict' output") from None
