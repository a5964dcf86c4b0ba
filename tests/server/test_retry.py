"""The one retry helper (retry.py), shipped byte-identical in the trainers' and the server's packages: attempt counts,
backoff bounds, errors that retrying cannot fix, the give-up message, and which real errors count as transient."""

from __future__ import annotations

import asyncio
import logging
from itertools import islice
from pathlib import Path

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

import mlkube_server.retry
import mlkube_train.retry
from mlkube_server.retry import Backoff, GaveUp, is_transient, retry, retry_async
from tests.support.processes import free_port


def test_the_trainer_and_the_server_ship_the_same_retry_module() -> None:
    trainer = Path(mlkube_train.retry.__file__).read_bytes()
    server = Path(mlkube_server.retry.__file__).read_bytes()
    assert trainer == server, (
        "training-jobs/src/mlkube_train/retry.py and model-server/src/mlkube_server/retry.py differ: "
        "edit one and copy it over the other"
    )


class Flaky:
    """Fails with each of ``failures`` in turn, then answers ``done``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def test_delays_grow_by_the_factor_and_stop_at_the_cap() -> None:
    assert list(Backoff(attempts=6, first_delay=0.5, factor=2, max_delay=3).delays()) == [0.5, 1, 2, 3, 3]
    assert list(Backoff(attempts=1, first_delay=5).delays()) == []
    assert list(islice(Backoff(attempts=None, first_delay=1, max_delay=30).delays(), 8)) == [1, 2, 4, 8, 16, 30, 30, 30]


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"first_delay": -1}, {"factor": 0.5}, {"max_delay": -2}])
def test_a_backoff_that_cannot_work_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="Backoff"):
        Backoff(**{"attempts": 3, "first_delay": 1.0, **bad})


def test_transient_failures_are_retried_with_the_backoff_then_the_answer_returned(caplog) -> None:
    action = Flaky(ConnectionRefusedError("Connection refused"), TimeoutError("read timed out"))
    slept: list[float] = []
    with caplog.at_level(logging.WARNING):
        answer = retry(action, Backoff(attempts=4, first_delay=0.5), "reaching MLflow", sleep=slept.append)
    assert (answer, action.calls, slept) == ("done", 3, [0.5, 1.0])
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "reaching MLflow (attempt 1/4): Connection refused; retrying in 0.5s",
        "reaching MLflow (attempt 2/4): read timed out; retrying in 1.0s",
    ]


def test_an_error_retrying_cannot_fix_is_raised_at_once() -> None:
    wrong = ValueError("invalid parameter alpha")
    action = Flaky(wrong)
    slept: list[float] = []
    with pytest.raises(ValueError) as raised:
        retry(action, Backoff(attempts=5, first_delay=1), "training", sleep=slept.append)
    assert raised.value is wrong and action.calls == 1 and slept == []


def test_running_out_of_attempts_gives_up_naming_the_action_the_count_and_the_last_failure() -> None:
    failures = [ConnectionResetError(f"Connection reset, try {i}\nsecond line") for i in range(1, 4)]
    action = Flaky(*failures, ConnectionResetError("never reached"))
    slept: list[float] = []
    with pytest.raises(GaveUp) as raised:
        retry(action, Backoff(attempts=3, first_delay=2, max_delay=3), "loading m", sleep=slept.append)
    assert str(raised.value) == "loading m: gave up after 3 attempts (Connection reset, try 3)"
    assert (raised.value.attempts, raised.value.last, raised.value.__cause__) == (3, failures[2], failures[2])
    assert action.calls == 3 and slept == [2, 3]


def test_a_caller_decides_what_is_transient() -> None:
    class Unhealthy(Exception):
        pass

    action = Flaky(Unhealthy("HTTP 500"), Unhealthy("HTTP 500"))
    assert retry(action, Backoff(3, 0), "health", transient=lambda e: isinstance(e, Unhealthy)) == "done"
    with pytest.raises(ConnectionRefusedError):
        retry(Flaky(ConnectionRefusedError()), Backoff(3, 0), "health", transient=lambda e: isinstance(e, Unhealthy))


def test_the_async_helper_retries_until_success_when_attempts_are_unbounded() -> None:
    action = Flaky(*[ConnectionRefusedError("Connection refused")] * 5)

    async def call() -> str:
        return action()

    assert asyncio.run(retry_async(call, Backoff(attempts=None, first_delay=0.001), "webhook")) == "done"
    assert action.calls == 6


def test_the_async_helper_gives_up_and_re_raises_like_the_sync_one() -> None:
    async def refused() -> str:
        raise ConnectionRefusedError("Connection refused")

    async def wrong() -> str:
        raise KeyError("model")

    with pytest.raises(GaveUp, match=r"webhook: gave up after 2 attempts \(Connection refused\)"):
        asyncio.run(retry_async(refused, Backoff(attempts=2, first_delay=0.001), "webhook"))
    with pytest.raises(KeyError):
        asyncio.run(retry_async(wrong, Backoff(attempts=2, first_delay=0.001), "webhook"))


def test_a_closed_port_is_transient() -> None:
    with pytest.raises(requests.ConnectionError) as raised:
        requests.get(f"http://127.0.0.1:{free_port()}/health", timeout=5)
    assert is_transient(raised.value)


@pytest.mark.parametrize(
    "message",
    [
        "API request to http://mlflow:5000/api/2.0/mlflow/runs/create failed with exception "
        "HTTPConnectionPool(host='mlflow', port=5000): Max retries exceeded with url",
        "API request to endpoint /api/2.0/mlflow/registered-models/get failed with error code 503 != 200",
    ],
)
def test_mlflow_failing_to_reach_its_server_is_transient(message: str) -> None:
    assert is_transient(MlflowException(message))


def test_mistakes_are_not_transient_even_when_they_mention_a_connection_word() -> None:
    missing = MlflowException("Registered Model with name=m not found (Connection refused?)", RESOURCE_DOES_NOT_EXIST)
    assert missing.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert not is_transient(missing)
    assert not is_transient(ValueError("run 5031f0c2 has no metric test_accuracy"))
    assert not is_transient(KeyError("test_accuracy"))
