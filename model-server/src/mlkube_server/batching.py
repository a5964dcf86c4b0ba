"""Adaptive micro-batching: one asyncio queue per model, one predict call per coalesced batch.

While a predict call runs in the executor, newly arriving requests queue up; the next call takes all of
them at once. So batches grow with load and a lone request never waits: the worker waits for company
(at most ``max_wait_ms``) only while requests that have started arriving have not been queued yet
(``ArrivalGate``). A predict call on one row costs about as much as on a hundred for tree ensembles,
which is where the throughput comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import model_unavailable
from .models import ServedModel
from .settings import BatchingSettings


class ArrivalGate:
    """Counts requests that have begun (headers received) but are not in a model queue yet."""

    def __init__(self) -> None:
        self.pending = 0


class QueueBound:
    """Load shedding: at most ``limit`` requests per model waiting for or inside a predict call (0: no bound).

    Checked on the event loop (no lock) just before a request joins its model's queue, after its body was read
    and validated: a request beyond the bound is refused at once instead of waiting behind ``limit`` others, so
    the wait of the admitted ones stays bounded. Counted by model name, so a reload's old version, which still
    answers the requests it holds, shares the bound with the new one. The count is what
    ``mlkube_inflight_requests`` shows.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._queued: dict[str, int] = {}

    def enter(self, model: str) -> bool:
        """Count one more request of ``model``; False (nothing counted) when it already has ``limit``."""
        queued = self._queued.get(model, 0)
        if 0 < self.limit <= queued:
            return False
        self._queued[model] = queued + 1
        return True

    def leave(self, model: str) -> None:
        self._queued[model] -= 1


@dataclass
class _Item:
    part: Any
    rows: int
    future: asyncio.Future[np.ndarray]


class _Stop:
    """Queued by drain(): the worker ends once everything before it is answered."""

    rows = 0


_STOP = _Stop()


class MicroBatcher:
    def __init__(
        self,
        model: ServedModel,
        executor: Executor,
        settings: BatchingSettings,
        gate: ArrivalGate,
        on_batch: Callable[[ServedModel, int], None],
    ) -> None:
        self.model = model
        self._executor = executor
        self._settings = settings
        self._gate = gate
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Item | _Stop] = asyncio.Queue()
        self._carry: _Item | _Stop | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_requests = 1  # requests in the previous batch
        self._predict_seconds = 0.0  # moving average of one predict call

    def start(self) -> None:
        if self._settings.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.model.name}")

    async def drain(self, timeout: float) -> None:
        """Answer every request already queued, then stop (a newer version of the model takes the new ones).

        Requests still queued after ``timeout`` seconds get a 503, as with stop().
        """
        if self._task is None:
            return
        self._queue.put_nowait(_STOP)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        await self.stop()

    async def stop(self) -> None:
        """Stop the worker; requests still queued or being predicted get a 503 instead of waiting forever."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        pending = [self._carry] if self._carry else []
        self._carry = None
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        self._fail(pending)

    def _fail(self, items: Sequence[_Item | _Stop]) -> None:
        for item in items:
            if isinstance(item, _Item) and not item.future.done():
                item.future.set_exception(
                    model_unavailable(self.model.name, "it was unloaded while the request waited")
                )

    async def predict(self, part: Any) -> np.ndarray:
        """Probabilities for the rows of ``part``, computed together with whatever else is queued."""
        rows = self.model.rows(part)
        if self._task is None:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor, self._call, [part])
            self._on_batch(self.model, rows)
            return result
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(part, rows, future))
        return await future

    def _call(self, parts: list[Any]) -> np.ndarray:
        return self.model.predict_proba(self.model.combine(parts))

    def _expecting_company(self, requests: int) -> bool:
        """More requests are on their way: some have started arriving, or fewer than last time are here.

        Clients that wait for their answer before sending again (the usual case) come back together, so the
        previous batch's request count is the best guess of how many will arrive now.
        """
        return self._gate.pending > 0 or requests < self._last_requests

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        max_rows = self._settings.max_batch_size
        max_wait = self._settings.max_wait_ms / 1000.0
        while True:
            first = self._carry or await self._queue.get()
            self._carry = None
            if isinstance(first, _Stop):
                return
            batch, rows = [first], first.rows
            # Waiting pays only while it is cheap next to the predict call it saves.
            deadline = loop.time() + min(max_wait, self._predict_seconds / 2)
            while rows < max_rows:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0 or not self._expecting_company(len(batch)):
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                if isinstance(item, _Stop) or rows + item.rows > max_rows:
                    self._carry = item
                    break
                batch.append(item)
                rows += item.rows
            batch = [item for item in batch if not item.future.cancelled()]
            if not batch:
                continue
            rows = sum(item.rows for item in batch)
            self._last_requests = len(batch)
            started = loop.time()
            try:
                result = await loop.run_in_executor(self._executor, self._call, [item.part for item in batch])
            except asyncio.CancelledError:
                self._fail(batch)
                raise
            except Exception as exc:  # noqa: BLE001 - delivered to every waiting request
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            self._predict_seconds = 0.8 * self._predict_seconds + 0.2 * (loop.time() - started)
            self._on_batch(self.model, rows)
            offset = 0
            for item in batch:
                if not item.future.done():
                    item.future.set_result(result[offset : offset + item.rows])
                offset += item.rows
