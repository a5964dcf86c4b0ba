"""The registry contract is written twice, once per image (the trainer's registry.py, the server's model_tags.py):
the strings both sides read and write must be the same."""

from __future__ import annotations

from mlkube_server import model_tags as server
from mlkube_train import registry as trainer


def test_aliases_and_tags_are_spelled_alike_on_both_sides() -> None:
    assert (trainer.CHAMPION, trainer.CHALLENGER) == (server.ALIAS_CHAMPION, server.ALIAS_CHALLENGER)
    for name in ("TAG_FEATURE_RANGES", "TAG_FEATURE_CATEGORIES", "TAG_CLASS_SHARE", "TAG_ROLLOUT_OUTCOME",
                 "TAG_ROLLOUT_REASON"):  # fmt: skip
        assert getattr(trainer, name) == getattr(server, name), name
    assert trainer.TAG_CLASSES == server.CLASS_NAME_TAGS[0]
