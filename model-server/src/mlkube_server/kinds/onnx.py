"""Neural networks exported to ONNX (MLflow's onnx flavor), run by ONNX Runtime: the server image's way to
serve the digits CNN without PyTorch. CPU everywhere; the CUDA provider where onnxruntime-gpu and a GPU are.

The file is handed to ONNX Runtime directly (``mlflow.onnx.load_model`` would also need the ``onnx``
package, ~15 MB, only to parse what the runtime parses anyway).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models import ImageModel, ImageSpec, ModelIdentity, softmax
from ..settings import ServerSettings
from .base import Artifact, class_names, image_spec, signature_image_shape

FLAVOR = "onnx"
ORT_MISSING = "ONNX Runtime is not installed in this server; install mlkube-server (it depends on onnxruntime)"
# Rows of a probability output sum to 1 within this; anything else is taken as logits.
PROBABILITY_SUM_TOLERANCE = 1e-4


class OnnxImageModel(ImageModel):
    def __init__(
        self, identity: ModelIdentity, session: Any, image: ImageSpec, classes: list[str], outputs_probabilities: bool
    ) -> None:
        super().__init__(identity, image, classes)
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name
        self.outputs_probabilities = outputs_probabilities
        self.device = "cuda" if session.get_providers()[0].startswith("CUDA") else "cpu"

    def run(self, batch: np.ndarray) -> np.ndarray:
        (output,) = self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(batch, np.float32)})
        return np.asarray(output)

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        output = self.run(batch)
        return output.astype(np.float64) if self.outputs_probabilities else softmax(output)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["providers"] = list(self.session.get_providers())
        meta["output"] = "probabilities" if self.outputs_probabilities else "logits"
        return meta


def session_options(ort: Any, settings: ServerSettings) -> Any:
    options = ort.SessionOptions()
    # The micro-batcher already gives each call a whole batch; intra-op threads that spin while idle would
    # take the core from the event loop (the latency tail), so they are few and do not spin.
    options.intra_op_num_threads = settings.onnx_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def providers(ort: Any) -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def build(artifact: Artifact, settings: ServerSettings) -> OnnxImageModel:
    try:
        import onnxruntime as ort
    except ImportError:
        raise artifact.fail(ORT_MISSING) from None
    data = artifact.flavor_conf(FLAVOR).get("data", "model.onnx")
    path = artifact.local / data
    if not path.is_file():
        raise artifact.fail(f"{artifact.resolved.uri} has no ONNX file {data}")
    try:
        session = ort.InferenceSession(str(path), session_options(ort, settings), providers=providers(ort))
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types for a bad graph
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise artifact.fail(f"ONNX Runtime could not load {artifact.resolved.uri} ({first})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or "float" not in inputs[0].type:
        described = ", ".join(f"{i.name}: {i.type} {i.shape}" for i in inputs)
        raise artifact.fail(f"the ONNX graph must take one float image tensor (N, C, H, W); it takes {described}")
    shape = signature_image_shape(artifact) or _sample_shape(inputs[0].shape)
    if shape is None:
        raise artifact.fail(
            f"cannot tell the image shape: no tensor signature and the graph's input is {inputs[0].shape}"
        )
    tags = artifact.resolved.tags
    image = image_spec(tags, shape)
    probe = _probe(session, inputs[0].name, outputs[0].name, shape)
    if probe.ndim != 2:
        raise artifact.fail(f"the ONNX graph's first output must be (N, classes); it gave shape {list(probe.shape)}")
    classes = class_names(tags) or [str(i) for i in range(probe.shape[1])]
    if len(classes) != probe.shape[1]:
        raise artifact.fail(f"{len(classes)} class names for {probe.shape[1]} outputs")
    return OnnxImageModel(artifact.identity(FLAVOR), session, image, classes, _are_probabilities(probe))


def _sample_shape(dims: list[Any]) -> tuple[int, ...] | None:
    sample = dims[1:]
    if len(sample) < 2 or not all(isinstance(d, int) and d > 0 for d in sample):
        return None
    return tuple(sample)


def _probe(session: Any, input_name: str, output_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Outputs for a few random images: checks the graph runs at all before the model is called ready."""
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 1, size=(4, *shape)).astype(np.float32)
    (output,) = session.run([output_name], {input_name: batch})
    return np.asarray(output)


def _are_probabilities(output: np.ndarray) -> bool:
    """A graph ending in softmax gives rows in [0, 1] summing to 1; logits (the digits export) almost never do,
    and softmax over probabilities would flatten them, so the served answer depends on telling them apart."""
    return bool(
        (output >= 0).all()
        and (output <= 1).all()
        and np.allclose(output.sum(axis=1), 1.0, atol=PROBABILITY_SUM_TOLERANCE)
    )
