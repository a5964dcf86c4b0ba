"""The KServe peer for the digits CNN: the KServe Python SDK's ModelServer hosting the MLflow ONNX model's
graph in ONNX Runtime, as a KServe custom model class would (KServe itself hands ONNX to Triton, which is no
Python package). The graph's output (logits, FP32 [n, 10]) is the answer, as MLServer's MLflow runtime gives.
Runs inside the KServe virtualenv: python kserve_onnx.py --http-port P --model NAME=MLFLOW_MODEL_DIR [--model ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
import yaml
from kserve import Model, ModelServer
from kserve.utils.utils import get_predict_input, get_predict_response


class OnnxModel(Model):
    def __init__(self, name: str, model_dir: Path) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self._session = None

    def load(self) -> bool:
        mlmodel = yaml.safe_load((self.model_dir / "MLmodel").read_text())
        graph = self.model_dir / mlmodel["flavors"]["onnx"].get("data", "model.onnx")
        # ONNX Runtime's defaults, as MLflow's onnx pyfunc (MLServer's runtime) creates its session.
        self._session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        batch = np.asarray(get_predict_input(payload), dtype=np.float32)
        (logits,) = self._session.run(None, {self._input: batch})
        return get_predict_response(payload, logits, self.name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=MLFLOW_MODEL_DIR")
    args = parser.parse_args()
    models = []
    for spec in args.model:
        name, directory = spec.split("=", 1)
        model = OnnxModel(name, Path(directory))
        model.load()
        models.append(model)
    ModelServer(http_port=args.http_port, workers=1, enable_grpc=False).start(models)


if __name__ == "__main__":
    main()
