"""2b. The digits network served on the cluster from its ONNX export, by a server image without PyTorch.

With the torch build of the training image (`make up`, `WITH_TORCH=true`) the digits Job registered the version;
without it (CI) the suite trains the same fast config on this machine against the cluster's MLflow. Either way
the registered version is the ONNX graph the trainer checked against PyTorch, and the cluster answers an
uploaded PNG with it.
"""

from __future__ import annotations

import os

import httpx
import numpy as np
import pytest

from tests.support.images import digit_png
from tests.support.training import DIGITS_FAST_CONFIG, run_trainer

from .kube import kubectl, mlflow_auth, service_url
from .platform import RELEASE, WITH_TORCH
from .rollout import SERVER, running_server_pod, upgrade

MODEL = "digits-cnn"


def _trainer_env() -> dict[str, str]:
    """run_trainer passes no MLFLOW_* or MLKUBE_TRAIN_* of this process on: the trainer's credentials and
    signing key, explicitly (as the training Jobs get them from the chart)."""
    keys = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLKUBE_TRAIN_SIGNING_KEY")
    return {key: os.environ[key] for key in keys}


def _champion(mlflow_url: str) -> str | None:
    response = httpx.get(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias",
                         params={"name": MODEL, "alias": "champion"}, timeout=10, auth=mlflow_auth())  # fmt: skip
    return response.json()["model_version"]["version"] if response.status_code == 200 else None


@pytest.fixture(scope="module")
def digits_version(platform) -> str:
    mlflow_url = service_url(f"{RELEASE}-mlflow")
    version = _champion(mlflow_url)
    if version is None:
        assert not WITH_TORCH, "the digits Job of the torch build registered no @champion"
        result = run_trainer(["digits", "--config", str(DIGITS_FAST_CONFIG)], mlflow_url, env=_trainer_env())
        assert result.returncode == 0, result.stderr[-3000:]
        version = _champion(mlflow_url)
    assert version is not None
    return version


@pytest.fixture(scope="module")
def digits_served(digits_version):
    upgrade(**{f"server.models.{MODEL}": f"models:/{MODEL}@champion"})
    yield digits_version
    if not WITH_TORCH:
        upgrade()  # the platform as the other modules expect it


def test_an_uploaded_png_is_classified_with_the_version(server_url, digits_served):
    response = httpx.post(f"{server_url}/predict/image", files={"file": ("seven.png", digit_png(7), "image/png")},
                          timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == (MODEL, digits_served)
    assert body["digit"] in range(10) and abs(sum(body["probabilities"].values()) - 1) < 1e-6
    print(
        f"\n/predict/image on the cluster: digit {body['digit']} ({body['confidence']:.3f}), version {body['version']}"
    )


def test_v2_tensors_answer_as_onnx_runtime_does_on_the_same_graph(server_url, digits_served, monkeypatch):
    """What the cluster serves is the registered graph itself: the same probabilities as ONNX Runtime here."""
    import mlflow.artifacts
    import onnxruntime as ort
    from sklearn.datasets import load_digits

    images = load_digits().images[:32].astype(np.float32).reshape(32, 1, 8, 8)
    body = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": list(images.shape),
                        "data": images.ravel().tolist()}]}  # fmt: skip
    response = httpx.post(f"{server_url}/v2/models/{MODEL}/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    served = next(o for o in response.json()["outputs"] if o["name"] == "predict_proba")
    served = np.asarray(served["data"]).reshape(served["shape"])

    mlflow_url = service_url(f"{RELEASE}-mlflow")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", mlflow_url)  # models:/ URIs are resolved by the registry
    local = mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{digits_served}", tracking_uri=mlflow_url)
    session = ort.InferenceSession(f"{local}/model.onnx", providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {session.get_inputs()[0].name: images})
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.abs(served - expected).max() < 1e-5


def test_the_server_image_carries_no_pytorch(digits_served):
    probe = "import importlib.util as u; print(u.find_spec('torch') is None, u.find_spec('onnxruntime') is not None)"
    out = kubectl("exec", running_server_pod(), "--", "python", "-c", probe, timeout=60)
    assert out.stdout.split() == ["True", "True"], out.stdout
    info = httpx.get(f"{service_url(SERVER)}/model/info", params={"model": MODEL}, timeout=10).json()
    assert (info["flavor"], info["kind"]) == ("onnx", "image")
