"""KServe V1, Open Inference Protocol V2 (also through the KServe SDK's own client) and MLflow scoring."""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

from .conftest import DIGITS, GENTOO, LR, PENGUIN, RF

ROOT = Path(__file__).resolve().parents[2]
KSERVE_PYTHON = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache")) / "bench" / "kserve-venv" / "bin" / "python"
COLUMNS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


def _v2_inputs(rows: list[dict]) -> list[dict]:
    return [
        {
            "name": column,
            "shape": [len(rows)],
            "datatype": "BYTES" if isinstance(rows[0][column], str) else "FP64",
            "data": [row[column] for row in rows],
        }
        for column in COLUMNS
    ]


# -- KServe V1 --------------------------------------------------------------------------------------


def test_v1_list_status_and_predict(server, trained):
    assert server.client.get("/v1/models").json() == {"models": [RF, LR, DIGITS]}
    status = server.client.get(f"/v1/models/{LR}").json()
    assert status == {"name": LR, "ready": True, "model_version": trained.penguins[LR].version}
    response = server.client.post(f"/v1/models/{LR}:predict", json={"instances": [PENGUIN, GENTOO]})
    body = response.json()
    assert response.status_code == 200, body
    assert body["predictions"] == ["Adelie", "Gentoo"]
    assert body["model_version"] == trained.penguins[LR].version
    assert response.headers["x-model-version"] == trained.penguins[LR].version
    as_lists = server.client.post(f"/v1/models/{LR}:predict", json={"instances": [[PENGUIN[c] for c in COLUMNS]]})
    assert as_lists.json()["predictions"] == ["Adelie"]


def test_v1_takes_the_rows_under_inputs_too_but_not_under_both(server):
    response = server.client.post(f"/v1/models/{LR}:predict", json={"inputs": [PENGUIN, GENTOO]})
    assert response.status_code == 200 and response.json()["predictions"] == ["Adelie", "Gentoo"]
    bad_row = server.client.post(f"/v1/models/{LR}:predict", json={"inputs": [{**PENGUIN, "island": "Atlantis"}]})
    assert bad_row.status_code == 422 and bad_row.json()["details"][0]["loc"] == ["body", "inputs", 0, "island"]
    both = server.client.post(f"/v1/models/{LR}:predict", json={"instances": [PENGUIN], "inputs": [PENGUIN]})
    assert both.status_code == 422 and "not both" in both.json()["error"]
    neither = server.client.post(f"/v1/models/{LR}:predict", json={"rows": [PENGUIN]})
    assert neither.status_code == 422 and neither.json()["details"][0]["loc"] == ["body", "instances"]


# -- Open Inference Protocol V2 ---------------------------------------------------------------------


def test_v2_server_endpoints(server):
    assert server.client.get("/v2/health/live").json() == {"live": True}
    assert server.client.get("/v2/health/ready").json() == {"ready": True}
    meta = server.client.get("/v2").json()
    assert meta["name"] == "mlkube-model-server" and "model_repository" in meta["extensions"]
    assert server.client.get("/v2/models").json()["models"] == [RF, LR, DIGITS]


def test_v2_model_metadata_ready_and_versions(server, trained):
    version = trained.penguins[RF].version
    meta = server.client.get(f"/v2/models/{RF}").json()
    assert meta["versions"] == [version] and meta["platform"] == "sklearn"
    assert [i["name"] for i in meta["inputs"]] == COLUMNS
    assert server.client.get(f"/v2/models/{RF}/versions/{version}").json() == meta
    assert server.client.get(f"/v2/models/{RF}/ready").json() == {"name": RF, "ready": True}
    assert server.client.get(f"/v2/models/{RF}/versions/{version}/ready").status_code == 200
    wrong = server.client.get(f"/v2/models/{RF}/versions/999/ready")
    assert wrong.status_code == 404 and f"loaded version is {version}" in wrong.json()["error"]


def test_v2_infer_by_columns_rows_and_versions(server, trained):
    version = trained.penguins[RF].version
    response = server.client.post(f"/v2/models/{RF}/infer", json={"id": "abc", "inputs": _v2_inputs([PENGUIN, GENTOO])})
    body = response.json()
    assert response.status_code == 200, body
    assert (body["model_name"], body["model_version"], body["id"]) == (RF, version, "abc")
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["data"] == ["Adelie", "Gentoo"]
    assert outputs["predict_proba"]["shape"] == [2, 3] and len(outputs["predict_proba"]["data"]) == 6
    assert response.headers["x-model-version"] == version
    only_proba = server.client.post(
        f"/v2/models/{RF}/versions/{version}/infer",
        json={"inputs": _v2_inputs([PENGUIN]), "outputs": [{"name": "predict_proba"}]},
    )
    assert [o["name"] for o in only_proba.json()["outputs"]] == ["predict_proba"]
    rows = {
        "inputs": [{"name": "input-0", "shape": [1, 6], "datatype": "BYTES", "data": [PENGUIN[c] for c in COLUMNS]}]
    }
    assert server.client.post(f"/v2/models/{RF}/infer", json=rows).json()["outputs"][0]["data"] == ["Adelie"]
    stale = server.client.post(f"/v2/models/{RF}/versions/999/infer", json={"inputs": _v2_inputs([PENGUIN])})
    assert stale.status_code == 404


def test_v2_answers_hold_to_the_documented_response_model(server):
    from mlkube_server.api.bodies import InferenceResponse

    spec = server.client.get("/openapi.json").json()
    infer = spec["paths"]["/v2/models/{name}/infer"]["post"]
    assert infer["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/InferenceRequest")
    assert infer["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/InferenceResponse")
    schemas = spec["components"]["schemas"]
    assert {"InferenceRequest", "RequestInput", "RequestOutput", "InferenceResponse", "ResponseOutput"} <= set(schemas)
    assert schemas["RequestInput"]["required"] == ["name", "shape", "datatype"]
    for request in ({"inputs": _v2_inputs([PENGUIN, GENTOO])},
                    {"id": "x", "inputs": _v2_inputs([PENGUIN]), "outputs": [{"name": "predict_proba"}]}):  # fmt: skip
        answer = InferenceResponse.model_validate(server.client.post(f"/v2/models/{RF}/infer", json=request).json())
        assert answer.outputs and all(output.data is not None for output in answer.outputs)
    binary = server.client.post(
        f"/v2/models/{RF}/infer", json={"inputs": _v2_inputs([PENGUIN]), "parameters": {"binary_data_output": True}}
    )
    header = binary.content[: int(binary.headers["inference-header-content-length"])]
    answer = InferenceResponse.model_validate_json(header)
    assert all(output.data is None and output.parameters for output in answer.outputs)


def test_v2_binary_tensor_extension(server):
    """JSON header + raw bytes, as the KServe client sends numpy inputs by default."""
    inputs, chunks = [], []
    for column in COLUMNS:
        value = PENGUIN[column]
        if isinstance(value, str):
            raw = struct.pack("<I", len(value)) + value.encode()
            datatype = "BYTES"
        else:
            raw = struct.pack("<d", value)
            datatype = "FP64"
        inputs.append(
            {"name": column, "shape": [1], "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}
        )
        chunks.append(raw)
    header = json.dumps({"inputs": inputs}).encode()
    response = server.client.post(
        f"/v2/models/{RF}/infer",
        content=header + b"".join(chunks),
        headers={"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == ["Adelie"]


def test_v2_binary_outputs_when_the_request_asks(server):
    """`parameters.binary_data_output`: every output leaves the JSON and follows it as little-endian bytes."""
    inputs = [{"name": c, "shape": [2], "datatype": "BYTES" if isinstance(PENGUIN[c], str) else "FP64",
               "data": [PENGUIN[c], GENTOO[c]]} for c in COLUMNS]  # fmt: skip
    as_json = server.client.post(f"/v2/models/{RF}/infer", json={"inputs": inputs}).json()
    response = server.client.post(f"/v2/models/{RF}/infer",
                                  json={"inputs": inputs, "parameters": {"binary_data_output": True}})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers["inference-header-content-length"])
    header, blob = json.loads(response.content[:length]), response.content[length:]
    predict, proba = header["outputs"]
    assert "data" not in predict and "data" not in proba
    labels, offset = [], 0
    while offset < predict["parameters"]["binary_data_size"]:
        (size,) = struct.unpack_from("<I", blob, offset)
        labels.append(blob[offset + 4 : offset + 4 + size].decode())
        offset += 4 + size
    assert labels == ["Adelie", "Gentoo"]
    values = struct.unpack(f"<{2 * 3}d", blob[offset : offset + proba["parameters"]["binary_data_size"]])
    assert list(values) == as_json["outputs"][1]["data"]


def test_v2_image_tensor(server, trained):
    from sklearn.datasets import load_digits

    digits = load_digits()
    batch = digits.images[:100].reshape(100, 1, 8, 8)
    request = {
        "inputs": [{"name": "input-0", "shape": [100, 1, 8, 8], "datatype": "FP32", "data": batch.ravel().tolist()}]
    }
    body = server.client.post(f"/v2/models/{DIGITS}/infer", json=request).json()
    predicted = body["outputs"][0]["data"]
    assert body["model_version"] == trained.digits.version
    # a two-epoch test model: far better than the 10 % of chance, not a quality bar
    assert sum(int(p) == t for p, t in zip(predicted, digits.target[:100], strict=True)) >= 40


def test_kserve_python_sdk_client_unchanged(server, trained):
    if not KSERVE_PYTHON.exists():
        pytest.fail(
            f"{KSERVE_PYTHON} missing: run `make bench-peers` (make test-server does) to install the KServe SDK"
        )
    probe = Path(__file__).with_name("kserve_client_probe.py")
    out = subprocess.run([str(KSERVE_PYTHON), str(probe), server.url, RF], capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["live"] is True and seen["ready"] is True and seen["model_ready"] is True
    for mode in ("json", "binary", "binary_out"):  # binary_out: the outputs come back as raw bytes too
        assert seen[mode]["model_name"] == RF
        assert seen[mode]["predict"] == ["Adelie", "Gentoo"]
        assert seen[mode]["proba_shape"] == [2, 3]
        assert seen[mode]["id"] == "probe-1"
    assert "not found; available models" in seen["unknown_model_error"]
    assert seen["binary_out"]["proba"] == seen["json"]["proba"]  # the same float64s, as bytes
    assert seen["v1_live"] is True
    assert seen["v1_predictions"] == ["Adelie"]


# -- MLflow scoring ------------------------------------------------------------------------------------


def test_mlflow_invocations_in_every_format(server, trained):
    version = trained.penguins[RF].version
    rows = [PENGUIN, GENTOO]
    bodies = [
        {"dataframe_split": {"columns": COLUMNS, "data": [[r[c] for c in COLUMNS] for r in rows]}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"inputs": {c: [r[c] for r in rows] for c in COLUMNS}},
    ]
    for body in bodies:
        response = server.client.post("/invocations", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json()["predictions"] == ["Adelie", "Gentoo"]
        assert response.json()["model_version"] == version
    csv = ",".join(COLUMNS) + "\n" + "\n".join(",".join(str(r[c]) for c in COLUMNS) for r in rows) + "\n"
    response = server.client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert response.json()["predictions"] == ["Adelie", "Gentoo"]
    lr = server.client.post("/invocations", params={"model": LR}, json={"dataframe_records": [GENTOO]})
    assert lr.json()["model_name"] == LR
    two = server.client.post("/invocations", json={"instances": rows, "inputs": rows})
    assert two.status_code == 400 and "exactly one of" in two.json()["message"]  # MLflow's status and shape
    assert server.client.get("/ping").status_code == 200
