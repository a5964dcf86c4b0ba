"""The kinds of model the server serves, one module each: how a flavor loads, what it takes, how it predicts.

A model is served by the first kind whose flavor its MLmodel declares, in ``KINDS`` order: scikit-learn
pipelines and ONNX graphs have fast paths; PyTorch runs eager where it is installed; any other classifier
with a python_function flavor (XGBoost, LightGBM, ...) goes through mlflow.pyfunc. Adding a kind is one
module with ``FLAVOR`` and ``build(artifact, settings)``, and one line here.
"""

from __future__ import annotations

from ..models import ServedModel
from ..settings import ServerSettings
from . import onnx, pyfunc, pytorch, sklearn
from .base import Artifact

KINDS = (sklearn, onnx, pytorch, pyfunc)


def build(artifact: Artifact, settings: ServerSettings) -> ServedModel:
    flavors = artifact.mlmodel.flavors
    for kind in KINDS:
        if kind.FLAVOR in flavors:
            return kind.build(artifact, settings)
    served = ", ".join(kind.FLAVOR for kind in KINDS)
    raise artifact.fail(f"flavor(s) {', '.join(sorted(flavors))} not supported; the server serves {served}")
