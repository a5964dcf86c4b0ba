"""Final metrics reach a real Prometheus Pushgateway under the names of metric_names.py."""

from __future__ import annotations

import re

from mlkube_train import metric_names as m
from tests.support.training import PENGUINS_FAST_CONFIG

from .conftest import Trainer, one_line_error

GROUP = 'algorithm="logistic_regression",instance="",job="mlkube-training/penguins"'


def _series(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_success_then_failure_pushed_to_the_gateway(pushgateway, tmp_path):
    trainer = Trainer(tmp_path, None)
    env = {"MLKUBE_PUSHGATEWAY_URL": pushgateway.url}
    ok = trainer("penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "logistic_regression", env=env)
    assert ok.returncode == 0, ok.stderr
    (model,) = ok.models
    text = pushgateway.metrics_text()
    labels = f'model="{model.name}",version="{model.version}"'
    (success,) = _series(text, m.LAST_SUCCESS_TIMESTAMP)
    assert GROUP in success and labels in success
    finals = {
        re.search(r'metric="([^"]+)"', line)[1]: float(line.rsplit(" ", 1)[1]) for line in _series(text, m.FINAL_METRIC)
    }
    assert finals["test_f1_macro"] == model.metrics["test_f1_macro"]
    assert _series(text, m.PROMOTED)[0].endswith(" 1")
    shares = _series(text, m.TRAINING_CLASS_SHARE)
    assert sorted(re.search(r'class="([^"]+)"', line)[1] for line in shares) == ["Adelie", "Chinstrap", "Gentoo"]
    assert _series(text, m.DURATION_SECONDS)
    assert not _series(text, m.LAST_FAILURE_TIMESTAMP)

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\nAdelie,Mars,1,2,3,4,male\n"
    )
    failed = trainer(
        "penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "logistic_regression", "--data-path", str(bad),
        env=env,
    )  # fmt: skip
    assert failed.returncode == 2
    one_line_error(failed)
    after = pushgateway.metrics_text()
    (failure,) = _series(after, m.LAST_FAILURE_TIMESTAMP)
    assert GROUP in failure
    assert _series(after, m.LAST_SUCCESS_TIMESTAMP) == [success], "a failure keeps the last success visible"
