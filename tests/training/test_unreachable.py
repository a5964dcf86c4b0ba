"""An unreachable tracking server: exit 3 after bounded retries, one line, no local fallback."""

from __future__ import annotations

import time

from tests.support.processes import free_port
from tests.support.training import PENGUINS_FAST_CONFIG

from .conftest import Trainer, one_line_error


def test_unreachable_mlflow_exits_3_after_bounded_retries(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    trainer = Trainer(tmp_path, url)
    started = time.monotonic()
    result = trainer(
        "penguins", "--config", str(PENGUINS_FAST_CONFIG), "--mlflow-retries", "2", "--mlflow-retry-backoff-s", "0.2",
        timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    line = one_line_error(result)
    assert url in line and "3 attempts" in line
    assert result.stderr.count("not reachable") == 2  # one warning per retry
    assert elapsed < 60
    assert not (tmp_path / ".mlkube").exists() and result.models == []


def test_promote_against_unreachable_mlflow_exits_3(tmp_path):
    trainer = Trainer(tmp_path, f"http://127.0.0.1:{free_port()}")
    result = trainer("promote", "--name", "penguins-svm", "--version", "1", "--mlflow-retries", "0", timeout=120)
    assert result.returncode == 3
    one_line_error(result)


def test_unreachable_pushgateway_only_warns(tmp_path):
    """Monitoring must never fail a training that succeeded."""
    trainer = Trainer(tmp_path, None)
    gateway = f"http://127.0.0.1:{free_port()}"
    result = trainer(
        "penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "logistic_regression",
        env={"MLKUBE_PUSHGATEWAY_URL": gateway},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"could not push metrics to Pushgateway {gateway}" in result.stderr
    assert [m.version for m in result.models] == ["1"]
