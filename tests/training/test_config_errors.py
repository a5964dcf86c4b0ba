"""Configuration errors exit 2 with one line naming the key and the value, before anything is trained."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from tests.support.training import DIGITS_FAST_CONFIG, PENGUINS_FAST_CONFIG

from .conftest import one_line_error


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--cv-folds", "1"], {}, ["cv_folds", '"1"']),
        (["--test-size", "0.9"], {}, ["test_size", '"0.9"']),
        (["--model", "xgboost"], {}, ["model", '"xgboost"']),
        ([], {"MLKUBE_TRAIN_SEED": "abc"}, ["seed", '"abc"']),
        (["--grids", '{"svm": {"Cx": [1]}}'], {}, ["grids.svm.Cx", "[1]"]),
        (["--grids", "{not json"], {}, ["grids", "{not json"]),
        # a key that is not one: named, never shown
        (
            [],
            {"MLKUBE_TRAIN_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nsecret\n"},
            ["signing_key", "(hidden)", "not a PEM private key"],
        ),
    ],
    ids=["flag-range", "flag-bound", "unknown-algorithm", "env-type", "grid-param", "flag-json", "signing-key"],
)
def test_bad_setting_exits_2_naming_key_and_value(tmp_path, monkeypatch, capsys, args, env, expected):
    # In-process (the console script is `raise SystemExit(main())`): these fail before any MLflow access.
    from mlkube_train.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(["penguins", "--config", str(PENGUINS_FAST_CONFIG), *args])
    assert code == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith("mlkube-train")]
    for fragment in expected:
        assert fragment in line, line
    assert not (tmp_path / ".mlkube").exists(), "config errors must fail before touching MLflow"


def test_unknown_config_key_exits_2(embedded_trainer, tmp_path):
    config = tmp_path / "typo.yaml"
    config.write_text(PENGUINS_FAST_CONFIG.read_text() + "\nepochz: 3\n")
    result = embedded_trainer("penguins", "--config", str(config))
    assert result.returncode == 2
    line = one_line_error(result)
    assert "'epochz'" in line and "3" in line


def test_missing_config_file_and_bad_yaml_exit_2(embedded_trainer, tmp_path):
    missing = embedded_trainer("penguins", "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml" in one_line_error(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("grids: [unclosed\n")
    result = embedded_trainer("penguins", "--config", str(broken))
    assert result.returncode == 2 and "not valid YAML" in one_line_error(result)


def test_usage_error_exits_2(embedded_trainer):
    result = embedded_trainer("penguins", "--no-such-flag")
    assert result.returncode == 2


def test_env_beats_file_and_flag_beats_env(embedded_trainer, tmp_path):
    env = {"MLKUBE_TRAIN_CV_FOLDS": "1"}  # the file says 3
    from_env = embedded_trainer("penguins", "--config", str(PENGUINS_FAST_CONFIG), env=env)
    assert from_env.returncode == 2 and 'cv_folds = "1"' in one_line_error(from_env)
    # The flag's valid value wins over the env; the next problem (a missing data file) is what fails.
    from_flag = embedded_trainer(
        "penguins", "--config", str(PENGUINS_FAST_CONFIG), "--cv-folds", "4", "--data-path", str(tmp_path / "no.csv"),
        env=env,
    )  # fmt: skip
    assert from_flag.returncode == 2
    line = one_line_error(from_flag)
    assert "no.csv" in line and "cv_folds" not in line


def test_cuda_asked_but_absent_exits_2(embedded_trainer):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU; the error path needs one without")
    result = embedded_trainer("digits", "--config", str(DIGITS_FAST_CONFIG), "--device", "cuda")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "device" in line and '"cuda"' in line
    assert not (embedded_trainer.workdir / ".mlkube").exists()


def test_out_of_range_data_fails_the_run_and_registers_nothing(embedded_trainer, tmp_path):
    from palmerpenguins import load_penguins

    data = load_penguins()
    data.loc[5, "body_mass_g"] = -40.0
    path = tmp_path / "penguins.csv"
    data.to_csv(path, index=False)
    result = embedded_trainer(
        "penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "logistic_regression", "--data-path", str(path)
    )
    assert result.returncode == 2
    line = one_line_error(result)
    assert "body_mass_g" in line and "-40" in line
    assert result.models == []


def test_grid_value_rejected_by_the_classifier_fails_the_run_and_registers_nothing(embedded_trainer):
    # The parameter exists, so only fitting finds the bad value: the run starts, fails, and nothing is registered.
    result = embedded_trainer(
        "penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "svm",
        "--grids", json.dumps({"svm": {"kernel": ["no-such-kernel"]}}),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "grids.svm" in one_line_error(result)
    client = MlflowClient(embedded_trainer.store_uri, registry_uri=embedded_trainer.store_uri)
    runs = client.search_runs([client.get_experiment_by_name("penguins").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "kernel" in runs[0].data.tags["mlkube.failure"]
    assert client.search_registered_models() == []
