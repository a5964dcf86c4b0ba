"""9. Progressive delivery with Argo Rollouts: the model server's Rollout judges each new model version by itself.

Under constant load through the Gateway (where the canary's weight applies), each transition rolls a real
registered version of the random forest out with `strategy: progressiveCanary`:
- the registry starts it: `@challenger` set on a good version (the champion's copy) in MLflow reaches the rollout
  trigger as a signed webhook; the Rollout goes shadow -> 10 % -> 50 % -> 100 % without a hand on it, 0 failed,
  and the trigger moves `@champion` to the version;
- a bad challenger (always one species) in shadow: its agreement is far below the threshold, it never sees live
  traffic and the rollout aborts;
- the same bad challenger without shadow: its class mix diverges on live traffic, the rollout aborts, and the
  time from its first live answer to its last one is printed (issue 12's target: 30 s);
- a challenger that answers well but an order of magnitude slower: its p99 against the stable's aborts it, as fast;
- Prometheus unreachable during a gate: the analysis asks the rollout trigger, which answers "unreachable"; that
  is Inconclusive, the rollout pauses at its weight and says why (nothing promoted, nothing aborted), and goes on
  when a person promotes it once Prometheus is back.
The table of every transition is printed at the end (and written to .cache/e2e/progressive.txt), with the
AnalysisRuns' measurements of each aborted one.
"""

from __future__ import annotations

import datetime
import time

import pytest

from . import progressive as pd
from . import registry_versions
from .kube import CACHE, connects, kubectl, kubectl_json, service_url, wait_for
from .load import LoadGenerator
from .platform import PLATFORM, RELEASE
from .progressive_versions import MODEL
from .rollout import SERVER, upgrade

REPORT = CACHE / "e2e" / "progressive.txt"
INTERVAL_S, FAILURE_LIMIT = 5.0, 1  # the chart's defaults (progressive.analysis)
ROLLBACK_TARGET_S = 30.0
PROMETHEUS = f"deployment/{RELEASE}-monitoring-prometheus"
# The chart's prometheus.unreachableLimit (2) x interval: the third "unreachable" answer pauses the rollout, long
# before the queries' errors (consecutiveErrorLimit 24 x 5 s) would abort it.
PAUSE_WITHIN_S = 60.0
PAUSED_HOLD_S = 20.0


@pytest.fixture(scope="module")
def canary(gateway, progressive_versions):
    generator = LoadGenerator(f"{gateway}/predict", threads=2, max_seconds=1800)
    scenario = pd.Scenario(generator, MODEL, "progressiveCanary", {"rolloutTrigger.enabled": "true"})
    with generator:
        yield scenario
    pd.report(REPORT, "progressive canary", scenario, INTERVAL_S, FAILURE_LIMIT)


def deployment_replicas(name: str) -> int | None:
    """spec.replicas of a Deployment; None once it is gone."""
    found = kubectl("get", "deployment", name, "-o", "jsonpath={.spec.replicas}", check=False)
    return int(found.stdout or 0) if found.returncode == 0 else None


@pytest.fixture(scope="module")
def on_argo(canary, argo_rollouts, progressive_versions):
    """The release moves from the rolling Deployment to the Rollout under load, losing no request: the Rollout
    takes over from the Deployment (workloadRef), whose pods serve until the Rollout's own are Healthy; then Argo
    scales it to zero."""
    champion = progressive_versions["champion"]
    assert deployment_replicas(SERVER), "the scenario starts from the rolling Deployment"
    transition, started = canary.start("migrate rolling -> Rollout", champion, shadow=True)
    _, done = pd.wait_rollout(SERVER, pd.promoted, "the Rollout to be Healthy after the migration", timeout=300)
    wait_for("Argo to scale the Deployment to zero", lambda: deployment_replicas(SERVER) == 0, timeout=120)
    transition.outcome, transition.decided_s = "migrated", done - started
    canary.finish(transition, champion, started)
    assert transition.failed == 0, canary.load.errors[transition.name]
    return progressive_versions


def _verdict(canary: pd.Scenario, transition: pd.Transition, started: float, timeout: float) -> dict:
    wall_start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=time.monotonic() - started)
    status, done = pd.wait_rollout(
        SERVER, lambda s: pd.promoted(s) or pd.aborted(s), f"the verdict on '{transition.name}'", timeout=timeout
    )
    transition.outcome = "promoted" if pd.promoted(status) else "aborted"
    transition.decided_s = done - started
    if transition.outcome == "aborted":
        transition.notes.append(f"reason: {status.get('message', '')[:150]}")
        transition.notes.extend(pd.analysis_timeline(wall_start))
    return status


def _back_to(canary: pd.Scenario, version: str) -> None:
    """Sets the template back to the stable one: Argo returns to the stable ReplicaSet without steps."""
    canary.load.phase(f"back to {version}")
    upgrade(wait=False, **canary.values(version, shadow=True))
    pd.wait_rollout(SERVER, pd.promoted, f"the Rollout to be Healthy on {version} again", timeout=180)
    # The template is the Rollout's own by now: the Deployment it took over from is Helm's to delete.
    assert deployment_replicas(SERVER) is None, "the Deployment the Rollout took over from is still there"


def test_the_registry_starts_a_good_challenger_and_it_becomes_champion(canary, on_argo):
    good = on_argo["good"]
    registry = registry_versions.client(service_url(f"{RELEASE}-mlflow"))
    transition = pd.Transition("good challenger (@challenger set)")
    canary.load.phase(transition.name)
    started = time.monotonic()
    registry.set_registered_model_alias(MODEL, "challenger", good)
    challenger = f"{MODEL}/{good}"
    wait_for(
        "the rollout trigger to start the Rollout",
        lambda: pd.template_challenger(SERVER) == challenger,
        timeout=60,
        interval=0.5,
    )
    transition.notes.append(f"Rollout started {time.monotonic() - started:.1f}s after the alias was set")
    status = _verdict(canary, transition, started, timeout=420)
    canary.finish(transition, good, started)
    assert transition.outcome == "promoted", status.get("message")
    wait_for(
        "the trigger to move @champion",
        lambda: str(registry.get_model_version_by_alias(MODEL, "champion").version) == good,
        timeout=60,
    )
    transition.notes.append(f"@champion moved {time.monotonic() - started:.1f}s after the alias was set")
    assert transition.failed == 0, canary.load.errors[transition.name]
    assert pd.traefik_weights(SERVER)[f"{SERVER}-canary"] == 0


def test_the_rollout_trigger_reaches_the_api_server_and_not_the_platform_s_other_components(canary, on_argo):
    """Its egress policy (NetworkPolicies, issue 14.2) admits the API server's own endpoint, which the previous test
    patched the Rollout through, and not the components it has no reason to call."""
    trigger = f"deployment/{SERVER}-rollout-trigger"
    [api] = kubectl_json("get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes", namespace="default")[
        "items"
    ]
    assert connects(trigger, api["endpoints"][0]["addresses"][0], api["ports"][0]["port"], "-c", "trigger")
    for host, port in (
        (f"{RELEASE}-mlflow-postgres", 5432),
        (f"{RELEASE}-monitoring-pushgateway", int(PLATFORM["PUSHGATEWAY_PORT"])),
        (SERVER, int(PLATFORM["MODEL_SERVER_PORT"])),
    ):
        assert not connects(trigger, host, port, "-c", "trigger"), f"the rollout trigger reached {host}:{port}"


def test_a_bad_challenger_in_shadow_never_receives_live_traffic(canary, on_argo):
    bad, good = on_argo["bad"], on_argo["good"]
    transition, started = canary.start("bad challenger in shadow", bad, shadow=True)
    _verdict(canary, transition, started, timeout=240)
    canary.finish(transition, bad, started)
    assert transition.outcome == "aborted"
    assert canary.live_answers(transition, bad) is None, "the shadowed challenger answered a live request"
    _back_to(canary, good)


def _rolled_back_by_itself(canary: pd.Scenario, name: str, bad: str, good: str) -> None:
    transition, started = canary.start(name, bad, shadow=False)
    _verdict(canary, transition, started, timeout=240)
    time.sleep(5)  # answers still in flight when the weight went back to 0 count towards the rollback
    canary.finish(transition, bad, started)
    assert transition.outcome == "aborted"
    assert transition.rollback_s is not None, "the bad challenger never received live traffic"
    assert pd.traefik_weights(SERVER)[f"{SERVER}-canary"] == 0
    print(
        f"\n{name}: {transition.rollback_s:.1f}s from the bad version's first live answer to its last "
        f"(target {ROLLBACK_TARGET_S:.0f}s)"
    )
    # Rollback time is a figure for the printed table (house rule: no timed assertions in tests).
    assert transition.failed <= 0.01 * transition.total, canary.load.errors[transition.name]
    _back_to(canary, good)


def test_a_bad_challenger_on_live_traffic_is_rolled_back_by_itself(canary, on_argo):
    _rolled_back_by_itself(canary, "bad challenger, live canary", on_argo["bad"], on_argo["good"])


def test_a_slow_challenger_on_live_traffic_is_rolled_back_by_itself(canary, on_argo):
    _rolled_back_by_itself(canary, "slow challenger, live canary", on_argo["slow"], on_argo["good"])


def test_prometheus_unreachable_pauses_the_rollout_as_inconclusive(canary, on_argo):
    good = on_argo["good-2"]
    transition, started = canary.start("Prometheus down at the 10 % gate", good, shadow=False)
    pd.wait_rollout(SERVER, lambda s: s.get("currentStepIndex") == 1, "the first analysis gate", timeout=180)
    kubectl("scale", PROMETHEUS, "--replicas=0")
    try:
        wait_for(
            "Prometheus to be gone",
            lambda: (
                not kubectl(
                    "get", "pods", "-l", "app.kubernetes.io/component=prometheus", "-o", "name", check=False
                ).stdout.strip()
            ),
            timeout=60,
        )
        down_since = time.monotonic()
        status, paused_at = pd.wait_rollout(
            SERVER,
            lambda s: pd.paused_inconclusive(s) or pd.aborted(s) or pd.promoted(s),
            "the rollout to pause as inconclusive",
            timeout=PAUSE_WITHIN_S,
        )
        assert pd.paused_inconclusive(status) and not pd.aborted(status), pd._brief(status)
        said = pd.inconclusive_metrics(SERVER)
        assert any(m.startswith("prometheus-reachable") and '"reachable":false' in m.replace(" ", "") for m in said), (
            said
        )
        transition.notes.append(f"paused {paused_at - down_since:.0f}s into the outage: {said[:1]}")
        while time.monotonic() - paused_at < PAUSED_HOLD_S:  # a pause waits for a person: nothing moves
            status = pd.rollout(SERVER)["status"]
            assert pd.paused_inconclusive(status) and not pd.promoted(status) and not pd.aborted(status), pd._brief(
                status
            )
            assert pd.traefik_weights(SERVER)[f"{SERVER}-canary"] == 10
            time.sleep(2)
    finally:
        kubectl("scale", PROMETHEUS, "--replicas=1")
        kubectl("rollout", "status", PROMETHEUS, "--timeout=120s", timeout=130)
    assert pd.paused_inconclusive(pd.rollout(SERVER)["status"]), "Prometheus back: still paused until a person says"
    promotes = pd.resume_inconclusive(SERVER)  # the person, once Prometheus answers again
    transition.notes.append(f"resumed with {promotes} x `kubectl argo rollouts promote`")
    status = _verdict(canary, transition, started, timeout=420)
    canary.finish(transition, good, started)
    assert transition.outcome == "promoted", status.get("message")
    assert transition.failed == 0, canary.load.errors[transition.name]
