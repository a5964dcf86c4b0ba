"""training-job chart: who moves @champion is a validated value the trainer receives."""

from __future__ import annotations

import pytest
from chart_helpers import RELEASE, Scenario, find, render, run, tool


def _env(*sets: str) -> dict[str, str]:
    objects = render(Scenario("training-job", (), sets))
    (job, *_) = find(objects, "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_the_trainer_moves_champion_by_default():
    assert _env()["MLKUBE_TRAIN_CHAMPION_BY"] == "trainer"


def test_with_the_rollout_trigger_the_trainer_only_sets_challenger():
    assert _env("championBy=rollout")["MLKUBE_TRAIN_CHAMPION_BY"] == "rollout"


@pytest.mark.parametrize("value", ["argo", "Trainer", ""])
def test_any_other_value_is_refused_by_the_schema(value):
    result = run(
        [tool("helm"), "template", RELEASE, *Scenario("training-job", (), (f"championBy={value}",)).helm_args()],
        check=False,
    )
    assert result.returncode != 0 and "championBy" in result.stderr, result.stderr
