"""Start-up, failures reported by name, retries against an unreachable MLflow, graceful SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlkube_server.metric_names import MODELS_PENDING
from tests.support.images import digit_png
from tests.support.processes import free_port, wait_for_http

from .conftest import DIGITS, LR, PENGUIN, start_server
from .delaying_proxy import delaying_proxy


def test_unreachable_mlflow_is_retried_with_one_line_per_attempt_then_reported(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    with start_server(tmp_path, [f"models:/{LR}@champion"], dead, wait="live",
                      MLKUBE_SERVER_LOAD_ATTEMPTS="3", MLKUBE_SERVER_LOAD_BACKOFF_SECONDS="0.2") as srv:  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "failed to load" not in srv.log():
            assert httpx.get(f"{srv.metrics_url}/v2/health/ready").status_code == 503
            time.sleep(0.3)
        log = srv.log()
        attempts = [line for line in log.splitlines() if "MLflow unreachable (attempt" in line]
        assert len(attempts) == 2, log  # attempts 1 and 2 retried, the 3rd gives up
        assert all(json.loads(line)["level"] == "warning" for line in attempts)
        assert "gave up after 3 attempts" in log
        # Retried until MLflow answers: not settled, so the serving port stays closed (a proxy in front retries
        # another endpoint) while the metrics port says why.
        with pytest.raises(httpx.ConnectError):
            srv.client.post("/predict", json=PENGUIN)
        assert httpx.get(f"{srv.metrics_url}/v2/health/live").status_code == 200
        assert httpx.get(f"{srv.metrics_url}/v2/health/ready").status_code == 503
        health = httpx.get(f"{srv.metrics_url}/health")
        assert health.status_code == 503
        assert health.json()["models"][LR]["state"] == "failed"
        metrics = httpx.get(f"{srv.metrics_url}/metrics").text
        assert f'mlkube_model_load_failures_total{{model="{LR}"}} 1.0' in metrics
        assert _pending(metrics) == 1


def _pending(metrics: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(metrics) for s in f.samples if s.name == MODELS_PENDING)


def test_the_serving_port_opens_once_every_model_has_settled_and_the_metrics_port_answers_before(
    tmp_path, trained, mlflow_server
):
    """A restarted container must refuse connections (which Traefik retries on another endpoint) rather than
    answer 503 while its endpoint is still listed as ready."""
    with delaying_proxy(mlflow_server.url, delay=0.5) as slow_mlflow:
        with start_server(tmp_path, [f"models:/{LR}@champion"], slow_mlflow.url, wait="live") as srv:
            health = httpx.get(f"{srv.metrics_url}/health").json()
            assert health["status"] == "loading", health
            with pytest.raises(httpx.ConnectError):
                srv.client.get("/v2/health/live")
            assert _pending(httpx.get(f"{srv.metrics_url}/metrics").text) == 1
            wait_for_http(f"{srv.url}/v2/health/live", timeout=90)
            # Open means settled: the first answer on the serving port is already ready, and predicts.
            assert srv.client.get("/v2/health/ready").status_code == 200, srv.log()[-3000:]
            assert srv.client.post("/predict", json=PENGUIN).status_code == 200
            assert httpx.get(f"{srv.metrics_url}/v2/health/ready").status_code == 200
            assert slow_mlflow.received >= 2  # the load went through the slow proxy: it took a second at least


def test_a_model_missing_from_the_registry_is_named_and_the_others_serve(tmp_path, trained, mlflow_server):
    with start_server(tmp_path, [f"models:/{LR}@champion", "ghost=models:/no-such-model@champion"],
                      mlflow_server.url, wait="open") as srv:  # fmt: skip
        deadline = time.monotonic() + 90
        states: dict = {}
        while time.monotonic() < deadline:
            states = {m["name"]: m for m in srv.client.get("/models").json()["models"]}
            if states[LR]["state"] == "ready" and states["ghost"]["state"] == "failed":
                break
            time.sleep(0.3)
        assert states["ghost"]["state"] == "failed", states
        assert "no-such-model" in states["ghost"]["reason"] and "does not exist" in states["ghost"]["reason"]
        assert srv.client.get("/v2/health/ready").status_code == 503  # not every configured model is loaded
        assert srv.client.post(f"/predict/{LR}", json=PENGUIN).status_code == 200
        assert "model ghost failed to load" in srv.log()


def test_sigterm_turns_readiness_off_at_once_and_finishes_in_flight_requests(tmp_path, trained, mlflow_server):
    with start_server(tmp_path, [f"models:/{LR}@champion"], mlflow_server.url,
                      MLKUBE_SERVER_DRAIN_SECONDS="1.5") as srv:  # fmt: skip
        host, port = srv.url.removeprefix("http://").split(":")
        body = json.dumps(PENGUIN).encode()
        half = len(body) // 2
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:half]
            )
            time.sleep(0.3)  # the request is now in flight, its body half sent
            srv.process.popen.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            for url in (srv.url, srv.metrics_url):
                ready = httpx.get(f"{url}/v2/health/ready", timeout=5)
                assert ready.status_code == 503 and ready.json() == {"ready": False}
                assert httpx.get(f"{url}/v2/health/live", timeout=5).status_code == 200
            conn.sendall(body[half:])
            response = b""
            while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response[:300]
        assert b'"species"' in response
        assert srv.process.popen.wait(timeout=30) == 0
        log = srv.log()
        assert "not ready any more" in log
        assert "Traceback" not in log


def _states(srv, names: set[str], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    states: dict = {}
    while time.monotonic() < deadline:
        states = {m["name"]: m for m in srv.client.get("/models").json()["models"]}
        if names <= set(states) and {states[n]["state"] for n in names} <= {"ready", "failed"}:
            break
        time.sleep(0.3)
    return states


def test_without_pytorch_the_digits_onnx_serves_and_an_eager_pytorch_model_fails_by_name(
    tmp_path, trained, mlflow_server
):
    """As in the server image: no PyTorch. The registered digits version is ONNX and serves; the eager
    network the trainer logged beside it needs PyTorch and is reported by name, the others serving."""
    from mlflow import MlflowClient

    eager_uri = (
        MlflowClient(mlflow_server.url).get_model_version(DIGITS, trained.digits.version).tags["pytorch_model_uri"]
    )
    launcher = [sys.executable, str(Path(__file__).with_name("without_packages_launcher.py"))]
    models = [f"models:/{LR}@champion", f"{DIGITS}=models:/{DIGITS}/{trained.digits.version}", f"eager={eager_uri}"]
    with start_server(tmp_path, models, mlflow_server.url, wait="open", launcher=launcher) as srv:
        states = _states(srv, {LR, DIGITS, "eager"})
        assert states[LR]["state"] == "ready"
        assert states[DIGITS]["state"] == "ready", states[DIGITS]
        assert states["eager"]["state"] == "failed"
        assert "PyTorch is not installed" in states["eager"]["reason"]
        info = srv.client.get("/model/info", params={"model": DIGITS}).json()
        assert (info["flavor"], info["device"], info["output"]) == ("onnx", "cpu", "logits")
        image = srv.client.post(
            "/predict/image", params={"model": DIGITS}, files={"file": ("d.png", digit_png(7), "image/png")}
        )
        assert image.status_code == 200, image.text
        assert image.json()["model"] == DIGITS and image.json()["version"] == trained.digits.version
        refused = srv.client.post(
            "/predict/image", params={"model": "eager"}, files={"file": ("d.png", digit_png(7), "image/png")}
        )
        assert refused.status_code == 503 and "PyTorch is not installed" in refused.json()["error"]
        assert srv.client.get("/health").json()["models"]["eager"]["state"] == "failed"
        assert 'mlkube_model_load_failures_total{model="eager"} 1.0' in srv.client.get("/metrics").text
        assert srv.client.post("/predict", json=PENGUIN).status_code == 200


def test_a_corrupt_onnx_file_is_named_with_its_reason_and_the_others_serve(
    tmp_path, trained, mlflow_server, monkeypatch
):
    import mlflow.artifacts

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", mlflow_server.url)
    folder = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{DIGITS}/{trained.digits.version}", dst_path=str(tmp_path / "corrupt"),
        tracking_uri=mlflow_server.url,
    ))  # fmt: skip
    (folder / "model.onnx").write_bytes(b"\x08\x07this is not a protobuf graph" * 10)
    models = [f"models:/{LR}@champion", f"broken={folder}"]
    with start_server(tmp_path, models, mlflow_server.url, wait="open") as srv:
        states = _states(srv, {LR, "broken"})
        assert states[LR]["state"] == "ready", states[LR]
        assert states["broken"]["state"] == "failed"
        assert "ONNX Runtime could not load" in states["broken"]["reason"], states["broken"]
        assert srv.client.get("/health").json()["models"]["broken"]["state"] == "failed"
        assert 'mlkube_model_load_failures_total{model="broken"} 1.0' in srv.client.get("/metrics").text
        assert srv.client.post("/predict", json=PENGUIN).status_code == 200


def test_a_model_registered_after_start_up_is_picked_up_without_a_restart(tmp_path, trained, mlflow_server):
    """A pod started before the first training run finished becomes Ready once the model exists."""
    import mlflow
    from mlflow import MlflowClient

    late = f"penguins-late-{time.monotonic_ns()}"
    with start_server(tmp_path, [f"models:/{late}@champion"], mlflow_server.url, wait="open",
                      MLKUBE_SERVER_RETRY_FAILED_SECONDS="1") as srv:  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "does not exist" not in srv.log():
            time.sleep(0.3)
        assert srv.client.get("/v2/health/ready").status_code == 503

        client = MlflowClient(mlflow_server.url)
        source = client.get_model_version(LR, trained.penguins[LR].version)
        mlflow.set_tracking_uri(mlflow_server.url)
        version = mlflow.register_model(source.source, late)
        client.set_registered_model_alias(late, "champion", version.version)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and srv.client.get("/v2/health/ready").status_code != 200:
            time.sleep(0.5)
        assert srv.client.get("/v2/health/ready").status_code == 200, srv.log()[-3000:]
        answer = srv.client.post("/predict", json=PENGUIN)
        assert answer.status_code == 200 and answer.headers["x-model-version"] == version.version
