"""Penguins end to end on the embedded SQLite store: registration, champion logic both ways, promote, score."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.support.training import PENGUINS_FAST_CONFIG

from .conftest import Trainer, mlflow_store, one_line_error
from .registry_checks import PENGUIN_ROWS, aliases, check_penguins_predicts, check_penguins_version

LR = "penguins-logistic-regression"
WEAK_LR = json.dumps({"logistic_regression": {"C": [0.0001]}})  # heavily regularised: a poor classifier


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three runs into one embedded store: a weak LR, then all three fast, then the weak LR again."""
    trainer = Trainer(tmp_path_factory.mktemp("embedded"), None)
    lr_only = ("penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "logistic_regression")
    weak = trainer(*lr_only, "--grids", WEAK_LR)
    strong = trainer("penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "all")
    weak_again = trainer(*lr_only, "--grids", WEAK_LR)
    for result in (weak, strong, weak_again):
        assert result.returncode == 0, result.stderr
    with mlflow_store(trainer.store_uri):
        yield trainer, weak.models, strong.models, weak_again.models


def test_store_and_artifacts_are_project_local(trained):
    trainer, *_ = trained
    assert (trainer.workdir / ".mlkube" / "mlruns.db").is_file()
    assert any((trainer.workdir / ".mlkube" / "artifacts").rglob("MLmodel"))


def test_every_algorithm_registered_under_its_name(trained):
    _, _, strong, _ = trained
    assert {m.algorithm: m.name for m in strong} == {
        "logistic_regression": "penguins-logistic-regression",
        "random_forest": "penguins-random-forest",
        "svm": "penguins-svm",
    }
    client = MlflowClient()
    for model in strong:
        check_penguins_version(client, model)
        # The last run retrained only logistic regression, so its challenger moved on to version 3.
        assert aliases(client, model.name)["challenger"] == ("3" if model.name == LR else model.version)
        check_penguins_predicts(f"models:/{model.name}@champion")


def test_champion_moves_only_when_beaten(trained):
    _, weak, strong, weak_again = trained
    client = MlflowClient()
    (v1,), (v3,) = weak, weak_again
    v2 = next(m for m in strong if m.name == LR)
    assert (v1.version, v2.version, v3.version) == ("1", "2", "3")
    assert v1.promotion_decision == "first_champion"
    assert v2.metrics["test_f1_macro"] > v1.metrics["test_f1_macro"]
    assert v2.promotion_decision == "promoted"
    assert v3.promotion_decision == "kept_champion"
    assert aliases(client, LR) == {"champion": "2", "challenger": "3"}
    tags2 = client.get_model_version(LR, "2").tags
    assert float(tags2["promotion_champion_score"]) == v1.metrics["test_f1_macro"]
    assert tags2["promotion_previous_champion_version"] == "1"
    tags3 = client.get_model_version(LR, "3").tags
    assert float(tags3["promotion_champion_score"]) == v2.metrics["test_f1_macro"]
    assert float(tags3["promotion_challenger_score"]) == v3.metrics["test_f1_macro"]
    assert client.get_model_version(LR, "1").tags["promotion_champion_score"] == "none"


def test_model_loads_without_the_trainer_package(trained):
    """The feature code ships with the model (MLflow code_paths): a server without mlkube_train loads it."""
    trainer, _, strong, _ = trained
    svm = next(m for m in strong if m.algorithm == "svm")
    script = (
        "import sys; sys.path.append(%r)\n"
        "import importlib.util, mlflow, pandas as pd\n"
        "assert importlib.util.find_spec('mlkube_models') is None and "
        "importlib.util.find_spec('mlkube_train') is None\n"
        "mlflow.set_tracking_uri(%r)\n"
        "m = mlflow.sklearn.load_model('models:/%s/%s')\n"
        "print(list(m.predict(pd.read_json(sys.stdin, orient='records'))))\n"
    ) % (sysconfig.get_paths()["purelib"], trainer.store_uri, svm.name, svm.version)
    # -S: no site processing, so the editable installs' .pth files (mlkube_train, mlkube_models) stay out.
    result = subprocess.run(
        [sys.executable, "-S", "-c", script], input=PENGUIN_ROWS[:3].to_json(orient="records"),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "['Gentoo', 'Adelie', 'Chinstrap']"


def test_promote_moves_an_alias_explicitly(trained):
    trainer, *_ = trained
    client = MlflowClient()
    result = trainer("promote", "--name", LR, "--alias", "champion", "--version", "1")
    assert result.returncode == 0, result.stderr
    assert aliases(client, LR)["champion"] == "1"
    assert "champion" in client.get_model_version(LR, "1").tags["manually_set_aliases"]
    back = trainer("promote", "--name", LR, "--alias", "champion", "--from-alias", "challenger")
    assert back.returncode == 0, back.stderr
    assert aliases(client, LR)["champion"] == "3"
    restore = trainer("promote", "--name", LR, "--version", "2")
    assert restore.returncode == 0 and aliases(client, LR)["champion"] == "2"


def test_promote_unknown_version_or_model_exits_2(trained):
    trainer, *_ = trained
    missing_version = trainer("promote", "--name", LR, "--version", "99")
    assert missing_version.returncode == 2 and "99" in one_line_error(missing_version)
    missing_model = trainer("promote", "--name", "no-such-model", "--version", "1")
    assert missing_model.returncode == 2 and "no-such-model" in one_line_error(missing_model)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_writes_predictions_with_the_model_version(trained, tmp_path, suffix):
    trainer, *_ = trained
    rows = PENGUIN_ROWS.copy()
    rows.loc[2, "flipper_length_mm"] = 400.0  # far beyond anything in training
    source = tmp_path / f"in{suffix}"
    rows.to_parquet(source) if suffix == ".parquet" else rows.to_csv(source, index=False)
    output = tmp_path / f"out{suffix}"
    result = trainer("score", "--model-uri", f"models:/{LR}@champion", "--input", str(source), "--output", str(output))
    assert result.returncode == 0, result.stderr
    scored = pd.read_parquet(output) if suffix == ".parquet" else pd.read_csv(output, keep_default_na=False)
    assert len(scored) == 4
    assert list(scored["prediction"][:2]) == ["Gentoo", "Adelie"]
    assert set(scored["model_version"].astype(str)) == {aliases(MlflowClient(), LR)["champion"]}
    assert set(scored["model_name"]) == {LR}
    assert {"proba_Adelie", "proba_Chinstrap", "proba_Gentoo"} <= set(scored.columns)
    assert list(scored["out_of_range"]) == ["", "", "flipper_length_mm", ""]

    strict = trainer(
        "score", "--model-uri", f"models:/{LR}@champion", "--input", str(source), "--output", str(output),
        "--on-out-of-range", "error",
    )  # fmt: skip
    assert strict.returncode == 2
    assert "flipper_length_mm" in one_line_error(strict) and "400" in one_line_error(strict)


def test_score_with_unknown_alias_exits_2(trained, tmp_path):
    trainer, *_ = trained
    source = tmp_path / "in.csv"
    PENGUIN_ROWS.to_csv(source, index=False)
    result = trainer(
        "score", "--model-uri", f"models:/{LR}@nope", "--input", str(source), "--output", str(tmp_path / "o.csv")
    )
    assert result.returncode == 2 and "@nope" in one_line_error(result)


def test_with_the_rollout_trigger_a_better_version_only_becomes_challenger(tmp_path):
    """champion_by=rollout: @champion moves only after a judged rollout (the trigger), never by the trainer."""
    trainer = Trainer(tmp_path, None)
    lr_only = ("penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "logistic_regression",
               "--champion-by", "rollout")  # fmt: skip
    weak = trainer(*lr_only, "--grids", WEAK_LR)
    strong = trainer(*lr_only)
    weak_again = trainer(*lr_only, "--grids", WEAK_LR)
    for result in (weak, strong, weak_again):
        assert result.returncode == 0, result.stderr
    decisions = [r.models[0].promotion_decision for r in (weak, strong, weak_again)]
    assert decisions == ["first_champion", "challenger", "kept_champion"]
    with mlflow_store(trainer.store_uri):
        # The first version serves at once; the better one waits for its rollout; the worse one is not rolled out.
        assert aliases(MlflowClient(), LR) == {"champion": "1", "challenger": "2"}
