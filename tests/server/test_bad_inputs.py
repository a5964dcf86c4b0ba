"""Every bad request gets a 4xx naming the field and the reason; never a 500, never a traceback."""

from __future__ import annotations

import pytest

from .conftest import LR, PENGUIN, RF


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def _locs(body: dict) -> list[list]:
    return [detail["loc"] for detail in body.get("details", [])]


@pytest.mark.parametrize(
    ("change", "loc", "reason"),
    [
        ({"bill_length_mm": None}, ["body", "bill_length_mm"], "null"),
        ({"bill_length_mm": "long"}, ["body", "bill_length_mm"], "expected a number"),
        ({"bill_length_mm": True}, ["body", "bill_length_mm"], "expected a number"),
        ({"body_mass_g": 1e9}, ["body", "body_mass_g"], "outside the range"),
        ({"flipper_length_mm": -5}, ["body", "flipper_length_mm"], "outside the range"),
        ({"island": "Atlantis"}, ["body", "island"], "unknown value 'Atlantis'"),
        ({"sex": "unknown"}, ["body", "sex"], "unknown value"),
        ({"island": 3}, ["body", "island"], "expected a string"),
        ({"beak_color": "red"}, ["body", "beak_color"], "unexpected field"),
    ],
)
def test_bad_fields_are_named(server, change, loc, reason):
    body = _error(server.client.post("/predict", json={**PENGUIN, **change}), 422)
    details = {tuple(d["loc"]): d["msg"] for d in body["details"]}
    assert tuple(loc) in details, body
    assert reason in details[tuple(loc)]


def test_missing_field(server):
    penguin = {k: v for k, v in PENGUIN.items() if k != "bill_depth_mm"}
    body = _error(server.client.post("/predict", json=penguin), 422)
    assert ["body", "bill_depth_mm"] in _locs(body)
    assert "required" in body["error"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity(server, literal):
    raw = (
        '{"island": "Biscoe", "bill_length_mm": %s, "bill_depth_mm": 18.7, "flipper_length_mm": 181,'
        ' "body_mass_g": 3750, "sex": "male"}' % literal
    )
    body = _error(server.client.post("/predict", content=raw, headers={"content-type": "application/json"}), 422)
    assert ["body", "bill_length_mm"] in _locs(body)
    assert "finite" in body["error"]


def test_error_paths_in_batches_carry_the_row_index(server):
    penguins = [PENGUIN, {**PENGUIN, "island": "Atlantis"}]
    body = _error(server.client.post("/predict/batch", json={"penguins": penguins}), 422)
    assert _locs(body) == [["body", "penguins", 1, "island"]]


def test_range_validation_can_be_turned_off(tmp_path, trained, mlflow_server):
    from .conftest import start_server

    with start_server(tmp_path, [f"models:/{LR}@champion"], mlflow_server.url,
                      MLKUBE_SERVER_VALIDATE_RANGES="false") as relaxed:  # fmt: skip
        response = relaxed.client.post("/predict", json={**PENGUIN, "body_mass_g": 9000.0})
        assert response.status_code == 200, response.text


def test_empty_and_oversized_batches(server):
    empty = _error(server.client.post("/predict/batch", json={"penguins": []}), 422)
    assert ["body", "penguins"] in _locs(empty) and "empty" in empty["error"]
    too_many = _error(server.client.post("/predict/batch", json={"penguins": [PENGUIN] * 101}), 413)
    assert "101 rows exceed the limit of 100" in too_many["error"]
    _error(server.client.post("/predict", json={"records": [PENGUIN] * 101}), 413)
    mlflow = server.client.post("/invocations", json={"dataframe_records": [PENGUIN] * 101})
    assert mlflow.status_code == 413 and "101 rows exceed" in mlflow.json()["message"]  # MLflow's error shape


def test_body_over_the_byte_limit(server):
    huge = b'{"penguins": [' + b" " * (9 * 1024 * 1024) + b"]}"
    _error(server.client.post("/predict/batch", content=huge, headers={"content-type": "application/json"}), 413)


def test_unknown_model_lists_the_available_ones(server):
    for response in (
        server.client.post("/predict/nope", json=PENGUIN),
        server.client.post("/predict", params={"model": "nope"}, json=PENGUIN),
        server.client.post("/v1/models/nope:predict", json={"instances": [PENGUIN]}),
        server.client.post("/v2/models/nope/infer", json={"inputs": []}),
        server.client.get("/v2/models/nope"),
        server.client.post("/predict/compare", params={"models": "nope"}, json=PENGUIN),
    ):
        body = _error(response, 404)
        assert "'nope' not found" in body["error"]
        assert RF in body["error"] and LR in body["error"]


def test_malformed_json_and_wrong_shapes(server):
    headers = {"content-type": "application/json"}
    body = _error(server.client.post("/predict", content=b'{"island": "Biscoe",', headers=headers), 400)
    assert "malformed JSON" in body["error"]
    _error(server.client.post("/predict", content=b"", headers=headers), 400)
    body = _error(server.client.post("/predict", json=[PENGUIN]), 422)
    assert "expected a JSON object" in body["error"]
    body = _error(server.client.post("/predict/batch", json={"penguins": "all of them"}), 422)
    assert _locs(body) == [["body", "penguins"]]
    body = _error(server.client.post("/predict/batch", json={"penguins": [1, 2]}), 422)
    assert ["body", "penguins", 0] in _locs(body)


def test_wrong_content_type(server):
    body = _error(server.client.post("/predict", content=b"island=Biscoe",
                                     headers={"content-type": "application/x-www-form-urlencoded"}), 415)  # fmt: skip
    assert "application/json" in body["error"]
    _error(server.client.post("/predict/image", json=PENGUIN), 415)
    _error(server.client.post("/v2/models/penguins-random-forest/infer", content=b"x",
                              headers={"content-type": "text/plain"}), 415)  # fmt: skip


def test_corrupt_and_missing_images(server):
    body = _error(server.client.post("/predict/image", files={"file": ("x.png", b"not an image", "image/png")}), 422)
    assert ["body", "file"] in _locs(body)
    truncated = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    _error(server.client.post("/predict/image", files={"file": ("x.png", truncated, "image/png")}), 422)
    _error(server.client.post("/predict/image", files={"file": ("x.png", b"", "image/png")}), 422)
    body = _error(server.client.post("/predict/image", files={"other": ("x.png", b"123", "image/png")}), 422)
    assert ["body", "file"] in _locs(body)


def test_rows_sent_to_the_image_model_and_images_to_a_table_model(server):
    from .conftest import DIGITS

    _error(server.client.post(f"/predict/{DIGITS}", json=PENGUIN), 422)
    _error(server.client.post("/predict/image", params={"model": RF},
                              files={"file": ("x.png", b"123", "image/png")}), 422)  # fmt: skip


def test_v2_tensor_errors(server):
    url = f"/v2/models/{RF}/infer"
    body = _error(server.client.post(url, json={"inputs": [{"name": "island", "shape": [2], "datatype": "BYTES",
                                                            "data": ["Biscoe"]}]}), 422)  # fmt: skip
    assert ["body", "inputs", 0, "data"] in _locs(body)
    body = _error(server.client.post(url, json={"inputs": [{"name": "island", "shape": [1], "datatype": "FP99",
                                                            "data": [1]}]}), 422)  # fmt: skip
    assert ["body", "inputs", 0, "datatype"] in _locs(body)
    _error(server.client.post(url, json={"inputs": "x"}), 422)
    _error(server.client.post(url, json={"outputs": [{"name": "predict"}]}), 422)


def test_unknown_route_and_method(server):
    _error(server.client.get("/nowhere"), 404)
    _error(server.client.get("/predict"), 405)
