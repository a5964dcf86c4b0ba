"""The models this server knows: configured name -> URI, load state, the loaded model and its batcher."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from .batching import ArrivalGate, MicroBatcher
from .errors import ApiError, load_failed, model_unavailable, unknown_model
from .loader import MlflowUnreachable, ModelLoadError, load_model
from .metrics import ServerMetrics
from .models import ServedModel
from .settings import ServerSettings

log = logging.getLogger("mlkube_server.repository")
# Models load on this many threads at once: their requests to MLflow overlap, and so do their imports and
# deserialisation with those requests' waits.
PARALLEL_LOADS = 4


class State(str, Enum):
    PENDING = "pending"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    UNLOADED = "unloaded"


UNSETTLED = (State.PENDING, State.LOADING)


@dataclass
class Entry:
    name: str
    uri: str
    state: State = State.PENDING
    reason: str | None = None
    model: ServedModel | None = None
    batcher: MicroBatcher | None = None
    # Failed only because MLflow could not be reached, and retried: not settled (a canary pod that loses its
    # race with an MLflow restart is not a version that cannot load).
    retrying: bool = False

    @property
    def settled(self) -> bool:
        return self.state not in UNSETTLED and not (self.state is State.FAILED and self.retrying)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "uri": self.uri, "state": self.state.value}
        if self.model is not None:
            out.update(version=self.model.version, alias=self.model.identity.alias, kind=self.model.kind)
        if self.reason:
            out["reason"] = self.reason
        return out


class ModelRepository:
    def __init__(self, settings: ServerSettings, metrics: ServerMetrics, gate: ArrivalGate) -> None:
        self.settings = settings
        self.metrics = metrics
        self.gate = gate
        self.entries: dict[str, Entry] = {name: Entry(name, uri) for name, uri in settings.models.items()}
        self.configured = frozenset(settings.models)
        self.default_name = settings.default_model_name
        self.predict_executor = ThreadPoolExecutor(settings.predict_threads, thread_name_prefix="predict")
        self._load_executor = ThreadPoolExecutor(PARALLEL_LOADS, thread_name_prefix="load")
        self._locks: dict[str, asyncio.Lock] = {}
        metrics.track_pending(lambda: self.pending_count)

    # -- queries ---------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    @property
    def pending_count(self) -> int:
        """Configured models whose load has not settled yet: pending, loading, or failed on an unreachable
        MLflow and waiting for their retry."""
        return sum(not e.settled for e in self.entries.values())

    def ready(self) -> bool:
        """True only when every configured model is loaded (and at least one is configured)."""
        configured = [e for e in self.entries.values() if e.state is not State.UNLOADED]
        return bool(configured) and all(e.state is State.READY for e in configured)

    def entry(self, name: str | None) -> Entry:
        name = name or self.default_name
        if name is None:
            raise ApiError(503, "no model is configured; set MLKUBE_SERVER_MODELS or pass --model")
        entry = self.entries.get(name)
        if entry is None:
            raise unknown_model(name, self.names)
        return entry

    def get(self, name: str | None) -> tuple[ServedModel, MicroBatcher]:
        entry = self.entry(name)
        if entry.state is not State.READY or entry.model is None or entry.batcher is None:
            reason = entry.reason or {
                State.PENDING: "loading has not started yet",
                State.LOADING: "still loading; retry shortly",
                State.UNLOADED: "unloaded through the repository API; load it again with "
                f"POST /v2/repository/models/{entry.name}/load",
            }.get(entry.state, entry.state.value)
            raise model_unavailable(entry.name, reason)
        return entry.model, entry.batcher

    def ready_models(self) -> list[str]:
        return [e.name for e in self.entries.values() if e.state is State.READY]

    # -- predicting --------------------------------------------------------------------------------

    async def predict(self, model: ServedModel, part: Any) -> np.ndarray:
        """Probabilities from ``model``: the version the request was validated against answers it."""
        entry = self.entries.get(model.name)
        if entry is not None and entry.model is model and entry.batcher is not None:
            return await entry.batcher.predict(part)
        if entry is None or entry.model is None:
            raise model_unavailable(model.name, "it was unloaded while the request waited")
        # Picked just before a reload swapped the next version in: the old one answers, without batching.
        loop = asyncio.get_running_loop()
        probabilities = await loop.run_in_executor(self.predict_executor, _predict_one, model, part)
        self._batch_done(model, model.rows(part))
        return probabilities

    # -- loading ---------------------------------------------------------------------------------

    async def load_all(self) -> None:
        await asyncio.gather(*(self._load_configured(name) for name in list(self.entries)), return_exceptions=True)

    async def retry_failed(self) -> None:
        """After ``load_all``: retries the configured models that failed until they load.

        Readiness stays false meanwhile, so a pod started before its model was registered becomes
        Ready on its own once the model exists, instead of waiting for its startup probe to kill it.
        """
        interval = self.settings.retry_failed_seconds
        while interval > 0:
            failed = [e.name for e in self.entries.values() if e.state is State.FAILED and e.name in self.configured]
            if not failed:
                return
            log.info("retrying %s in %.0fs", ", ".join(failed), interval, extra={"models": failed})
            await asyncio.sleep(interval)
            await asyncio.gather(*(self._load_configured(name) for name in failed), return_exceptions=True)

    async def _load_configured(self, name: str) -> None:
        """Start-up load and its retries: the entry shows loading, then ready or failed (with the reason)."""
        async with self._lock(name):
            entry = self.entries.get(name)
            if entry is None or entry.state not in (State.PENDING, State.FAILED):
                return  # loaded or unloaded through the repository API meanwhile
            entry.state, entry.reason = State.LOADING, None
            try:
                model = await self._build(name, entry.uri)
            except ModelLoadError as exc:
                entry.state, entry.reason = State.FAILED, str(exc)
                entry.retrying = isinstance(exc, MlflowUnreachable) and self.settings.retry_failed_seconds > 0
                return
            await self._install(entry, model, entry.uri)

    async def load(self, name: str, uri: str | None = None) -> ServedModel:
        """The repository API's (re)load, optionally from a new URI.

        Nothing changes until the new version has loaded: meanwhile the current version (if any) answers and
        readiness stays as it was; a failure raises and leaves the entry, its URI and readiness untouched.
        Then the new version takes every new request at once, and the old one finishes those it holds.
        """
        if name not in self.entries and uri is None:
            raise unknown_model(name, self.names)
        async with self._lock(name):
            entry = self.entries.get(name)
            if entry is None and uri is None:  # unloaded while this call waited for the lock
                raise unknown_model(name, self.names)
            target = uri or entry.uri  # type: ignore[union-attr]
            try:
                model = await self._build(name, target)
            except ModelLoadError as exc:
                serving = entry.model.version if entry is not None and entry.model is not None else None
                where = ("body", "parameters", "uri") if uri else ("path", "name")
                raise load_failed(str(exc), where, isinstance(exc, MlflowUnreachable), serving) from None
            if entry is None:
                entry = self.entries[name] = Entry(name, target)
            await self._install(entry, model, target)
            return model

    async def _build(self, name: str, uri: str) -> ServedModel:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._load_executor, load_model, name, uri, self.settings)
        except ModelLoadError as exc:
            log.error("model %s failed to load: %s", name, exc, extra={"model": name, "uri": uri})
            error = exc
        except Exception as exc:  # noqa: BLE001 - any other loader failure is reported by name too
            log.exception("model %s failed to load", name, extra={"model": name, "uri": uri})
            error = ModelLoadError(f"model {name}: unexpected load error ({type(exc).__name__})")
        # Labelled by model: only configured names, so that loads of made-up names add no series.
        if name in self.configured:
            self.metrics.load_failures.labels(name).inc()
        raise error

    async def _install(self, entry: Entry, model: ServedModel, uri: str) -> None:
        batcher = MicroBatcher(model, self.predict_executor, self.settings.batching, self.gate, self._batch_done)
        batcher.start()
        old_model, old_batcher = entry.model, entry.batcher
        # One step, with no await in it: every request from here on gets the new version.
        entry.model, entry.batcher, entry.uri, entry.state, entry.reason = model, batcher, uri, State.READY, None
        entry.retrying = False
        if old_model is not None:
            self.metrics.unloaded(entry.name, old_model.version, old_model.identity.alias)
        ident = model.identity
        self.metrics.loaded(entry.name, ident.version, ident.alias, ident.load_seconds, model.classes)
        log.info(
            "model %s version %s loaded from %s in %.2fs",
            entry.name, ident.version, uri, ident.load_seconds,
            extra={"model": entry.name, "version": ident.version, "alias": ident.alias},
        )  # fmt: skip
        if old_batcher is not None:
            await old_batcher.drain(self.settings.graceful_timeout_seconds)

    async def unload(self, name: str) -> Entry:
        entry = self.entry(name)
        async with self._lock(name):
            await self._retire(entry)
            entry.state, entry.reason = State.UNLOADED, None
            if name not in self.configured:  # added at run time through the repository API: forget it
                self.entries.pop(name, None)
            log.info("model %s unloaded", name, extra={"model": name})
        return entry

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _retire(self, entry: Entry) -> None:
        if entry.batcher is not None:
            await entry.batcher.stop()
        if entry.model is not None:
            ident = entry.model.identity
            self.metrics.unloaded(entry.name, ident.version, ident.alias)
        entry.model, entry.batcher = None, None

    def _batch_done(self, model: ServedModel, rows: int) -> None:
        self.metrics.batch_size.labels(model.name, model.version).observe(rows)

    async def close(self) -> None:
        for entry in self.entries.values():
            await self._retire(entry)
        self.predict_executor.shutdown(wait=False, cancel_futures=True)
        self._load_executor.shutdown(wait=False, cancel_futures=True)


def _predict_one(model: ServedModel, part: Any) -> np.ndarray:
    return model.predict_proba(model.combine([part]))
