"""A flavor with no fast path (XGBoost, MLflow's xgboost flavor) served through mlflow.pyfunc: its signature
validates requests exactly as for the Penguins pipelines, it answers every protocol with its version, and
a server without the flavor's package names the package."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.training import run_trainer

from .conftest import LR, start_server

XGB = "penguins-xgboost"
MEASURES = {"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181.0, "body_mass_g": 3750.0}
GENTOO = {"bill_length_mm": 47.5, "bill_depth_mm": 14.2, "flipper_length_mm": 215.0, "body_mass_g": 5300.0}


@pytest.fixture(scope="module")
def xgboost_version(mlflow_server) -> str:
    result = run_trainer(["penguins-xgboost"], mlflow_server.url)
    assert result.returncode == 0, result.stderr[-3000:]
    (model,) = result.models
    assert model.name == XGB
    return model.version


@pytest.fixture(scope="module")
def xgb_server(tmp_path_factory, trained, xgboost_version, mlflow_server):
    tmp = tmp_path_factory.mktemp("pyfunc")
    with start_server(tmp, [f"models:/{XGB}@champion", f"models:/{LR}@champion"], mlflow_server.url) as srv:
        yield srv


def test_served_with_its_flavor_classes_and_signature(xgb_server, xgboost_version):
    info = xgb_server.client.get("/model/info", params={"model": XGB}).json()
    assert (info["flavor"], info["kind"], info["version"]) == ("xgboost", "tabular", xgboost_version)
    assert info["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert [i["name"] for i in info["inputs"]] == list(MEASURES)
    assert info["pyfunc_output"] == "raw_predict_proba"
    v2 = xgb_server.client.get(f"/v2/models/{XGB}").json()
    assert (v2["platform"], [i["name"] for i in v2["inputs"]]) == ("xgboost", list(MEASURES))


def test_every_protocol_answers_with_the_version(xgb_server, xgboost_version):
    seed = xgb_server.client.post(f"/predict/{XGB}", json=MEASURES)
    assert seed.status_code == 200, seed.text
    assert (seed.json()["species"], seed.json()["version"]) == ("Adelie", xgboost_version)
    v1 = xgb_server.client.post(f"/v1/models/{XGB}:predict", json={"instances": [MEASURES, GENTOO]})
    assert v1.json()["predictions"] == ["Adelie", "Gentoo"]
    v2 = xgb_server.client.post(f"/v2/models/{XGB}/infer", json={"inputs": [
        {"name": k, "datatype": "FP64", "shape": [2], "data": [MEASURES[k], GENTOO[k]]} for k in MEASURES
    ]})  # fmt: skip
    assert v2.status_code == 200, v2.text
    assert next(o for o in v2.json()["outputs"] if o["name"] == "predict")["data"] == ["Adelie", "Gentoo"]
    mlflow = xgb_server.client.post("/invocations", params={"model": XGB},
                                    json={"dataframe_records": [MEASURES, GENTOO]})  # fmt: skip
    assert mlflow.status_code == 200, mlflow.text
    assert mlflow.json()["predictions"] == ["Adelie", "Gentoo"]
    metrics = xgb_server.client.get("/metrics").text
    assert f'model="{XGB}"' in metrics and f'version="{xgboost_version}"' in metrics


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"bill_length_mm": "long"}, "bill_length_mm", "expected a number"),
        ({"body_mass_g": 1e9}, "body_mass_g", "outside the range"),
        ({"island": "Biscoe"}, "island", "unexpected field"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_as_for_the_pipelines(xgb_server, change, field, reason):
    response = xgb_server.client.post(f"/predict/{XGB}", json={**MEASURES, **change})
    assert response.status_code == 422, response.text
    details = {tuple(d["loc"])[-1]: d["msg"] for d in response.json()["details"]}
    assert reason in details[field], details


def test_missing_field_is_named(xgb_server):
    response = xgb_server.client.post(f"/predict/{XGB}", json={k: v for k, v in MEASURES.items() if k != "body_mass_g"})
    assert response.status_code == 422, response.text
    assert "body_mass_g" in response.text


def test_without_the_flavors_package_the_model_is_named_with_it_and_the_others_serve(
    tmp_path, trained, xgboost_version, mlflow_server
):
    launcher = [sys.executable, str(Path(__file__).with_name("without_packages_launcher.py"))]
    with start_server(tmp_path, [f"models:/{XGB}@champion", f"models:/{LR}@champion"], mlflow_server.url,
                      wait="open", launcher=launcher, MLKUBE_TEST_MISSING_PACKAGES="xgboost") as srv:  # fmt: skip
        import time

        deadline = time.monotonic() + 90
        states: dict = {}
        while time.monotonic() < deadline:
            states = {m["name"]: m for m in srv.client.get("/models").json()["models"]}
            if {s["state"] for s in states.values()} <= {"ready", "failed"}:
                break
            time.sleep(0.3)
        assert states[LR]["state"] == "ready"
        assert states[XGB]["state"] == "failed"
        assert "needs the Python package 'xgboost'" in states[XGB]["reason"], states[XGB]
        assert f'mlkube_model_load_failures_total{{model="{XGB}"}} 1.0' in srv.client.get("/metrics").text
