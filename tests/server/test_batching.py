"""The micro-batcher's choice of where a predict call runs: the predict thread, or the event loop itself for a
model whose calls average under batching.inline_max_ms (the thread hand-off cost more than such a call)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlkube_server.batching import ArrivalGate, MicroBatcher
from mlkube_server.settings import BatchingSettings


class TimedModel:
    """Answers one probability row per input row, after ``seconds``; records the thread of each call."""

    name = "timed"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.threads: list[str] = []

    def rows(self, part: list[int]) -> int:
        return len(part)

    def combine(self, parts: list[list[int]]) -> list[int]:
        return [value for part in parts for value in part]

    def predict_proba(self, batch: list[int]) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        return np.array([[float(value), 1.0 - value] for value in batch])


async def _answers(model: TimedModel, settings: BatchingSettings, calls: int) -> list[np.ndarray]:
    with ThreadPoolExecutor(1, thread_name_prefix="predict") as executor:
        batcher = MicroBatcher(model, executor, settings, ArrivalGate(), lambda served, rows: None)
        batcher.start()
        try:
            return [await batcher.predict([index % 2]) for index in range(calls)]
        finally:
            await batcher.stop()


def test_a_quick_model_runs_on_the_event_loop_after_its_first_call() -> None:
    model = TimedModel(0.0)
    answers = asyncio.run(_answers(model, BatchingSettings(inline_max_ms=5.0), 4))
    assert [a.tolist() for a in answers] == [[[0.0, 1.0]], [[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]]
    # the first call measures the model on the predict thread; the rest run where the batcher runs
    assert model.threads[0].startswith("predict")
    assert model.threads[1:] == [threading.main_thread().name] * 3


def test_a_slow_model_stays_on_the_predict_thread() -> None:
    model = TimedModel(0.01)
    asyncio.run(_answers(model, BatchingSettings(inline_max_ms=5.0), 3))
    assert all(name.startswith("predict") for name in model.threads)


def test_zero_turns_it_off() -> None:
    model = TimedModel(0.0)
    asyncio.run(_answers(model, BatchingSettings(inline_max_ms=0.0), 3))
    assert all(name.startswith("predict") for name in model.threads)
