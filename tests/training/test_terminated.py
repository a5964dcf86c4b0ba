"""A training Job's pod deleted mid-run (SIGTERM from the kubelet): the run ends FAILED, the failure reaches the
Pushgateway (the training alerts), no model version is registered, and the exit code tells the Job why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from mlflow import MlflowClient

from mlkube_train import metric_names as m
from mlkube_train.model_tags import RUN_TAG_FAILURE
from tests.support.training import DIGITS_FAST_CONFIG

from .conftest import mlflow_store

EPOCHS = 500  # far more than the test waits for: the signal lands while it trains


def test_sigterm_mid_training_fails_the_run_pushes_the_failure_and_registers_nothing(pushgateway, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLKUBE_TRAIN_"))}
    env["MLKUBE_PUSHGATEWAY_URL"] = pushgateway.url
    trainer = subprocess.Popen(
        [sys.executable, "-m", "mlkube_train", "digits", "--config", str(DIGITS_FAST_CONFIG), "--epochs", str(EPOCHS)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert trainer.stdout is not None
        deadline = time.monotonic() + 300
        for line in trainer.stdout:  # bounded by the deadline check and by the trainer's own end
            if line.startswith(f"epoch 2/{EPOCHS}") or time.monotonic() > deadline:
                break
        assert line.startswith(f"epoch 2/{EPOCHS}"), line
        trainer.send_signal(signal.SIGTERM)
        _, stderr = trainer.communicate(timeout=60)
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()

    assert trainer.returncode == 143, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("mlkube-train digits: terminated by SIGTERM"), stderr
    assert "Traceback" not in stderr

    failures = [line for line in pushgateway.metrics_text().splitlines() if line.startswith(m.LAST_FAILURE_TIMESTAMP)]
    assert failures and 'job="mlkube-training/digits"' in failures[0], failures

    with mlflow_store(f"sqlite:///{tmp_path / '.mlkube' / 'mlruns.db'}"):
        client = MlflowClient()
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert [r.info.status for r in runs] == ["FAILED"]
        assert runs[0].data.tags[RUN_TAG_FAILURE] == "terminated by SIGTERM"
        assert [v.version for v in client.search_model_versions()] == []
