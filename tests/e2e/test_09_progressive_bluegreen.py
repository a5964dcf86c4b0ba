"""10. Progressive blue-green with Argo Rollouts: the preview colour is judged before any caller reaches it.

Under constant load through the Gateway, after the canary scenarios (test_08), the release moves to
`strategy: progressiveBlueGreen` with shadow copies on:
- a bad green (always one species): the active pods copy their requests to the preview, the pre-promotion
  analysis sees the answers disagree, and the switch never happens — no caller ever gets the bad version;
- a good green (a copy of the champion): agreement holds, the pre-promotion analysis passes, the Service switches
  to it by itself and the post-promotion analysis keeps it; 0 failed requests.
"""

from __future__ import annotations

import pytest

from . import progressive as pd
from .kube import CACHE
from .load import LoadGenerator
from .progressive_versions import MODEL
from .rollout import SERVER, upgrade

REPORT = CACHE / "e2e" / "progressive-bluegreen.txt"
INTERVAL_S, FAILURE_LIMIT = 5.0, 1


@pytest.fixture(scope="module")
def blue_green(gateway, progressive_versions):
    generator = LoadGenerator(f"{gateway}/predict", threads=2, max_seconds=1200)
    scenario = pd.Scenario(generator, MODEL, "progressiveBlueGreen")
    with generator:
        yield scenario
    pd.report(REPORT, "progressive blue-green", scenario, INTERVAL_S, FAILURE_LIMIT)


@pytest.fixture(scope="module")
def on_blue_green(blue_green, argo_rollouts, progressive_versions):
    """The Rollout switches strategy with the champion. Its stable pods were the canary's, which copy their
    requests to the canary Service: the first green is judged after the switch only (pre-promotion off), and
    its pods copy to the preview from then on."""
    champion = progressive_versions["champion"]
    blue_green.load.phase("to blue-green")
    upgrade(
        wait=False,
        **blue_green.values(champion, shadow=True, **{"progressive.blueGreen.prePromotionAnalysis": "false"}),
    )
    pd.wait_rollout(SERVER, pd.promoted, "the Rollout to be Healthy as blue-green", timeout=420)
    return progressive_versions


def _verdict(transition: pd.Transition, started: float) -> dict:
    status, done = pd.wait_rollout(
        SERVER, lambda s: pd.promoted(s) or pd.aborted(s), f"the verdict on '{transition.name}'", timeout=420
    )
    transition.outcome = "promoted" if pd.promoted(status) else "aborted"
    transition.decided_s = done - started
    if transition.outcome == "aborted":
        transition.notes.append(f"reason: {status.get('message', '')[:150]}")
    return status


def test_a_bad_green_is_never_switched_to(blue_green, on_blue_green):
    bad, champion = on_blue_green["bad"], on_blue_green["champion"]
    transition, started = blue_green.start("bad green (shadow judged)", bad, shadow=True)
    _verdict(transition, started)
    blue_green.finish(transition, bad, started)
    assert transition.outcome == "aborted"
    assert blue_green.live_answers(transition, bad) is None, "a caller got an answer from the bad green"
    blue_green.load.phase(f"back to {champion}")
    upgrade(wait=False, **blue_green.values(champion, shadow=True))
    pd.wait_rollout(SERVER, pd.promoted, "the Rollout to be Healthy on the champion again", timeout=180)


def test_a_good_green_is_switched_to_with_no_failed_request(blue_green, on_blue_green):
    good = on_blue_green["good-green"]
    transition, started = blue_green.start("good green (shadow judged)", good, shadow=True)
    status = _verdict(transition, started)
    blue_green.finish(transition, good, started)
    assert transition.outcome == "promoted", status.get("message")
    assert blue_green.live_answers(transition, good) is not None, "the good green never answered a caller"
    assert transition.failed == 0, blue_green.load.errors[transition.name]
