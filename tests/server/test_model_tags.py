"""The registry contract (aliases and model-version tag names) is one module, shipped in both images: the
trainers' copy and the server's must be the same file, byte for byte."""

from __future__ import annotations

from pathlib import Path

import mlkube_server.model_tags
import mlkube_train.model_tags


def test_the_trainer_and_the_server_ship_the_same_model_tags_module() -> None:
    trainer = Path(mlkube_train.model_tags.__file__).read_bytes()
    server = Path(mlkube_server.model_tags.__file__).read_bytes()
    assert trainer == server, (
        "training-jobs/src/mlkube_train/model_tags.py and model-server/src/mlkube_server/model_tags.py differ: "
        "edit one and copy it over the other"
    )


def test_no_two_names_of_the_contract_share_a_string_by_accident() -> None:
    names = {k: v for k, v in vars(mlkube_server.model_tags).items() if k.startswith(("TAG_", "RUN_TAG_", "ALIAS_"))}
    spelled = list(names.values())
    assert len(spelled) == len(set(spelled)), names
