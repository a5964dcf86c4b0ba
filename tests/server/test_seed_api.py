"""The seed API (tutorials 004/002) against the real server and models trained by the real trainer."""

from __future__ import annotations

import io

from PIL import Image

from .conftest import DIGITS, GENTOO, LR, PENGUIN, RF

SPECIES = {"Adelie", "Chinstrap", "Gentoo"}


def _assert_prediction(body: dict, model: str, version: str) -> None:
    assert body["species"] in SPECIES
    assert set(body["probabilities"]) == SPECIES
    assert abs(sum(body["probabilities"].values()) - 1.0) < 1e-3
    assert body["confidence"] == max(body["probabilities"].values())
    assert (body["model"], body["version"]) == (model, version)


def test_root_lists_models_and_endpoints(server):
    body = server.client.get("/").json()
    assert body["status"] == "alive"  # what KServe's V1 client reads for liveness
    assert body["default_model"] == RF
    assert body["models"] == [RF, LR, DIGITS]
    endpoints = body["endpoints"]
    assert "/predict/compare" in endpoints["seed"] and "/v1/models/{name}:predict" in endpoints["kserve_v1"]
    assert "/v2/models/{name}/infer" in endpoints["open_inference_v2"] and "/invocations" in endpoints["mlflow"]
    # Every path the server documents is listed under the protocol of its router, and nothing else is.
    documented = server.client.get("/openapi.json").json()["paths"]
    listed = {path for key, paths in endpoints.items() if key != "metrics" for path in paths}
    assert listed == set(documented) - {"/metrics"}, set(documented) ^ listed


def test_health_reports_every_model_loaded(server, trained):
    response = server.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["ready"] is True
    assert body["models"][RF]["version"] == trained.penguins[RF].version
    assert body["models"][RF]["alias"] == "champion"


def test_predict_one_penguin_with_the_default_model(server, trained):
    response = server.client.post("/predict", json=PENGUIN)
    assert response.status_code == 200, response.text
    body = response.json()
    _assert_prediction(body, RF, trained.penguins[RF].version)
    assert body["species"] == "Adelie"
    assert body["alias"] == "champion"
    assert response.headers["x-model-version"] == trained.penguins[RF].version
    assert response.headers["x-request-id"]


def test_sex_is_accepted_in_any_case(server):
    for sex in ("MALE", "Male", "male", " male "):
        response = server.client.post("/predict", json={**PENGUIN, "sex": sex})
        assert response.status_code == 200, (sex, response.text)


def test_model_chosen_by_path_query_and_body(server, trained):
    version = trained.penguins[LR].version
    by_path = server.client.post(f"/predict/{LR}", json=GENTOO).json()
    by_query = server.client.post("/predict", params={"model": LR}, json=GENTOO).json()
    by_body = server.client.post("/predict", json={"records": [GENTOO], "model": LR}).json()
    assert by_path["model"] == by_query["model"] == by_body["model"] == LR
    assert by_path["version"] == by_query["version"] == by_body["version"] == version
    assert by_path["species"] == by_query["species"] == by_body["predictions"][0] == "Gentoo"


def test_records_form(server, trained):
    response = server.client.post("/predict", json={"records": [PENGUIN, GENTOO]})
    body = response.json()
    assert response.status_code == 200, body
    assert body["predictions"] == ["Adelie", "Gentoo"]
    assert body["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert len(body["probabilities"]) == 2 and body["version"] == trained.penguins[RF].version


def test_batch(server, trained):
    penguins = [PENGUIN, GENTOO] * 50
    response = server.client.post("/predict/batch", json={"penguins": penguins})
    body = response.json()
    assert response.status_code == 200, body
    assert body["count"] == 100
    assert [p["species"] for p in body["predictions"][:2]] == ["Adelie", "Gentoo"]
    assert body["version"] == trained.penguins[RF].version
    assert response.headers["x-model-version"] == trained.penguins[RF].version


def test_compare_every_and_named_models(server, trained):
    every = server.client.post("/predict/compare", json={"records": [GENTOO]}).json()
    assert set(every["results"]) == {RF, LR}  # the digits model takes images, not rows
    for name, result in every["results"].items():
        assert result["predictions"] == ["Gentoo"]
        assert result["version"] == trained.penguins[name].version
    named = server.client.post("/predict/compare", params={"models": LR}, json=PENGUIN).json()
    assert list(named["results"]) == [LR]


def test_models_and_model_info(server, trained):
    listing = server.client.get("/models").json()
    assert listing["default"] == RF and listing["count"] == 3
    states = {m["name"]: m["state"] for m in listing["models"]}
    assert states == {RF: "ready", LR: "ready", DIGITS: "ready"}
    info = server.client.get("/model/info", params={"model": LR}).json()
    assert info["version"] == trained.penguins[LR].version
    inputs = {i["name"]: i for i in info["inputs"]}
    assert inputs["island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    low, high = inputs["bill_length_mm"]["training_range"]
    assert low < 39.1 < high
    # Both trained pipelines run compiled preprocessing; the random forest is evaluated by the compiled tree
    # evaluator, the logistic regression by scikit-learn.
    assert info["compiled_trees"] is False and info["compiled_preprocessing"] is True
    rf = server.client.get("/model/info", params={"model": RF}).json()
    assert rf["compiled_trees"] is True and rf["compiled_preprocessing"] is True


def _png(digit_pixels: list[list[int]]) -> bytes:
    image = Image.new("L", (8, 8), color=255)
    for y, row in enumerate(digit_pixels):
        for x, value in enumerate(row):
            image.putpixel((x, y), 255 - value * 16 if value < 16 else 0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_endpoint_classifies_a_digit(server, trained):
    """A PNG of a scikit-learn digit gets the same answer as the raw 0..16 tensor through V2."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    raw = digits.images[:10].reshape(10, 1, 8, 8)
    v2 = server.client.post(f"/v2/models/{DIGITS}/infer", json={
        "inputs": [{"name": "input-0", "shape": [10, 1, 8, 8], "datatype": "FP32", "data": raw.ravel().tolist()}]
    }).json()["outputs"][0]["data"]  # fmt: skip
    agree = 0
    for index in range(10):
        pixels = digits.images[index].astype(int).tolist()
        response = server.client.post("/predict/image", files={"file": ("digit.png", _png(pixels), "image/png")})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == DIGITS and body["version"] == trained.digits.version
        assert len(body["probabilities"]) == 10 and body["prediction"] == str(body["digit"])
        agree += body["prediction"] == v2[index]
    assert agree >= 9, f"the PNG path disagreed with the tensor path on {10 - agree}/10 digits"


def test_openapi_documents_every_api_and_the_signature(server):
    spec = server.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/predict", "/predict/batch", "/predict/compare", "/predict/image", "/models", "/model/info",
                 "/v1/models/{name}:predict", "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer",
                 "/v2/repository/models/{name}/load", "/invocations", "/ping", "/metrics"):  # fmt: skip
        assert path in paths, path
    features = spec["components"]["schemas"]["Features"]
    assert set(features["properties"]) == {"island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                                           "body_mass_g", "sex"}  # fmt: skip
    assert server.client.get("/docs").status_code == 200
