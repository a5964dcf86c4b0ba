"""Export the trained digits network to ONNX and prove ONNX Runtime answers as PyTorch does.

The server serves networks through ONNX Runtime (no PyTorch in its image), so the registered version is
the ONNX graph; this check is what makes that safe: on the whole test set the two must agree on every
predicted digit and their probabilities may differ by at most ``tolerance``. A graph that disagrees is a
failed training run, not a model version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ExitCode, TrainError

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
OPSET = 18


class OnnxMismatch(TrainError):
    """ONNX Runtime's answers differ from PyTorch's beyond the tolerance."""

    exit_code = ExitCode.CONFIG  # the same seed and data export the same graph: retrying cannot help


@dataclass(frozen=True)
class Agreement:
    max_abs_diff: float  # largest |p_onnx - p_torch| over every probability of the test set
    label_agreement: float  # share of test images both predict the same digit for
    rows: int


def export(model, example: np.ndarray, path: Path) -> Path:
    """The eval-mode CPU network -> an ONNX file with a dynamic batch dimension."""
    import torch

    # The exporter and its optimiser log every pass (and warn that torchvision's ops are not registered:
    # this network uses none); the one line that matters is printed by the trainer.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    for noisy in ("onnxscript", "onnx_ir"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    batch = torch.export.Dim("batch", min=1, max=65536)
    torch.onnx.export(
        model.eval(),
        (torch.from_numpy(example),),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: batch},),
        opset_version=OPSET,
        dynamo=True,
        verbose=False,
    )
    return path


def compare(model, path: Path, images: np.ndarray) -> Agreement:
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: images.astype(np.float32)})
    with torch.inference_mode():
        torch_logits = model.eval()(torch.from_numpy(images)).numpy()
    p_onnx, p_torch = _softmax(onnx_logits), _softmax(torch_logits)
    return Agreement(
        max_abs_diff=float(np.abs(p_onnx - p_torch).max()),
        label_agreement=float((p_onnx.argmax(axis=1) == p_torch.argmax(axis=1)).mean()),
        rows=len(images),
    )


def check(agreement: Agreement, tolerance: float) -> None:
    if agreement.label_agreement < 1.0 or agreement.max_abs_diff > tolerance:
        raise OnnxMismatch(
            f"the ONNX export disagrees with PyTorch on the test set: max |probability difference| "
            f"{agreement.max_abs_diff:.2e} (tolerance {tolerance:.0e}), same digit on "
            f"{agreement.label_agreement:.2%} of {agreement.rows} images; the version is not registered"
        )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
