"""The V2 model repository API: off by default, behind a bearer token when on; a (re)load changes nothing until
the new version has loaded, then swaps it in without failing a request; failures touch neither the serving
version, nor readiness, nor (for made-up names) the metrics."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from mlkube_server import metric_names as m

from .conftest import AUTH, LR, PENGUIN, REPOSITORY_TOKEN, RF
from .conftest import metric_samples as _samples
from .conftest import metric_value as _value

CALLS = ("/v2/repository/index", f"/v2/repository/models/{LR}/load", f"/v2/repository/models/{LR}/unload")


def _load(server, name: str, uri: str | None = None) -> httpx.Response:
    body = {"parameters": {"uri": uri}} if uri else None
    return server.client.post(f"/v2/repository/models/{name}/load", json=body, headers=AUTH, timeout=120)


def _index(server) -> dict[str, dict]:
    return {entry["name"]: entry for entry in server.client.post("/v2/repository/index", headers=AUTH).json()}


def _assert_ready(server) -> None:
    for path in ("/v2/health/ready", "/health", "/ping"):
        assert server.client.get(path).status_code == 200, path


def test_the_repository_api_is_off_by_default(default_server):
    for path in CALLS:
        response = default_server.client.post(path, headers=AUTH)
        assert response.status_code == 403, response.text
        assert "repository API is off" in response.json()["error"]
        assert "MLKUBE_SERVER_REPOSITORY_API_TOKEN" in response.json()["error"]
    assert "model_repository" not in default_server.client.get("/v2").json()["extensions"]
    assert default_server.client.get(f"/v2/models/{LR}/ready").status_code == 200  # the unload did nothing


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789abcdef", f"Bearer {REPOSITORY_TOKEN[:-1]}", f"Basic {REPOSITORY_TOKEN}",
     "Bearer", REPOSITORY_TOKEN],
)  # fmt: skip
def test_every_repository_call_needs_the_bearer_token(server, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for path in CALLS:
        response = server.client.post(path, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["details"][0]["loc"] == ["header", "authorization"]
    assert server.client.get(f"/v2/models/{LR}/ready").status_code == 200  # the unload did nothing
    assert server.client.get("/v2").json()["extensions"][0] == "model_repository"


def test_unload_and_load_again(server, trained):
    assert _index(server)[LR]["state"] == "ready"
    assert server.client.post(f"/v2/repository/models/{LR}/unload", headers=AUTH).json()["unload"] is True
    try:
        gone = server.client.post(f"/predict/{LR}", json=PENGUIN)
        assert gone.status_code == 503 and "unloaded" in gone.json()["error"]
        assert server.client.get(f"/v2/models/{LR}/ready").status_code == 503
        assert server.client.get("/v2/health/ready").status_code == 200  # unloaded on purpose: not waited for
    finally:
        loaded = _load(server, LR)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["version"] == trained.penguins[LR].version
    assert server.client.post(f"/predict/{LR}", json=PENGUIN).status_code == 200


def test_a_failed_reload_keeps_the_previous_version_serving_and_the_server_ready(server, trained):
    version = trained.penguins[LR].version
    failures = {m.MODEL: LR}
    before = _samples(server)
    failed = _load(server, LR, "models:/does-not-exist@champion")
    assert failed.status_code == 422, failed.text
    body = failed.json()
    assert body["details"][0]["loc"] == ["body", "parameters", "uri"]
    assert "models:/does-not-exist@champion does not exist" in body["details"][0]["msg"]
    assert f"version {version} keeps serving" in body["error"]

    answer = server.client.post(f"/predict/{LR}", json=PENGUIN)
    assert answer.status_code == 200 and answer.headers["x-model-version"] == version
    _assert_ready(server)
    entry = _index(server)[LR]
    assert (entry["state"], entry["uri"], entry.get("reason")) == ("ready", f"models:/{LR}@champion", None)
    counted = _value(_samples(server), m.MODEL_LOAD_FAILURES_TOTAL, **failures)
    assert counted - _value(before, m.MODEL_LOAD_FAILURES_TOTAL, **failures) == 1

    again = _load(server, LR)  # a plain reload: the configured URI, not the one that failed
    assert again.status_code == 200 and again.json()["version"] == version, again.text


@pytest.mark.parametrize(
    ("body", "loc"),
    [({"parameters": {"uri": 5}}, ["body", "parameters", "uri"]),
     ({"parameters": {"uri": " "}}, ["body", "parameters", "uri"]),
     ({"parameters": "models:/x@y"}, ["body", "parameters"]),
     ([1], ["body"])],
)  # fmt: skip
def test_malformed_load_bodies_are_named(server, body, loc):
    response = server.client.post(f"/v2/repository/models/{LR}/load", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["loc"] == loc
    assert server.client.get(f"/v2/models/{LR}/ready").status_code == 200


def test_loading_an_unknown_name_touches_neither_readiness_nor_the_metrics(server):
    missing = server.client.post("/v2/repository/models/ghost/load", headers=AUTH)
    assert missing.status_code == 404 and "'ghost' not found" in missing.json()["error"]
    failed = _load(server, "ghost", "models:/ghost-model@champion")
    assert failed.status_code == 422, failed.text
    assert "ghost-model" in failed.json()["error"] and "keeps serving" not in failed.json()["error"]
    _assert_ready(server)
    assert "ghost" not in _index(server)
    assert not [s for s in _samples(server) if s.labels.get(m.MODEL) == "ghost"]
    assert server.client.post("/v2/repository/models/ghost/unload", headers=AUTH).status_code == 404


def test_a_new_name_serves_once_loaded_and_is_forgotten_when_unloaded(server, trained):
    added = _load(server, "lr-copy", f"models:/{LR}/{trained.penguins[LR].version}")
    assert added.status_code == 200, added.text
    answer = server.client.post("/predict/lr-copy", json=PENGUIN)
    assert answer.status_code == 200 and answer.json()["model"] == "lr-copy"
    _assert_ready(server)
    assert server.client.post("/v2/repository/models/lr-copy/unload", headers=AUTH).status_code == 200
    assert "lr-copy" not in _index(server)
    assert server.client.post("/predict/lr-copy", json=PENGUIN).status_code == 404
    _assert_ready(server)


def test_a_reload_under_load_fails_no_request(server, trained):
    """Four reloads of the random forest (the same URI twice, a version, the alias again) while eight clients
    keep predicting with it: every request is answered 200, by one version or the other."""
    stop = threading.Event()
    outcomes: list[tuple[float, float, int, str]] = []  # started, ended, status, body when not 200
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                started = time.monotonic()
                response = http.post(f"/predict/{RF}", json=PENGUIN)
                text = "" if response.status_code == 200 else response.text[:300]
                with lock:
                    outcomes.append((started, time.monotonic(), response.status_code, text))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    version = trained.penguins[RF].version
    windows = []
    try:
        time.sleep(0.5)
        for uri in (None, None, f"models:/{RF}/{version}", f"models:/{RF}@champion"):
            began = time.monotonic()
            reloaded = _load(server, RF, uri)
            windows.append((began, time.monotonic()))
            assert reloaded.status_code == 200 and reloaded.json()["version"] == version, reloaded.text
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    failed = [(status, text) for _, _, status, text in outcomes if status != 200]
    during = [o for o in outcomes if any(began <= o[0] and o[1] <= ended for began, ended in windows)]
    reload_seconds = sum(ended - began for began, ended in windows)
    assert not failed, f"{len(failed)} of {len(outcomes)} requests failed during the reloads: {failed[:5]}"
    assert len(during) >= 20, f"only {len(during)} requests ran inside the {reload_seconds:.2f} s of reloads"
    assert _index(server)[RF]["uri"] == f"models:/{RF}@champion"
