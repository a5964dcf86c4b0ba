"""Retry an action while its failure is transient (MLflow or another server not answering), with a bounded backoff.

The trainers and the server ship in different images, so this file exists twice, byte for byte:
training-jobs/src/mlkube_train/retry.py and model-server/src/mlkube_server/retry.py (tests/server/test_retry.py
fails when they differ). Edit one, copy it over the other. Standard library only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

# MLflow error codes that mean "you asked for something that is not there": retrying cannot help.
_FINAL_ERROR_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND", "PERMISSION_DENIED")
# Connection failures, however the HTTP client and MLflow word them.
_CONNECTION_MARKERS = (
    "Max retries exceeded",
    "Connection refused",
    "Connection reset",
    "Connection aborted",
    "ConnectionError",
    "Read timed out",
    "timed out",
    "Temporary failure in name resolution",
    "temporarily unavailable",
)
# A gateway or an overloaded server answering for MLflow; only where the message is about an HTTP answer, so a
# run id or a value that happens to contain 503 is not taken for one.
_UNAVAILABLE_STATUS = re.compile(r"\b50[234]\b")
_HTTP_CONTEXT = ("API request", "HTTP", "error code", "status")
# requests' exceptions by name, so this module needs no third-party import.
_REQUESTS_TRANSIENT = ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout")


def is_transient(exc: BaseException) -> bool:
    """True for "the server did not answer" (retry later), False for "you asked wrongly" (retrying cannot help)."""
    if getattr(exc, "error_code", None) in _FINAL_ERROR_CODES:
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if any(c.__module__.startswith("requests") and c.__name__ in _REQUESTS_TRANSIENT for c in type(exc).__mro__):
        return True
    text = f"{type(exc).__name__}: {exc}"
    if any(marker in text for marker in _CONNECTION_MARKERS):
        return True
    return bool(_UNAVAILABLE_STATUS.search(text)) and any(context in text for context in _HTTP_CONTEXT)


@dataclass(frozen=True)
class Backoff:
    """``attempts`` tries in all (None: until it succeeds), waiting ``first_delay`` seconds after the first
    failure, ``factor`` times longer after each next one, never more than ``max_delay``."""

    attempts: int | None
    first_delay: float
    factor: float = 2.0
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"Backoff.attempts must be at least 1 or None, not {self.attempts}")
        if self.first_delay < 0 or self.factor < 1 or self.max_delay < 0:
            raise ValueError(f"Backoff needs first_delay >= 0, factor >= 1, max_delay >= 0: {self}")

    def delays(self) -> Iterator[float]:
        """The wait after each failed attempt but the last (endless when attempts is None)."""
        waits = self.attempts - 1 if self.attempts is not None else None
        delay = self.first_delay
        for _ in itertools.repeat(None) if waits is None else range(waits):
            yield min(delay, self.max_delay)
            delay *= self.factor


class GaveUp(Exception):
    """Every attempt failed transiently; ``last`` is the last failure (also the ``__cause__``)."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        reason = _one_line(last)
        super().__init__(f"{what}: gave up after {attempts} attempt{'s' if attempts != 1 else ''} ({reason})")
        self.what = what
        self.attempts = attempts
        self.last = last


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _wait_after(
    exc: Exception, attempt: int, delays: Iterator[float], what: str, backoff: Backoff, logger: logging.Logger
) -> float:
    """The wait before the next attempt, logged; GaveUp when there is none."""
    delay = next(delays, None)
    if delay is None:
        raise GaveUp(what, attempt, exc) from exc
    tries = f"attempt {attempt}/{backoff.attempts}" if backoff.attempts is not None else f"attempt {attempt}"
    logger.warning("%s (%s): %s; retrying in %.1fs", what, tries, _one_line(exc), delay)
    return delay


def retry(
    action: Callable[[], T],
    backoff: Backoff,
    what: str,
    transient: Callable[[BaseException], bool] = is_transient,
    logger: logging.Logger = log,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``action()``, tried again after each failure ``transient`` accepts, waiting as ``backoff`` says; one warning
    line per retry on ``logger``, naming ``what`` failed. A failure ``transient`` refuses is re-raised at once;
    when the attempts run out, GaveUp (from the last failure)."""
    delays = backoff.delays()
    for attempt in itertools.count(1):
        try:
            return action()
        except Exception as exc:
            if not transient(exc):
                raise
            sleep(_wait_after(exc, attempt, delays, what, backoff, logger))
    raise AssertionError("itertools.count ended")


async def retry_async(
    action: Callable[[], Awaitable[T]],
    backoff: Backoff,
    what: str,
    transient: Callable[[BaseException], bool] = is_transient,
    logger: logging.Logger = log,
) -> T:
    """``retry`` for a coroutine function; waits with asyncio.sleep, so the event loop keeps running."""
    delays = backoff.delays()
    for attempt in itertools.count(1):
        try:
            return await action()
        except Exception as exc:
            if not transient(exc):
                raise
            await asyncio.sleep(_wait_after(exc, attempt, delays, what, backoff, logger))
    raise AssertionError("itertools.count ended")
