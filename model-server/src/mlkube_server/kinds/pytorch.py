"""PyTorch image classifiers, eager (MLflow's pytorch flavor), on CPU or CUDA. Optional: the server image
serves networks through ONNX (kinds/onnx.py) and carries no PyTorch; install mlkube-server[torch] for this."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models import ImageModel, ImageSpec, ModelIdentity
from ..settings import ServerSettings
from .base import Artifact, class_names, image_spec, signature_image_shape

FLAVOR = "pytorch"
TORCH_MISSING = (
    "PyTorch is not installed in this server; serve the network's ONNX export, or install "
    "mlkube-server[torch] (image: build with --build-arg WITH_TORCH=1)"
)


class TorchImageModel(ImageModel):
    def __init__(self, identity: ModelIdentity, module: Any, image: ImageSpec, classes: list[str]) -> None:
        super().__init__(identity, image, classes)
        import torch

        self._torch = torch
        if not isinstance(module, torch.nn.Module) and callable(getattr(module, "module", None)):
            module = module.module()  # a torch.export ExportedProgram (MLflow's "pt2" format)
        try:
            module = module.eval()
        except NotImplementedError:
            pass  # a module unlifted from torch.export: already in inference form, eval() is refused
        if torch.cuda.is_available():
            try:
                module = module.to("cuda")
                self.device = "cuda"
            except (RuntimeError, NotImplementedError):
                pass  # an exported program pinned to the CPU: serve it there
        self.module = module

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            tensor = torch.as_tensor(batch, dtype=torch.float32, device=self.device)
            output = self.module(tensor)
            return torch.softmax(output, dim=1).cpu().numpy().astype(np.float64)


def build(artifact: Artifact, settings: ServerSettings) -> TorchImageModel:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise artifact.fail(TORCH_MISSING) from None
    import mlflow.pytorch

    try:
        module = mlflow.pytorch.load_model(str(artifact.local), map_location="cpu")
    except Exception as exc:  # noqa: BLE001
        raise artifact.fail(f"PyTorch could not load {artifact.resolved.uri} ({exc})") from None
    shape = signature_image_shape(artifact) or (1, 8, 8)
    tags = artifact.resolved.tags
    classes = class_names(tags) or [str(i) for i in range(10)]
    return TorchImageModel(artifact.identity(FLAVOR), module, image_spec(tags, shape), classes)
