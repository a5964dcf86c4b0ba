"""Train the digits CNN on CPU or CUDA, log per-epoch metrics, register its ONNX export.

Model input: float32 tensor (N, 1, 8, 8) of raw ``load_digits`` intensities 0..16; output: (N, 10) logits.
The registered version is the ONNX graph (MLflow's onnx flavor), checked against PyTorch on the test set
(onnx_export.py); the eager PyTorch model is logged in the same run, its URI in the version's tags.
"""

from __future__ import annotations

import os
import tempfile
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from .. import model_tags
from ..errors import ConfigError
from ..provenance import model_requirements, models_code_path
from ..results import ModelResult
from ..settings import Device, DigitsSettings
from ..tracking import transient_guard
from ..trainer import Evaluation, LoggedModel, ModelSpec, PreparedData, Trainer
from . import onnx_export
from .epochs import EpochPlan, train_epochs

ALGORITHM = "cnn"
REGISTERED_MODEL_NAME = "digits-cnn"
LABELS = tuple(range(10))
INPUT_FORMAT = "float32 tensor (N, 1, 8, 8), raw load_digits intensities 0..16; output (N, 10) logits"


def _torch():
    try:
        import torch
    except ImportError:
        raise ConfigError(
            "the digits trainer needs PyTorch: install the extra `pip install 'mlkube-train[torch]'` "
            "or build the image with --build-arg WITH_TORCH=true"
        ) from None
    return torch


def check_device(settings: DigitsSettings) -> str:
    """The torch device to use; ConfigError when CUDA is asked for but absent."""
    torch = _torch()
    available = torch.cuda.is_available()
    if settings.device is Device.cuda and not available:
        raise ConfigError(
            'invalid setting device = "cuda": no CUDA GPU is visible to PyTorch '
            f"(torch {torch.__version__}, torch.cuda.is_available() is False); use --device cpu or auto"
        )
    if settings.device is Device.cpu or not available:
        return "cpu"
    return "cuda"


def load_digits_split(test_size: float, seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(
        images, digits.target.astype(np.int64), test_size=test_size, random_state=seed, stratify=digits.target
    )


def train_digits(settings: DigitsSettings, tracking_uri: str) -> ModelResult:
    [result] = DigitsTrainer(settings, tracking_uri).run()
    return result


class DigitsTrainer(Trainer[DigitsSettings]):
    name = "digits"
    device_name: str
    split: tuple[np.ndarray, ...]  # x_train, x_test, y_train, y_test
    data: PreparedData
    epoch_times: list[float]

    def models(self) -> list[ModelSpec]:
        return [ModelSpec(ALGORITHM, REGISTERED_MODEL_NAME, "Handwritten digits 0-9, small CNN on 8x8 images")]

    def prepare(self) -> PreparedData:
        settings, torch = self.settings, _torch()
        self.device_name = check_device(settings)
        if settings.num_threads:
            torch.set_num_threads(settings.num_threads)
        torch.manual_seed(settings.seed)
        np.random.seed(settings.seed)
        self.split = x_train, x_test, y_train, _ = load_digits_split(settings.test_size, settings.seed)
        print(f"digits data: train {len(x_train)}, test {len(x_test)}; device {self.device_name}", flush=True)
        labels, counts = np.unique(y_train, return_counts=True)
        share = {str(label): round(float(count / counts.sum()), 6) for label, count in zip(labels, counts, strict=True)}
        self.data = PreparedData(_sha256(*self.split), share)
        return self.data

    def run_tags(self) -> dict[str, str]:
        return {model_tags.TAG_DEVICE: self.device_name}

    def params(self, spec: ModelSpec) -> dict[str, Any]:
        settings, (x_train, x_test, _, _) = self.settings, self.split
        return {
            "epochs": settings.epochs,
            "batch_size": settings.batch_size,
            "learning_rate": settings.learning_rate,
            "channels": settings.channels,
            "hidden": settings.hidden,
            "seed": settings.seed,
            "device": self.device_name,
            "torch_version": _torch().__version__,
            "train_rows": len(x_train),
            "test_rows": len(x_test),
            "data_sha256": self.data.sha256,
        }

    def fit(self, spec: ModelSpec) -> Any:
        import mlflow

        from mlkube_models.digits_cnn import DigitsCNN

        settings, device = self.settings, _torch().device(self.device_name)
        model = DigitsCNN(channels=settings.channels, hidden=settings.hidden).to(device)
        plan = EpochPlan(settings.epochs, settings.batch_size, settings.learning_rate, settings.seed)

        def log_epoch(metrics: dict, epoch: int) -> None:
            transient_guard("logging epoch metrics", partial(mlflow.log_metrics, metrics, step=epoch))

        self.epoch_times = train_epochs(model, self.split, device, plan, log_epoch)
        return model

    def evaluate(self, spec: ModelSpec, model: Any) -> Evaluation:
        torch = _torch()
        _, x_test, _, y_test = self.split
        model.eval()
        with torch.no_grad():
            test_x = torch.from_numpy(x_test).to(torch.device(self.device_name))
            predictions = model(test_x).argmax(dim=1).cpu().numpy()
        return Evaluation(y_test, predictions, LABELS, epoch_timings(self.epoch_times))

    def log_model(self, spec: ModelSpec, model: Any, metrics: dict[str, float]) -> LoggedModel:
        import mlflow
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        x_test = self.split[1]
        profile = {"training_class_share": self.data.class_share, "input_format": INPUT_FORMAT}
        mlflow.log_dict(profile, "training_profile.json")
        model = model.to("cpu").eval()  # the registered model loads anywhere
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1, 8, 8))]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 10))]),
        )
        # MLflow checks the input example by loading the logged model through pyfunc, which picks CUDA wherever it
        # is visible, and a torch.export'ed (pt2) model saved from CPU weights refuses to load there: measured on a
        # GPU machine, every GPU Job logged "can't be loaded on 'cuda' device". The model is saved on the CPU and
        # served on the CPU (the server's pytorch kind maps it there), so check it there.
        with mock.patch.dict(os.environ, {"MLFLOW_DEFAULT_PREDICTION_DEVICE": "cpu"}):
            eager = mlflow.pytorch.log_model(
                model,
                name="pytorch",
                signature=signature,
                input_example=x_test[:2],
                code_paths=[models_code_path()],
                pip_requirements=model_requirements("torch", "numpy"),
            )
        info, agreement = _log_onnx(model, x_test, signature, self.settings.onnx_tolerance)
        tags = {
            model_tags.TAG_INPUT_FORMAT: INPUT_FORMAT,
            model_tags.TAG_PYTORCH_MODEL_URI: eager.model_uri,
            model_tags.TAG_ONNX_MAX_ABS_DIFF: f"{agreement.max_abs_diff:.3e}",
        }
        return LoggedModel(info.model_uri, tags)


def _log_onnx(model, x_test: np.ndarray, signature, tolerance: float):
    """Export, check against PyTorch on the test set (raises before anything is registered), log the graph."""
    import mlflow
    import onnx

    with tempfile.TemporaryDirectory(prefix="digits-onnx-") as tmp:
        path = onnx_export.export(model, x_test[:2], Path(tmp) / "digits.onnx")
        agreement = onnx_export.compare(model, path, x_test)
        mlflow.log_metrics(
            {"onnx_max_abs_diff": agreement.max_abs_diff, "onnx_label_agreement": agreement.label_agreement}
        )
        print(
            f"onnx export: max |p_onnx - p_torch| {agreement.max_abs_diff:.2e} on {agreement.rows} test images "
            f"(tolerance {tolerance:.0e}), same digit on {agreement.label_agreement:.2%}",
            flush=True,
        )
        onnx_export.check(agreement, tolerance)
        info = mlflow.onnx.log_model(
            onnx.load(str(path)),
            name="model",
            signature=signature,
            input_example=x_test[:2],
            pip_requirements=model_requirements("onnx", "onnxruntime", "numpy"),
            save_as_external_data=False,
        )
    return info, agreement


def epoch_timings(seconds: list[float]) -> dict[str, float]:
    """The first epoch apart: on a GPU it carries CUDA's start-up (1.65 s against 0.06 s for each later epoch,
    measured on an H200), so a mean over all epochs made the GPU look slower than 16 CPU cores."""
    steady = seconds[1:] or seconds
    return {
        "epoch_seconds_mean": float(np.mean(seconds)),
        "first_epoch_seconds": float(seconds[0]),
        "steady_epoch_seconds_mean": float(np.mean(steady)),
    }


def _sha256(*arrays: np.ndarray) -> str:
    import hashlib

    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
