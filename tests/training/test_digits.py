"""The digits CNN on CPU with the fast config (2 epochs), embedded store."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from tests.support.training import DIGITS_FAST_CONFIG

from .conftest import Trainer, mlflow_store
from .registry_checks import aliases


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    trainer = Trainer(tmp_path_factory.mktemp("digits"), None)
    first = trainer("digits", "--config", str(DIGITS_FAST_CONFIG))
    assert first.returncode == 0, first.stderr
    with mlflow_store(trainer.store_uri):
        yield trainer, first


def test_progress_line_and_metrics_per_epoch(digits_run):
    _, result = digits_run
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all("train_loss=" in line and "val_acc=" in line and "on cpu" in line for line in lines)
    (model,) = result.models
    client = MlflowClient()
    for metric in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds"):
        assert [m.step for m in client.get_metric_history(model.run_id, metric)] == [1, 2], metric
    losses = [m.value for m in client.get_metric_history(model.run_id, "train_loss")]
    assert losses[1] < losses[0], "two epochs of Adam must lower the training loss"
    run = client.get_run(model.run_id)
    assert run.data.params["device"] == "cpu"
    assert run.data.metrics["test_accuracy"] > 0.3  # 2 small epochs; chance is 0.1
    epochs = [m.value for m in client.get_metric_history(model.run_id, "epoch_seconds")]
    assert run.data.metrics["first_epoch_seconds"] == pytest.approx(epochs[0])
    assert run.data.metrics["steady_epoch_seconds_mean"] == pytest.approx(epochs[1])
    assert "confusion_matrix.png" in {a.path for a in client.list_artifacts(model.run_id)}


def test_registered_as_onnx_that_agrees_with_the_logged_pytorch_model(digits_run):
    _, result = digits_run
    (model,) = result.models
    assert (model.name, model.version, model.promotion_decision) == ("digits-cnn", "1", "first_champion")
    info = mlflow.models.get_model_info("models:/digits-cnn@champion")
    assert "onnx" in info.flavors and "pytorch" not in info.flavors
    (spec,) = info.signature.inputs.inputs
    assert spec.shape == (-1, 1, 8, 8) and spec.type == np.dtype(np.float32)
    assert "onnx export: max |p_onnx - p_torch|" in result.stdout
    run = MlflowClient().get_run(model.run_id)
    assert run.data.metrics["onnx_label_agreement"] == 1.0
    assert run.data.metrics["onnx_max_abs_diff"] <= 1e-4

    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32).reshape(-1, 1, 8, 8)[:200]
    (onnx_logits,) = mlflow.pyfunc.load_model("models:/digits-cnn@champion").predict(images).values()
    tags = MlflowClient().get_model_version("digits-cnn", model.version).tags
    # the eager network, logged in the same run; on the CPU also where a GPU is visible (pyfunc would pick CUDA)
    eager = mlflow.pyfunc.load_model(tags["pytorch_model_uri"], model_config={"device": "cpu"})
    torch_logits = np.asarray(eager.predict(images))
    assert onnx_logits.shape == torch_logits.shape == (200, 10)
    assert (onnx_logits.argmax(axis=1) == torch_logits.argmax(axis=1)).all()
    assert np.abs(onnx_logits - torch_logits).max() < 1e-3
    assert (onnx_logits.argmax(axis=1) == digits.target[:200]).mean() > 0.3


def test_an_export_that_disagrees_with_pytorch_is_never_registered(tmp_path):
    """The check itself: a tolerance no float32 graph meets fails the run before anything is registered."""
    trainer = Trainer(tmp_path, None)
    result = trainer("digits", "--config", str(DIGITS_FAST_CONFIG), "--onnx-tolerance", "1e-30")
    assert result.returncode != 0
    assert "the ONNX export disagrees with PyTorch" in result.stderr + result.stdout
    with mlflow_store(trainer.store_uri):
        assert MlflowClient().search_model_versions("name='digits-cnn'") == []


def test_retrain_same_seed_keeps_champion(digits_run):
    trainer, first = digits_run
    again = trainer("digits", "--config", str(DIGITS_FAST_CONFIG))
    assert again.returncode == 0, again.stderr
    (model,) = again.models
    assert model.version == "2"
    # Same seed, same data: the same score, which does not beat the champion.
    assert model.metrics["test_accuracy"] == first.models[0].metrics["test_accuracy"]
    assert model.promotion_decision == "kept_champion"
    assert aliases(MlflowClient(), "digits-cnn") == {"champion": "1", "challenger": "2"}


def test_epoch_timings_keep_the_first_epoch_apart():
    from mlkube_train.digits.train import epoch_timings

    assert epoch_timings([1.65, 0.06, 0.08]) == pytest.approx(
        {"epoch_seconds_mean": 0.5967, "first_epoch_seconds": 1.65, "steady_epoch_seconds_mean": 0.07}, abs=1e-4
    )
    assert epoch_timings([0.5]) == {
        "epoch_seconds_mean": 0.5,
        "first_epoch_seconds": 0.5,
        "steady_epoch_seconds_mean": 0.5,
    }
