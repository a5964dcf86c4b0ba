"""Helpers of the progressive-delivery scenarios: Argo Rollout state, Traefik weights, registered test versions.

The model versions are real registered versions of the Penguins random forest: a copy of the champion (a good
challenger that answers exactly as the champion does) and a pipeline whose classifier always answers one
species (a bad challenger), logged to MLflow as the trainers log theirs (skops format, signature, tags).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .kube import kubectl_json

ROLLOUT_POLL_SECONDS = 0.5


@dataclass
class Transition:
    """What one rollout did, as the e2e table prints it."""

    name: str
    outcome: str = ""
    first_canary_traffic_s: float | None = None  # from the start of the rollout to the first live answer of the new version
    decided_s: float | None = None  # from the start to promoted / aborted
    rollback_s: float | None = None  # from the first live answer of the new version to its last one
    failed: int = 0
    total: int = 0
    notes: list[str] = field(default_factory=list)


def rollout(name: str) -> dict:
    return kubectl_json("get", "rollout.argoproj.io", name)


def promoted(status: dict) -> bool:
    return status.get("phase") == "Healthy" and status.get("stableRS") == status.get("currentPodHash")


def aborted(status: dict) -> bool:
    return bool(status.get("abort"))


def traefik_weights(name: str) -> dict[str, int]:
    service = kubectl_json("get", "traefikservice.traefik.io", name)
    return {s["name"]: int(s.get("weight", 0)) for s in service["spec"].get("weighted", {}).get("services", [])}


def wait_rollout(name: str, predicate, what: str, timeout: float) -> tuple[dict, float]:
    """Polls the Rollout's status until `predicate(status)`; returns it and the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        current = rollout(name)
        status = current.get("status", {})
        # A status is only about the latest spec once the controller has observed its generation (a string).
        observed = str(status.get("observedGeneration")) == str(current["metadata"]["generation"])
        if observed and predicate(status):
            return status, time.monotonic()
        time.sleep(ROLLOUT_POLL_SECONDS)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; Rollout status: {_brief(status)}")


def _brief(status: dict) -> dict:
    keys = ("phase", "message", "abort", "currentStepIndex", "stableRS", "currentPodHash", "pauseConditions", "canary")
    return {k: status.get(k) for k in keys if k in status}


def table(transitions: list[Transition], interval_s: float, failure_limit: int) -> str:
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"{'transition':<34}{'outcome':<10}{'1st canary req (s)':>19}{'decided (s)':>12}{'rollback (s)':>13}"
        f"{'failed/total':>14}",
    ]
    for t in transitions:
        lines.append(f"{t.name:<34}{t.outcome:<10}{num(t.first_canary_traffic_s):>19}{num(t.decided_s):>12}"
                     f"{num(t.rollback_s):>13}{f'{t.failed}/{t.total}':>14}")
        lines.extend(f"{'':<4}{note}" for note in t.notes)
    lines += [
        "",
        f"detection bound here (analysis interval x (failureLimit + 1)): {interval_s * (failure_limit + 1):.0f} s",
        "Flagger defaults (interval x threshold): 60 s x 1 = 60 s to roll back; its tutorials 5-10 min",
        "Argo Rollouts' documented analysis example (interval 5m x failureLimit 3): 15 min",
    ]
    return "\n".join(lines)
