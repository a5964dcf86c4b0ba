"""Train the digits CNN on CPU or CUDA, log per-epoch metrics, register its ONNX export.

Model input: float32 tensor (N, 1, 8, 8) of raw ``load_digits`` intensities 0..16; output: (N, 10) logits.
The registered version is the ONNX graph (MLflow's onnx flavor), checked against PyTorch on the test set
(onnx_export.py); the eager PyTorch model is logged in the same run, its URI in the version's tags.
"""

from __future__ import annotations

import json
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from .. import model_tags, publish
from ..errors import ConfigError
from ..evaluation import classification_metrics, confusion_figure
from ..jobrun import tracked_run
from ..provenance import code_version, model_requirements, models_code_path
from ..results import ModelResult
from ..settings import Device, DigitsSettings
from ..tracking import ensure_experiment, transient_guard
from . import onnx_export

TRAINER = "digits"
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
    with publish.failures_reported(settings, TRAINER, [ALGORITHM]):
        return _train(settings, tracking_uri)


def _train(settings: DigitsSettings, tracking_uri: str) -> ModelResult:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from mlkube_models.digits_cnn import DigitsCNN

    torch = _torch()
    started = time.monotonic()
    device_name = check_device(settings)
    device = torch.device(device_name)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    torch.manual_seed(settings.seed)
    np.random.seed(settings.seed)
    x_train, x_test, y_train, y_test = load_digits_split(settings.test_size, settings.seed)
    data_sha256 = _sha256(x_train, y_train, x_test, y_test)
    print(f"digits data: train {len(x_train)}, test {len(x_test)}; device {device_name}", flush=True)

    experiment_id = transient_guard(
        "creating the experiment", lambda: ensure_experiment(settings.experiment, tracking_uri)
    )
    version_code = code_version()
    tags = {
        model_tags.TAG_TRAINER: TRAINER,
        model_tags.TAG_ALGORITHM: ALGORITHM,
        model_tags.TAG_CODE_VERSION: version_code,
        model_tags.TAG_DEVICE: device_name,
    }
    with tracked_run(experiment_id, "digits-cnn", tags) as run_id:
        mlflow.log_params(
            {
                "epochs": settings.epochs,
                "batch_size": settings.batch_size,
                "learning_rate": settings.learning_rate,
                "channels": settings.channels,
                "hidden": settings.hidden,
                "seed": settings.seed,
                "device": device_name,
                "torch_version": torch.__version__,
                "train_rows": len(x_train),
                "test_rows": len(x_test),
                "data_sha256": data_sha256,
            }
        )
        model = DigitsCNN(channels=settings.channels, hidden=settings.hidden).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
        loss_fn = torch.nn.CrossEntropyLoss()
        train_x, train_y = torch.from_numpy(x_train).to(device), torch.from_numpy(y_train).to(device)
        test_x, test_y = torch.from_numpy(x_test).to(device), torch.from_numpy(y_test).to(device)
        generator = torch.Generator().manual_seed(settings.seed)
        epoch_times = []
        for epoch in range(1, settings.epochs + 1):
            epoch_started = time.perf_counter()
            model.train()
            order = torch.randperm(len(train_x), generator=generator).to(device)
            total_loss, correct = 0.0, 0
            for start in range(0, len(order), settings.batch_size):
                batch = order[start : start + settings.batch_size]
                optimizer.zero_grad()
                logits = model(train_x[batch])
                loss = loss_fn(logits, train_y[batch])
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * len(batch)
                correct += int((logits.argmax(dim=1) == train_y[batch]).sum())
            model.eval()
            with torch.no_grad():
                test_logits = model(test_x)
                val_loss = float(loss_fn(test_logits, test_y))
                val_acc = float((test_logits.argmax(dim=1) == test_y).float().mean())
            if device_name == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - epoch_started
            epoch_times.append(seconds)
            epoch_metrics = {
                "train_loss": total_loss / len(train_x),
                "train_accuracy": correct / len(train_x),
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "epoch_seconds": seconds,
            }
            transient_guard("logging epoch metrics", partial(mlflow.log_metrics, epoch_metrics, step=epoch))
            print(
                f"epoch {epoch}/{settings.epochs} train_loss={epoch_metrics['train_loss']:.4f} "
                f"train_acc={epoch_metrics['train_accuracy']:.4f} val_loss={val_loss:.4f} val_acc={val_acc:.4f} "
                f"({seconds:.2f}s on {device_name})",
                flush=True,
            )
        model.eval()
        with torch.no_grad():
            predictions = model(test_x).argmax(dim=1).cpu().numpy()
        metrics = classification_metrics(y_test, predictions, LABELS)
        metrics["epoch_seconds_mean"] = float(np.mean(epoch_times))
        mlflow.log_metrics(metrics)
        mlflow.log_figure(confusion_figure(y_test, predictions, LABELS, "digits cnn"), "confusion_matrix.png")
        class_share = {str(k): round(float(v), 6) for k, v in zip(*np.unique(y_train, return_counts=True), strict=True)}
        total = sum(class_share.values())
        class_share = {k: round(v / total, 6) for k, v in class_share.items()}
        mlflow.log_dict({"training_class_share": class_share, "input_format": INPUT_FORMAT}, "training_profile.json")

        model = model.to("cpu").eval()  # the registered model loads anywhere
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1, 8, 8))]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 10))]),
        )
        eager = mlflow.pytorch.log_model(
            model,
            name="pytorch",
            signature=signature,
            input_example=x_test[:2],
            code_paths=[models_code_path()],
            pip_requirements=model_requirements("torch", "numpy"),
        )
        info, agreement = _log_onnx(model, x_test, signature, settings.onnx_tolerance)
        candidate = publish.Candidate(
            trainer=TRAINER,
            algorithm=ALGORITHM,
            model_name=REGISTERED_MODEL_NAME,
            description="Handwritten digits 0-9, small CNN on 8x8 images",
            model_uri=info.model_uri,
            run_id=run_id,
            metrics=metrics,
            code_version=version_code,
            data_sha256=data_sha256,
            class_share=class_share,
            tags={
                model_tags.TAG_INPUT_FORMAT: INPUT_FORMAT,
                model_tags.TAG_PYTORCH_MODEL_URI: eager.model_uri,
                model_tags.TAG_ONNX_MAX_ABS_DIFF: f"{agreement.max_abs_diff:.3e}",
                model_tags.TAG_CLASS_SHARE: json.dumps(class_share, sort_keys=True),
            },
        )
        registered = publish.register(candidate, settings, settings.promotion_metric)
    return publish.report(candidate, registered, settings, settings.promotion_metric, started)


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


def _sha256(*arrays: np.ndarray) -> str:
    import hashlib

    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
