"""The KServe peer: the KServe Python SDK's ModelServer hosting scikit-learn models the way KServe's
sklearnserver does (joblib load, ``predict_proba`` as with PREDICT_PROBA=true, synchronous predict).
KServe does not publish its sklearnserver on PyPI, so this mirrors its model class on the released SDK.
Runs inside its own virtualenv: python kserve_sklearn.py --http-port P --model NAME=DIR [--model ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import joblib
from kserve import Model, ModelServer
from kserve.utils.utils import get_predict_input, get_predict_response


class SKLearnModel(Model):
    def __init__(self, name: str, model_dir: Path) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self._model = None

    def load(self) -> bool:
        self._model = joblib.load(self.model_dir / "model.joblib")
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        instances = get_predict_input(payload)
        result = self._model.predict_proba(instances)
        return get_predict_response(payload, result, self.name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=MLFLOW_MODEL_DIR")
    args = parser.parse_args()
    models = []
    for spec in args.model:
        name, directory = spec.split("=", 1)
        sys.path.insert(0, str(Path(directory) / "code"))  # the pipeline's own modules (MLflow code_paths)
        model = SKLearnModel(name, Path(directory))
        model.load()
        models.append(model)
    ModelServer(http_port=args.http_port, workers=1, enable_grpc=False).start(models)


if __name__ == "__main__":
    main()
