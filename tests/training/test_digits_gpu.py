"""The digits CNN trained on a CUDA GPU, as the GPU training Job runs it (embedded store, fast config).

Runs only where PyTorch sees a CUDA GPU (CI has none): `training-jobs/scripts/gpu-check.sh` and this file were run
on a lent H200. It guards what the first GPU run found: MLflow's check of the logged PyTorch model loaded it on CUDA
and failed on every GPU Job, since the model is saved from CPU weights.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from tests.support.training import DIGITS_FAST_CONFIG

from .conftest import Trainer, mlflow_store

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU visible to PyTorch")


def test_a_cuda_run_registers_a_model_that_loads_and_agrees_with_its_onnx_export(tmp_path):
    trainer = Trainer(tmp_path, None)
    result = trainer("digits", "--config", str(DIGITS_FAST_CONFIG), "--device", "cuda")
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "can't be loaded on 'cuda' device" not in output
    assert "Failed to validate serving input example" not in output
    assert all("on cuda" in line for line in result.stdout.splitlines() if line.startswith("epoch "))
    (model,) = result.models
    with mlflow_store(trainer.store_uri):
        client = MlflowClient()
        run = client.get_run(model.run_id)
        assert run.data.params["device"] == "cuda"
        assert {"first_epoch_seconds", "steady_epoch_seconds_mean"} <= set(run.data.metrics)
        eager_uri = client.get_model_version("digits-cnn", model.version).tags["pytorch_model_uri"]
        images = np.random.default_rng(0).uniform(0, 16, (32, 1, 8, 8)).astype(np.float32)
        (onnx_logits,) = mlflow.pyfunc.load_model(f"models:/digits-cnn/{model.version}").predict(images).values()
        # on a GPU machine MLflow's pyfunc would load the eager model on CUDA: ask for the CPU, as the README says
        eager = mlflow.pyfunc.load_model(eager_uri, model_config={"device": "cpu"})
        torch_logits = np.asarray(eager.predict(images))
    assert np.abs(onnx_logits - torch_logits).max() < 1e-3
    assert (onnx_logits.argmax(axis=1) == torch_logits.argmax(axis=1)).all()
