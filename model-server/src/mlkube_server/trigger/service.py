"""The trigger's work: alias events become Rollout patches, Rollout verdicts become registry records.

All Kubernetes and MLflow calls run one at a time (one lock): one Rollout per trigger, and no interleaving
of a start with a verdict. Nothing is kept between calls but timers for events still settling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from ..model_tags import ALIAS_CHALLENGER
from ..retry import Backoff, retry_async
from . import plan
from .errors import KubeError, TriggerError
from .events import AliasSet
from .kube import Kube
from .registry import Registry

log = logging.getLogger("mlkube_server.trigger")
T = TypeVar("T")
CONFLICT = (409, 422)  # resourceVersion test failed: the Rollout changed under us


class Trigger:
    def __init__(self, kube: Kube, registry: Registry, rollout: str, settle: float, max_settle: float) -> None:
        self.kube, self.registry, self.rollout = kube, registry, rollout
        self.settle, self.max_settle = settle, max_settle
        self._lock = asyncio.Lock()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._first_event: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()

    @property
    def where(self) -> str:
        return f"{self.kube.namespace}/{self.rollout}"

    async def _io(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.to_thread(fn, *args)

    def alias_set(self, change: AliasSet) -> str:
        """Handle a ``model_version_alias.created`` event; returns what became of it (also logged once)."""
        if change.alias != ALIAS_CHALLENGER:
            message = (
                f"ignored: @{change.alias} of {change.name} moved to {change.version} "
                "(only @challenger starts rollouts)"
            )
            log.info(message)
            return message
        loop = asyncio.get_running_loop()
        now = loop.time()
        first = self._first_event.setdefault(change.name, now)
        if (timer := self._timers.pop(change.name, None)) is not None:
            timer.cancel()
        delay = max(0.0, min(self.settle, first + self.max_settle - now))
        self._timers[change.name] = loop.call_later(delay, self._spawn, change.name)
        message = (
            f"@challenger of {change.name} -> version {change.version}: rollout in {delay:.1f}s unless it moves again"
        )
        log.info(message)
        return message

    def _spawn(self, name: str) -> None:
        self._timers.pop(name, None)
        self._first_event.pop(name, None)
        task = asyncio.get_running_loop().create_task(self.start(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self, name: str) -> None:
        """Point the Rollout at the version @challenger names now (the registry's latest word, whatever the order
        the events arrived in)."""
        async with self._lock:
            version: int | None = None
            try:
                version = await self._io(self.registry.challenger, name)
                if version is None:
                    log.info("ignored: %s has no @challenger any more", name)
                    return
                for attempt in range(3):
                    rollout = await self._io(self.kube.get_rollout, self.rollout)
                    referenced = plan.workload_ref(rollout)
                    deployment = await self._io(self.kube.get_deployment, referenced) if referenced else None
                    decision = plan.start(rollout, name, version, deployment)
                    if isinstance(decision, plan.Skip):
                        log.info("ignored: %s", decision.message)
                        return
                    try:
                        await self._io(self.kube.patch_rollout, self.rollout, decision.ops)
                    except KubeError as exc:
                        if exc.status in CONFLICT and attempt < 2:
                            continue
                        raise
                    log.info("patched rollout %s: %s", self.where, decision.message,
                             extra={"model": name, "version": version, "event": "rollout_patched"})  # fmt: skip
                    return
            except TriggerError as exc:
                log.error("could not start the rollout of %s version %s: %s", name, version, exc)
            except Exception:  # noqa: BLE001 - MLflow errors of every kind: log, the next event retries
                log.exception("could not start the rollout of %s version %s", name, version)

    async def reconcile(self) -> None:
        """Record a finished rollout's outcome in the registry; after an abort, put the stable template back."""
        async with self._lock:
            rollout = await self._io(self.kube.get_rollout, self.rollout)
            if plan.workload_ref(rollout):  # still taking over from a Deployment: no challenger of ours in it
                return
            verdict = plan.verdict(rollout)
            if verdict is None:
                return
            name, version, mark = verdict.name, verdict.version, f"{verdict.name}/{verdict.version}"
            done = await self._io(self.registry.outcome, name, version)
            if verdict.promoted:
                if done is None:
                    await self._io(self.registry.record_promoted, name, version, self.where)
                    log.info("promoted: %s version %s is @champion (rollout %s healthy)", name, version, self.where,
                             extra={"model": name, "version": version, "event": "promoted"})  # fmt: skip
                await self._io(self.kube.patch_rollout, self.rollout, plan.set_rollout_annotation(
                    rollout, plan.ANNOTATION_RECORDED, mark))  # fmt: skip
                return
            reason = plan.abort_reason(rollout, await self._analysis_runs(rollout))
            if done is None:
                await self._io(self.registry.record_aborted, name, version, self.where, reason)
                log.warning("aborted: %s version %s stays off @champion: %s", name, version, reason,
                            extra={"model": name, "version": version, "event": "aborted"})  # fmt: skip
            await self._io(self.kube.patch_rollout, self.rollout, plan.revert(rollout, mark))

    async def _analysis_runs(self, rollout: dict) -> list[dict]:
        runs = []
        for run in plan.analysis_run_names(rollout):
            try:
                runs.append(await self._io(self.kube.get_analysis_run, run))
            except KubeError as exc:
                log.warning("could not read AnalysisRun %s: %s", run, exc)
        return runs

    async def reconcile_forever(self, every: float) -> None:
        failing = ""
        while True:
            try:
                await self.reconcile()
                failing = ""
            except Exception as exc:  # noqa: BLE001 - keep reconciling; log each new failure once
                line = f"{type(exc).__name__}: {exc}"
                if line != failing:
                    log.error("reconcile of %s failed: %s", self.where, line)
                failing = line
            await asyncio.sleep(every)

    async def register_webhook_forever(self, name: str, url: str, secret: str) -> None:
        """Create or update MLflow's webhook, retrying any failure (MLflow not up yet) until it is registered."""
        result = await retry_async(
            lambda: self._io(self.registry.ensure_webhook, name, url, secret),
            Backoff(attempts=None, first_delay=1.0),
            f"MLflow webhook {name} not registered yet",
            transient=lambda exc: True,
            logger=log,
        )
        log.info("MLflow webhook %s %s (%s, model_version_alias.created)", name, result, url)
