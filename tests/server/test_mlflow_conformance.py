"""MLflow's scoring protocol as ``mlflow models serve`` answers it, and an OpenAPI document that says what the
server answers.

The same requests go to the server and to MLflow's own scoring server (``mlflow models serve --env-manager local``
on the same registered model): same statuses, same predictions, same error codes, same 415 text. MLflow's own
client (``ScoringServerClient``) talks to both.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pandas as pd
import pytest

from tests.support.mlflow_server import MlflowServer
from tests.support.processes import ManagedProcess, free_port, wait_for_http

from .conftest import (
    AUTH,
    DIGITS,
    GENTOO,
    HOST,
    LR,
    PENGUIN,
    RF,
    RunningServer,
    Trained,
    server_env,
    start_server,
)

MLFLOW_CLI = Path(sys.executable).parent / "mlflow"
ROWS = [PENGUIN, GENTOO]
EXPECTED = ["Adelie", "Gentoo"]
BAD_REQUEST = {"error_code": "BAD_REQUEST", "sqlstate": "KAM00", "error_class": "INVALID_PARAMETER_VALUE"}


@dataclass
class MlflowServe:
    url: str
    client: httpx.Client


@pytest.fixture(scope="module")
def mlflow_serve(trained: Trained, mlflow_server: MlflowServer, tmp_path_factory) -> Iterator[MlflowServe]:
    """MLflow's own scoring server on the server's default model (the random forest at its champion alias)."""
    tmp = tmp_path_factory.mktemp("mlflow-serve")
    port = free_port(HOST)
    argv = [str(MLFLOW_CLI), "models", "serve", "-m", f"models:/{RF}@champion", "--env-manager", "local",
            "--host", HOST, "--port", str(port)]  # fmt: skip
    env = server_env(mlflow_server.url)
    env["PATH"] = f"{MLFLOW_CLI.parent}{os.pathsep}{env.get('PATH', '')}"  # it runs "uvicorn" from the PATH
    process = ManagedProcess("mlflow models serve", argv, tmp / "mlflow-serve.log", env=env)
    url = f"http://{HOST}:{port}"
    try:
        wait_for_http(f"{url}/ping", timeout=180, process=process)
        with httpx.Client(base_url=url, timeout=60) as client:
            yield MlflowServe(url, client)
    finally:
        process.stop()


def _frame(rows: list[dict] = ROWS, **index) -> pd.DataFrame:
    return pd.DataFrame(rows, **index)


def _both(server: RunningServer, mlflow_serve: MlflowServe, body: bytes, content_type: str | None):
    headers = {"content-type": content_type} if content_type is not None else {}
    ours = server.client.post("/invocations", content=body, headers=headers)
    theirs = mlflow_serve.client.post("/invocations", content=body, headers=headers)
    return ours, theirs


def _same_predictions(ours: httpx.Response, theirs: httpx.Response) -> list:
    assert theirs.status_code == 200, theirs.text[:500]
    assert ours.status_code == 200, ours.text[:500]
    assert ours.json()["predictions"] == theirs.json()["predictions"]
    return ours.json()["predictions"]


def _same_error(ours: httpx.Response, theirs: httpx.Response, status: int = 400) -> dict:
    assert (ours.status_code, theirs.status_code) == (status, status), (ours.text[:500], theirs.text[:500])
    assert ours.headers["content-type"] == theirs.headers["content-type"] == "application/json"
    mine, reference = ours.json(), theirs.json()
    for key in ("error_code", "sqlstate", "error_class"):
        assert mine.get(key) == reference.get(key), (key, mine, reference)
    assert isinstance(mine["message"], str) and mine["message"]
    assert "Traceback" not in ours.text
    return mine


# -- MLflow's own client -------------------------------------------------------------------------------


def test_mlflows_scoring_client_gets_the_same_answers(server, mlflow_serve):
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient
    from mlflow.version import VERSION

    clients = [ScoringServerClient(*s.url.removeprefix("http://").split(":")) for s in (server, mlflow_serve)]
    inputs = [
        _frame(),
        _frame(index=[17, 3]),  # dataframe_split with its "index"
        _frame([{**row, "ring_id": 7} for row in ROWS]),  # a column the signature does not name
        [dict(row) for row in ROWS],  # {"inputs": [{...}, {...}]}
    ]
    for client in clients:
        client.ping()
        assert client.get_version() == VERSION
        for data in inputs:
            response = client.invoke(data)
            assert response.get_predictions(predictions_format="ndarray").tolist() == EXPECTED, data
    ours = clients[0].invoke(_frame())
    assert ours["model_name"] == RF and ours.get_predictions()[0].tolist() == EXPECTED


# -- what /invocations reads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "csv",
    [
        _frame().to_csv(),  # with the index column: ",island,..." -> "Unnamed: 0"
        _frame(index=[40, 41]).to_csv(),
        _frame().rename_axis("row").to_csv(),  # a named index: an extra column "row"
        _frame().to_csv(index=False),
        _frame()[list(reversed(list(PENGUIN)))].to_csv(),  # columns in another order
    ],
    ids=["index", "other-index", "named-index", "no-index", "reordered"],
)
def test_csv_as_dataframe_to_csv_writes_it(server, mlflow_serve, csv):
    ours, theirs = _both(server, mlflow_serve, csv.encode(), "text/csv")
    assert _same_predictions(ours, theirs) == EXPECTED
    assert ours.json()["model_version"] and ours.json()["model_name"] == RF


def test_csv_with_charset_and_a_missing_value(server, mlflow_serve):
    ours, theirs = _both(server, mlflow_serve, _frame().to_csv().encode(), "text/csv; charset=utf-8")
    _same_predictions(ours, theirs)
    gap = _frame().to_csv().replace("39.1", "")  # a missing required number: refused with the field named
    response = server.client.post("/invocations", content=gap, headers={"content-type": "text/csv"})
    body = response.json()
    assert response.status_code == 400 and body["error_code"] == "BAD_REQUEST", body
    assert ["body", "csv", 0, "bill_length_mm"] in [d["loc"] for d in body["details"]]


def test_parquet_as_dataframe_to_parquet_writes_it(server, mlflow_serve):
    for frame in (_frame(), _frame(index=[5, 9]), _frame([{**row, "extra": 1.5} for row in ROWS])):
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        ours, theirs = _both(server, mlflow_serve, buffer.getvalue(), "application/vnd.apache.parquet")
        assert _same_predictions(ours, theirs) == EXPECTED
    ours, theirs = _both(server, mlflow_serve, b"PAR1 not really", "application/vnd.apache.parquet")
    assert "Parquet" in _same_error(ours, theirs)["message"]


def test_parquet_without_pyarrow_is_refused_415(tmp_path, trained, mlflow_server):
    """The image has no pyarrow (MLflow's full distribution brings it): Parquet is then a content type this
    server cannot take, and it says so; CSV and JSON still work."""
    launcher = [sys.executable, str(Path(__file__).with_name("without_packages_launcher.py"))]
    buffer = io.BytesIO()
    _frame().to_parquet(buffer)
    with start_server(tmp_path, [f"models:/{RF}@champion"], mlflow_server.url, launcher=launcher,
                      MLKUBE_TEST_MISSING_PACKAGES="pyarrow") as bare:  # fmt: skip
        parquet = bare.client.post(
            "/invocations", content=buffer.getvalue(), headers={"content-type": "application/vnd.apache.parquet"}
        )
        assert parquet.status_code == 415 and parquet.headers["content-type"] == "text/plain; charset=utf-8"
        assert "pyarrow is not installed" in parquet.text
        csv = bare.client.post("/invocations", content=_frame().to_csv(), headers={"content-type": "text/csv"})
        assert csv.status_code == 200 and csv.json()["predictions"] == EXPECTED
        assert "Traceback" not in bare.log()


def test_parquet_rows_over_the_limit_are_refused_before_reading(server):
    buffer = io.BytesIO()
    _frame([PENGUIN] * 101).to_parquet(buffer)
    response = server.client.post(
        "/invocations", content=buffer.getvalue(), headers={"content-type": "application/vnd.apache.parquet"}
    )
    assert response.status_code == 413 and "101 rows exceed" in response.json()["message"]


def test_every_json_format_and_what_mlflow_ignores(server, mlflow_serve):
    columns = list(PENGUIN)
    bodies = [
        {"dataframe_split": _frame().to_dict(orient="split")},  # with "index", as MLflow's client sends it
        {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in ROWS]}},
        {"dataframe_records": ROWS},
        {"instances": ROWS},
        {"inputs": ROWS},
        {"inputs": {c: [r[c] for r in ROWS] for c in columns}},
        {"dataframe_records": ROWS, "params": {}},
        {"dataframe_records": ROWS, "comment": "ignored by MLflow"},  # a top-level field MLflow drops
        {"dataframe_records": [{**r, "ring_id": 3} for r in ROWS]},  # a column MLflow ignores
        {"dataframe_split": {"columns": [*columns, "ring_id"], "data": [[*[r[c] for c in columns], 1] for r in ROWS]}},
    ]
    for body in bodies:
        ours, theirs = _both(server, mlflow_serve, json.dumps(body).encode(), "application/json")
        assert _same_predictions(ours, theirs) == EXPECTED, body


# -- how /invocations refuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["application/xml", "text/plain", "application/x-www-form-urlencoded", "application/merge-patch+json",
     "application/json; charset=latin-1", "text/csv; charset=utf-16", "application/json; format=pandas-split",
     "text/csv; header=present; charset=utf-8"],
)  # fmt: skip
def test_refused_content_types_answer_415_in_mlflows_words(server, mlflow_serve, content_type):
    ours, theirs = _both(server, mlflow_serve, json.dumps({"dataframe_records": ROWS}).encode(), content_type)
    assert (ours.status_code, theirs.status_code) == (415, 415)
    assert ours.headers["content-type"] == theirs.headers["content-type"] == "text/plain; charset=utf-8"
    assert ours.text == theirs.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"dataframe_records": [', "application/json"),
        (b"", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (json.dumps({"dataframe_records": ROWS, "instances": ROWS}).encode(), "application/json"),
        (json.dumps({"records": ROWS}).encode(), "application/json"),
        (json.dumps({"dataframe_split": {"data": [[1]], "columns": ["a"], "orient": "split"}}).encode(),
         "application/json"),
        (json.dumps({"dataframe_records": {"island": "Biscoe"}}).encode(), "application/json"),
        ("island,bill_length_mm\nBiscoe,39.1\n".encode("utf-16"), "text/csv"),
        (_frame().to_csv().replace("39.1", "long").encode(), "text/csv"),
        (b"", "text/csv"),
    ],
    ids=["truncated JSON", "empty JSON", "a list", "a string", "two formats", "no format", "split with an odd key",
         "records as an object", "CSV in UTF-16", "text in a number column", "empty CSV"],
)  # fmt: skip
def test_bad_input_answers_400_in_mlflows_shape(server, mlflow_serve, body, content_type):
    ours, theirs = _both(server, mlflow_serve, body, content_type)
    _same_error(ours, theirs)


def test_invalid_fields_answer_400_naming_them(server):
    rows = [PENGUIN, {**GENTOO, "island": "Atlantis", "body_mass_g": "heavy"}]
    response = server.client.post("/invocations", json={"dataframe_records": rows})
    body = response.json()
    assert response.status_code == 400 and body["error_code"] == "BAD_REQUEST", body
    assert {k: body[k] for k in BAD_REQUEST} == BAD_REQUEST
    locs = [d["loc"] for d in body["details"]]
    assert ["body", "dataframe_records", 1, "island"] in locs
    assert ["body", "dataframe_records", 1, "body_mass_g"] in locs
    missing = server.client.post("/invocations", json={"dataframe_records": [{"island": "Biscoe"}]})
    assert missing.status_code == 400  # MLflow answers a missing column with a 500
    assert ["body", "dataframe_records", 0, "bill_length_mm"] in [d["loc"] for d in missing.json()["details"]]
    empty = server.client.post("/invocations", json={"dataframe_records": []})
    assert empty.status_code == 400 and "empty" in empty.json()["message"]


def test_other_errors_in_mlflows_shape(server):
    unknown = server.client.post("/invocations", params={"model": "ghost"}, json={"dataframe_records": ROWS})
    body = unknown.json()
    assert unknown.status_code == 404 and body["error_code"] == "RESOURCE_DOES_NOT_EXIST", body
    assert RF in body["message"] and LR in body["message"]
    wrong_method = server.client.get("/invocations")
    assert wrong_method.status_code == 405 and wrong_method.json()["error_code"] == "BAD_REQUEST"
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", "/invocations")
        conn.putheader("content-type", "application/json")
        conn.putheader("content-length", str(64 * 1024 * 1024))
        conn.endheaders()
        answer = conn.getresponse()
        too_large = json.loads(answer.read())
        assert answer.status == 413 and too_large["error_code"] == "BAD_REQUEST", too_large
    finally:
        conn.close()


def test_image_model_through_invocations(server):
    from sklearn.datasets import load_digits

    images = load_digits().images[:3].reshape(3, 1, 8, 8).tolist()
    response = server.client.post("/invocations", params={"model": DIGITS}, json={"instances": images})
    assert response.status_code == 200, response.text
    assert response.json()["model_name"] == DIGITS and len(response.json()["predictions"]) == 3
    csv = server.client.post("/invocations", params={"model": DIGITS}, content=b"a\n1\n",
                             headers={"content-type": "text/csv"})  # fmt: skip
    assert csv.status_code == 400 and "takes images" in csv.json()["message"]


# -- /ping and /version ----------------------------------------------------------------------------------


def test_ping_and_version_answer_as_mlflow(server, mlflow_serve):
    from mlflow.version import VERSION

    for path in ("/ping", "/version"):
        ours, theirs = server.client.get(path), mlflow_serve.client.get(path)
        assert (ours.status_code, theirs.status_code) == (200, 200)
        assert ours.text == theirs.text, path
        # MLflow labels both application/json although neither body is JSON; this server says text/plain.
        assert ours.headers["content-type"] == "text/plain; charset=utf-8"
    assert server.client.get("/version").text == VERSION


# -- what the server copies from MLflow ------------------------------------------------------------------


def test_the_copied_constants_are_mlflows():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode
    from mlflow.pyfunc import scoring_server
    from mlflow.types.schema import DataType

    from mlkube_server.api import mlflow_scoring
    from mlkube_server.errors import MLFLOW_CLASSIFICATION, MLFLOW_ERROR_CODES

    assert mlflow_scoring.CONTENT_TYPES == scoring_server.CONTENT_TYPES
    assert mlflow_scoring.SCORING_PROTOCOL_CHANGE_INFO == scoring_server.SCORING_PROTOCOL_CHANGE_INFO
    assert set(mlflow_scoring.FORMATS) == scoring_server.SUPPORTED_FORMATS
    assert {t.name: t.to_pandas() for t in DataType} == {
        name: (object if dtype is object else pd.api.types.pandas_dtype(dtype))
        for name, dtype in mlflow_scoring.PANDAS_TYPES.items()
    }
    for code, (sqlstate, error_class) in MLFLOW_CLASSIFICATION.items():
        reference = MlflowException("m", error_code=ErrorCode.Value(code))
        assert (reference.sqlstate, reference.error_class) == (sqlstate, error_class), code
    for status, code in MLFLOW_ERROR_CODES.items():
        assert MlflowException("m", error_code=ErrorCode.Value(code)).get_http_status_code() == status


# -- the OpenAPI document --------------------------------------------------------------------------------


def _operations(spec: dict) -> dict[str, dict]:
    return {f"{method.upper()} {path}": op for path, item in spec["paths"].items() for method, op in item.items()}


def test_openapi_lists_every_operation_with_its_statuses_and_media_types(server):
    from mlkube_server.api.docs import ERRORS

    spec = server.client.get("/openapi.json").json()
    operations = _operations(spec)
    assert set(operations) == set(ERRORS), set(operations) ^ set(ERRORS)
    for key, op in operations.items():
        documented = {int(code) for code in op["responses"]}
        assert documented == {200, *ERRORS[key]}, key
        for code, response in op["responses"].items():
            assert response.get("content"), (key, code)
    assert "HTTPValidationError" not in json.dumps(spec)  # FastAPI's 422 body, which this server never sends
    assert list(operations["GET /metrics"]["responses"]["200"]["content"]) == [
        server.client.get("/metrics").headers["content-type"]
    ]
    invocations = operations["POST /invocations"]
    assert set(invocations["requestBody"]["content"]) == {"application/json", "text/csv",
                                                          "application/vnd.apache.parquet"}  # fmt: skip
    assert "422" not in invocations["responses"]
    assert list(invocations["responses"]["415"]["content"]) == ["text/plain; charset=utf-8"]


def _media(spec_op: dict, status: int) -> list[str]:
    return list(spec_op["responses"].get(str(status), {}).get("content", {}))


def test_what_the_server_answers_is_documented(server, trained):
    """Many requests to every operation, most of them wrong in some way: each answer's status and media type
    must be in the document for that operation. Nothing that loads or unloads a model is sent."""
    spec = server.client.get("/openapi.json").json()
    version = trained.penguins[RF].version
    host, port = server.url.removeprefix("http://").split(":")
    seen: dict[str, set[int]] = {}
    undocumented: list[str] = []

    def check(key: str, op: dict, response_status: int, media: str, what: str) -> None:
        seen.setdefault(key, set()).add(response_status)
        if media.split(";")[0] == "application/json":
            allowed = [m for m in _media(op, response_status) if m.startswith("application/json")]
        else:
            allowed = [m for m in _media(op, response_status) if m == media]
        if not allowed:
            undocumented.append(f"{key} ({what}) -> {response_status} {media}")

    for key, op in _operations(spec).items():
        method, path = key.split(" ", 1)
        repository = path.startswith("/v2/repository")
        for name in ("ghost",) if repository and path != "/v2/repository/index" else (RF, "ghost"):
            url = path.replace("{name}", quote(name)).replace("{model_name}", quote(name))
            url = url.replace("{version}", version)
            query = {p["name"]: name for p in op.get("parameters", []) if p["in"] == "query"}
            if method == "GET":
                attempts = [("plain", {}, None)]
            else:
                example = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
                attempts = [
                    ("truncated JSON", {"content-type": "application/json"}, b'{"a": '),
                    ("a list", {"content-type": "application/json"}, b"[1]"),
                    ("empty object", {"content-type": "application/json"}, b"{}"),
                    ("XML", {"content-type": "application/xml"}, b"<a/>"),
                    ("form", {"content-type": "application/x-www-form-urlencoded"}, b"a=1"),
                ]
                if example is not None and not repository:
                    attempts.append(("the example", {"content-type": "application/json"}, json.dumps(example).encode()))
            for what, headers, body in attempts:
                for auth in ({}, AUTH) if repository else ({},):
                    response = server.client.request(
                        method, url, params=query, content=body, headers={**headers, **auth}
                    )
                    check(key, op, response.status_code, response.headers.get("content-type", ""), f"{what}, {name}")
            if method == "POST":
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                try:
                    conn.putrequest("POST", url)
                    conn.putheader("content-type", "application/json")
                    conn.putheader("content-length", str(64 * 1024 * 1024))
                    conn.endheaders()
                    answer = conn.getresponse()
                    answer.read()
                    check(key, op, answer.status, answer.getheader("content-type", ""), "oversized")
                finally:
                    conn.close()
    wrong = server.client.get(f"/v1/models/{RF}:predict")
    check("GET /v1/models/{name}", _operations(spec)["GET /v1/models/{name}"], wrong.status_code,
          wrong.headers["content-type"], "GET on :predict")  # fmt: skip
    assert not undocumented, "\n".join(undocumented)
    assert seen["POST /invocations"] >= {400, 404, 413, 415}
    assert seen["GET /v1/models/{name}"] >= {200, 404, 405}
    assert server.client.get("/v2/health/ready").status_code == 200  # nothing was unloaded


def test_request_schemas_refuse_what_the_server_refuses(server):
    spec = server.client.get("/openapi.json").json()
    operations = _operations(spec)

    def schema(key: str) -> dict:
        found = operations[key]["requestBody"]["content"]["application/json"]["schema"]
        return spec["components"]["schemas"][found["$ref"].rsplit("/", 1)[1]] if "$ref" in found else found

    batch = schema("POST /predict/batch")
    assert batch["additionalProperties"] is False and batch["properties"]["penguins"]["minItems"] == 1
    records = next(s for s in schema("POST /predict")["oneOf"] if "properties" in s)
    assert records["additionalProperties"] is False and records["properties"]["records"]["minItems"] == 1
    assert spec["components"]["schemas"]["Features"]["additionalProperties"] is False
    assert schema("POST /v1/models/{name}:predict")["properties"]["instances"]["minItems"] == 1
    assert schema("POST /v2/models/{name}/infer")["properties"]["inputs"]["minItems"] == 1
    assert schema("POST /invocations")["properties"]["dataframe_records"]["minItems"] == 1
    refusals = [
        ("/predict/batch", {"penguins": []}, 422),
        ("/predict/batch", {"penguins": [PENGUIN], "model": RF}, 422),
        ("/predict", {"records": []}, 422),
        ("/predict", {"records": [PENGUIN], "note": 1}, 422),
        ("/predict", {**PENGUIN, "beak_color": "red"}, 422),
        (f"/v1/models/{RF}:predict", {"instances": []}, 422),
        (f"/v2/models/{RF}/infer", {"inputs": []}, 422),
        ("/invocations", {"dataframe_records": []}, 400),
        ("/invocations", {"dataframe_split": {"columns": list(PENGUIN), "data": []}}, 400),
    ]
    for path, body, status in refusals:
        assert server.client.post(path, json=body).status_code == status, (path, body)
    # and what the document leaves open, the server takes
    accepted = [
        ("/predict/compare", {"records": [PENGUIN], "note": 1}),
        ("/invocations", {"dataframe_records": [PENGUIN], "note": 1}),
        (f"/v1/models/{RF}:predict", {"instances": [PENGUIN], "note": 1}),
    ]
    for path, body in accepted:
        assert server.client.post(path, json=body).status_code == 200, (path, body)
