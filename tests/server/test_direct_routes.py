"""The V2 inference and V1 predict routes called by the serving middleware itself (api/direct.py) answer exactly as
FastAPI's route does: the same requests to a server with ``direct_routes`` off and one with it on (the default) give
the same status, body and headers, for good requests and for every hostile V2 and V1 case."""

from __future__ import annotations

import json

import httpx
import pytest

from mlkube_server.api import mlflow_scoring, repository, seed, v1, v2
from mlkube_server.api.direct import DirectRoutes, direct

from .conftest import DIGITS, PENGUIN, RF, session_models, start_server
from .test_hostile_inputs import HAND_MADE, JSON, _v2_columns

ROUTERS = (v2, repository, v1, mlflow_scoring, seed)
REQUEST_ID = {"x-request-id": "same-for-both"}
COMPARED_HEADERS = ("content-type", "content-length", "connection", "allow", "retry-after", "x-model-version")


@pytest.fixture(scope="module")
def fastapi_server(trained, mlflow_server, tmp_path_factory):
    """The default server's models and settings, with FastAPI calling the inference routes."""
    tmp = tmp_path_factory.mktemp("fastapi-routes")
    with start_server(tmp, session_models(trained), mlflow_server.url, MLKUBE_SERVER_DIRECT_ROUTES="false") as running:
        yield running


def _v2_good(**extra) -> bytes:
    return json.dumps({**_v2_columns(), "id": "r-1", **extra}).encode()


GOOD = [
    ("columns", "POST", f"/v2/models/{RF}/infer", _v2_good(), JSON),
    ("outputs chosen", "POST", f"/v2/models/{RF}/infer", _v2_good(outputs=[{"name": "predict"}]), JSON),
    ("binary output", "POST", f"/v2/models/{RF}/infer",
     _v2_good(outputs=[{"name": "predict_proba", "parameters": {"binary_data": True}}]), JSON),
    ("no content type", "POST", f"/v2/models/{RF}/infer", _v2_good(), {}),
    ("image", "POST", f"/v2/models/{DIGITS}/infer",
     json.dumps({"inputs": [{"name": "x", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.0] * 64}]}).encode(),
     JSON),
    ("unknown model", "POST", "/v2/models/no-such-model/infer", _v2_good(), JSON),
    ("percent-encoded name", "POST", "/v2/models/penguins%2Drandom%2Dforest/infer", _v2_good(), JSON),
    ("wrong content type", "POST", f"/v2/models/{RF}/infer", _v2_good(), {"content-type": "text/csv"}),
    ("not JSON", "POST", f"/v2/models/{RF}/infer", b"{oops", JSON),
    ("GET (405 from FastAPI in both)", "GET", f"/v2/models/{RF}/infer", None, {}),
    ("trailing slash", "POST", f"/v2/models/{RF}/infer/", _v2_good(), JSON),
    ("V1 instances", "POST", f"/v1/models/{RF}:predict", json.dumps({"instances": [PENGUIN]}).encode(), JSON),
    ("V1 unknown model", "POST", "/v1/models/nope:predict", json.dumps({"instances": [PENGUIN]}).encode(), JSON),
]  # fmt: skip
HOSTILE = [case[:5] for case in HAND_MADE if case[2].startswith(("/v2/models/", "/v1/models/"))]


def _answer(server, method: str, path: str, body: bytes | None, headers: dict) -> tuple:
    response: httpx.Response = server.client.request(method, path, content=body, headers={**headers, **REQUEST_ID})
    kept = {name: response.headers.get(name) for name in COMPARED_HEADERS}
    return response.status_code, response.content, kept


@pytest.mark.parametrize("case", GOOD + HOSTILE, ids=[case[0] for case in GOOD + HOSTILE])
def test_direct_and_fastapi_routes_answer_the_same(default_server, fastapi_server, case):
    _, method, path, body, headers = case
    assert _answer(default_server, method, path, body, headers) == _answer(fastapi_server, method, path, body, headers)


def test_versioned_inference_matches_too(default_server, fastapi_server):
    loaded = default_server.client.get(f"/v2/models/{RF}").json()["versions"][0]
    for version in (loaded, "999"):
        path = f"/v2/models/{RF}/versions/{version}/infer"
        direct_answer = _answer(default_server, "POST", path, _v2_good(), JSON)
        assert direct_answer == _answer(fastapi_server, "POST", path, _v2_good(), JSON)
        assert direct_answer[0] == (200 if version == loaded else 404)


def test_only_marked_routes_with_their_method_are_called_directly():
    routes = DirectRoutes(ROUTERS)
    call = routes("POST", "/v2/models/m/infer")
    assert call is not None and call.endpoint is v2.infer and call.path_params == {"name": "m"}
    versioned = routes("POST", "/v2/models/m/versions/3/infer")
    assert versioned is not None and versioned.path_params == {"name": "m", "version": "3"}
    assert routes("GET", "/v2/models/m/infer") is None  # FastAPI answers 405
    assert routes("POST", "/v1/models/m:predict").endpoint is v1.predict
    assert routes("POST", "/predict") is None  # not marked: FastAPI reads its body
    assert routes("POST", "/v2/models/m/infer/") is None


def test_a_route_that_needs_more_than_the_request_and_path_strings_cannot_be_marked():
    async def takes_a_number(request: httpx.Request, rows: int):  # noqa: ARG001
        raise AssertionError

    with pytest.raises(TypeError):
        direct(takes_a_number)
