"""Helpers of the progressive-delivery scenarios: Argo Rollout state, Traefik weights, registered test versions.

The model versions are real registered versions of the Penguins random forest: a copy of the champion (a good
challenger that answers exactly as the champion does) and a pipeline whose classifier always answers one
species (a bad challenger), logged to MLflow as the trainers log theirs (skops format, signature, tags).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field

from mlkube_server.trigger.plan import ANNOTATION_CHALLENGER

from . import kube
from .kube import kubectl_json
from .load import LoadGenerator
from .rollout import upgrade

ROLLOUT_POLL_SECONDS = 0.5


@dataclass
class Transition:
    """What one rollout did, as the e2e table prints it."""

    name: str
    outcome: str = ""
    first_canary_traffic_s: float | None = (
        None  # from the start of the rollout to the first live answer of the new version
    )
    decided_s: float | None = None  # from the start to promoted / aborted
    rollback_s: float | None = None  # from the first live answer of the new version to its last one
    failed: int = 0
    total: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    """Transitions of one strategy under one load generator: each starts with a `helm upgrade` of the model
    version and ends with the load's counts and the version's first and last live answers in its phase."""

    load: LoadGenerator
    model: str
    strategy: str
    extra_values: dict[str, str] = field(default_factory=dict)  # on every upgrade of this scenario
    transitions: list[Transition] = field(default_factory=list)

    def values(self, version: str, shadow: bool, **extra: str) -> dict[str, str]:
        return {
            "strategy": self.strategy,
            "gateway.enabled": "true",
            "replicaCount": "2",
            "progressive.shadow.enabled": str(shadow).lower(),
            f"server.models.{self.model}": f"models:/{self.model}/{version}",
            "model.version": version,
            **self.extra_values,
            **extra,
        }

    def start(self, name: str, version: str, shadow: bool, **extra: str) -> tuple[Transition, float]:
        self.load.phase(name)
        started = time.monotonic()
        upgrade(wait=False, **self.values(version, shadow, **extra))
        return Transition(name), started

    def live_answers(self, transition: Transition, version: str) -> tuple[float, float] | None:
        return self.load.seen.get((transition.name, version))

    def finish(self, transition: Transition, version: str, started: float) -> Transition:
        ok, failed = self.load.ok[transition.name], self.load.failed[transition.name]
        transition.failed, transition.total = failed, ok + failed
        seen = self.live_answers(transition, version)
        if seen is not None:
            transition.first_canary_traffic_s = seen[0] - started
            transition.rollback_s = seen[1] - seen[0]
        self.transitions.append(transition)
        return transition


def rollout(name: str) -> dict:
    return kubectl_json("get", "rollout.argoproj.io", name)


def promoted(status: dict) -> bool:
    return status.get("phase") == "Healthy" and status.get("stableRS") == status.get("currentPodHash")


def aborted(status: dict) -> bool:
    return bool(status.get("abort"))


def paused_inconclusive(status: dict) -> bool:
    return any(c.get("reason") == "InconclusiveAnalysisRun" for c in status.get("pauseConditions") or [])


def resume_inconclusive(name: str, attempts: int = 3) -> int:
    """What a person does once the cause of an inconclusive pause is gone: `kubectl argo rollouts promote`, again
    while the Rollout pauses on an inconclusive analysis. With both the step's and the background analysis
    Inconclusive, Argo takes one promote for each: the first moves past the step, and the background run, still
    Inconclusive, pauses the Rollout again; the second starts a new background run. Returns the promotes made."""
    for attempt in range(1, attempts + 1):
        kube.run("kubectl", "argo", "rollouts", "promote", name, "--namespace", kube.NAMESPACE)
        time.sleep(10)  # the controller reconciles (and re-pauses, if it does) within a few seconds
        if not paused_inconclusive(rollout(name)["status"]):
            return attempt
    raise AssertionError(f"{name} still paused on an inconclusive analysis after {attempts} promotes")


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


def analysis_timeline(since: datetime.datetime) -> list[str]:
    """Every measurement of the AnalysisRuns created since `since`, one line per metric, in seconds after
    `since`: why a verdict took as long as it did."""

    def at(stamp: str | None) -> str:
        if not stamp:
            return "?"
        moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return f"{(moment - since).total_seconds():.0f}"

    lines = []
    runs = kubectl_json("get", "analysisrun.argoproj.io").get("items", [])
    for run in sorted(runs, key=lambda r: r["metadata"]["creationTimestamp"]):
        if at(run["metadata"]["creationTimestamp"]).startswith("-"):
            continue
        status = run.get("status", {})
        lines.append(
            f"{run['metadata']['name']} created +{at(run['metadata']['creationTimestamp'])}s: "
            f"{status.get('phase')} {status.get('message', '')}".rstrip()
        )
        for metric in status.get("metricResults", []):
            marks = [
                f"+{at(m.get('finishedAt'))}s {m.get('phase', '?')[:5]} {m.get('value', '')}".rstrip()
                for m in metric.get("measurements", [])
            ]
            lines.append(f"  {metric['name']}: {metric.get('phase')}; " + ", ".join(marks[-8:]))
    return lines


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
        lines.append(
            f"{t.name:<34}{t.outcome:<10}{num(t.first_canary_traffic_s):>19}{num(t.decided_s):>12}"
            f"{num(t.rollback_s):>13}{f'{t.failed}/{t.total}':>14}"
        )
        lines.extend(f"{'':<4}{note}" for note in t.notes)
    lines += [
        "",
        f"detection bound here (analysis interval x (failureLimit + 1)): {interval_s * (failure_limit + 1):.0f} s",
        "Flagger defaults (interval x threshold): 60 s x 1 = 60 s to roll back; its tutorials 5-10 min",
        "Argo Rollouts' documented analysis example (interval 5m x failureLimit 3): 15 min",
    ]
    return "\n".join(lines)


def inconclusive_metrics(rollout_name: str) -> list[str]:
    """`<metric>: <last measurement's value>` of every Inconclusive metric of the Rollout's AnalysisRuns."""
    said = []
    for run in kubectl_json("get", "analysisrun.argoproj.io").get("items", []):
        owners = {o.get("name") for o in run["metadata"].get("ownerReferences", [])}
        if rollout_name not in owners and not any(o and o.startswith(rollout_name) for o in owners):
            continue
        for metric in run.get("status", {}).get("metricResults", []):
            if metric.get("phase") == "Inconclusive":
                last = (metric.get("measurements") or [{}])[-1]
                said.append(f"{metric['name']}: {str(last.get('value', ''))[:200]}")
    return said


def report(path, title: str, scenario: Scenario, interval_s: float, failure_limit: int) -> None:
    text = table(scenario.transitions, interval_s, failure_limit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{title}\n{text}\n")
    print(f"\n{title}, under load through the Gateway\n{text}\n\nper phase\n{scenario.load.report()}")


def template_challenger(name: str) -> str | None:
    """The `<model>/<version>` the rollout trigger wrote into the Rollout's pod template (mlkube.io/challenger)."""
    template = rollout(name)["spec"].get("template") or {}  # none while it takes over from a Deployment
    return template.get("metadata", {}).get("annotations", {}).get(ANNOTATION_CHALLENGER)
