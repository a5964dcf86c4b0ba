"""Prometheus metrics: names from metric_names, labels model/version/variant/revision/protocol/code, batching."""

from __future__ import annotations

import concurrent.futures

from mlkube_server import metric_names as m

from .conftest import GENTOO, LR, PENGUIN, RF, SERVER_REVISION, start_server
from .conftest import metric_samples as _samples
from .conftest import metric_value as _value


def test_request_counters_and_latency_by_model_version_variant_revision_protocol_code(server, trained):
    version = trained.penguins[RF].version
    before = _samples(server)
    labels = {m.MODEL: RF, m.VERSION: version, m.VARIANT: "canary", m.REVISION: SERVER_REVISION}
    answer = server.client.post("/predict", json=PENGUIN)
    assert answer.headers["X-Mlkube-Revision"] == SERVER_REVISION
    server.client.post(f"/v1/models/{RF}:predict", json={"instances": [PENGUIN]})
    server.client.post("/predict", json={**PENGUIN, "island": "Atlantis"})
    after = _samples(server)
    counter = m.REQUESTS_TOTAL
    for protocol, code, added in (("seed", "200", 1), ("v1", "200", 1), ("seed", "422", 1)):
        want = {**labels, m.PROTOCOL: protocol, m.CODE: code}
        assert _value(after, counter, **want) - _value(before, counter, **want) == added, want
    histogram_count = m.REQUEST_DURATION_SECONDS + "_count"
    want = {**labels, m.PROTOCOL: "seed", m.CODE: "200"}
    assert _value(after, histogram_count, **want) - _value(before, histogram_count, **want) == 1
    for name in (counter, histogram_count):
        assert {tuple(sorted(s.labels)) for s in after if s.name == name} == {tuple(sorted(m.SERVING_LABELS))}


def test_unknown_models_do_not_create_label_values(server):
    server.client.post("/predict/made-up-name", json=PENGUIN)
    samples = _samples(server)
    assert not [s for s in samples if s.labels.get(m.MODEL) == "made-up-name"]
    assert _value(samples, m.REQUESTS_TOTAL, **{m.MODEL: "", m.CODE: "404"}) >= 1


def test_predictions_by_class_and_model_load_gauges(server, trained):
    version = trained.penguins[LR].version
    before = _samples(server)
    server.client.post(f"/predict/batch?model={LR}", json={"penguins": [PENGUIN, GENTOO, GENTOO]})
    after = _samples(server)
    name = m.PREDICTIONS_TOTAL
    for species, added in (("Adelie", 1), ("Gentoo", 2)):
        want = {m.MODEL: LR, m.VERSION: version, m.VARIANT: "canary", m.REVISION: SERVER_REVISION,
                m.PREDICTED_CLASS: species}  # fmt: skip
        assert _value(after, name, **want) - _value(before, name, **want) == added
    loaded = {m.MODEL: LR, m.VERSION: version, m.ALIAS: "champion", m.REVISION: SERVER_REVISION}
    assert _value(after, m.MODEL_LOADED, **loaded) == 1
    assert _value(after, m.MODEL_LOAD_DURATION_SECONDS, **{m.MODEL: LR, m.VERSION: version}) > 0
    assert any(s.name == m.INFLIGHT_REQUESTS and s.labels[m.MODEL] == LR for s in after)


def test_concurrent_requests_are_coalesced_into_batches(server, trained):
    version = trained.penguins[RF].version
    count = m.BATCH_SIZE + "_count"
    total = m.BATCH_SIZE + "_sum"
    before = _samples(server)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda _: server.client.post("/predict", json=PENGUIN), range(64)))
    assert all(r.status_code == 200 for r in responses)
    after = _samples(server)
    labels = {m.MODEL: RF, m.VERSION: version}
    rows = _value(after, total, **labels) - _value(before, total, **labels)
    calls = _value(after, count, **labels) - _value(before, count, **labels)
    assert rows == 64
    assert calls < 64, "64 concurrent single-row requests never shared a predict call"


def test_structured_json_logs_carry_the_request_id(server):
    import json
    import time

    server.client.post("/predict", json=PENGUIN, headers={"X-Request-ID": "trace-me-42"})
    mine: list = []
    deadline = time.monotonic() + 10
    while not mine and time.monotonic() < deadline:  # the access line is written just after the response
        lines = [json.loads(line) for line in server.log().splitlines()[1:] if line.startswith("{")]
        mine = [entry for entry in lines if entry.get("request_id") == "trace-me-42"]
        time.sleep(0.1)
    assert mine and mine[-1]["status"] == 200 and mine[-1]["model"] == RF


def test_every_class_has_a_zero_series_before_the_first_prediction(trained, mlflow_server, tmp_path):
    """A canary's first answers must show in the scrape right after them: rate() needs an earlier sample."""
    version = trained.penguins[LR].version
    with start_server(tmp_path, [f"models:/{LR}@champion"], mlflow_server.url, MLKUBE_REVISION="fresh") as fresh:
        samples = _samples(fresh)
    series = {
        s.labels[m.PREDICTED_CLASS]: s.value
        for s in samples
        if s.name == m.PREDICTIONS_TOTAL and s.labels[m.MODEL] == LR and s.labels[m.VERSION] == version
    }
    assert series == {"Adelie": 0, "Chinstrap": 0, "Gentoo": 0}


def test_models_pending_counts_the_loads_that_have_not_settled():
    """The rollout analysis counts a canary pod's loaded models only once this gauge is 0 (read at each scrape)."""
    from prometheus_client import CollectorRegistry

    from mlkube_server.batching import ArrivalGate
    from mlkube_server.metrics import ServerMetrics
    from mlkube_server.repository import ModelRepository, State
    from mlkube_server.settings import ServerSettings

    registry = CollectorRegistry()
    settings = ServerSettings(models={"a": "models:/a@champion", "b": "models:/b@champion", "c": "models:/c@champion"})
    repository = ModelRepository(settings, ServerMetrics("stable", "abc123", registry), ArrivalGate())

    def pending() -> float | None:
        return registry.get_sample_value(m.MODELS_PENDING, {m.REVISION: "abc123"})

    assert pending() == 3
    for state, expected in ((State.LOADING, 3), (State.READY, 2)):
        repository.entries["a"].state = state
        assert pending() == expected
    repository.entries["b"].state = State.FAILED
    repository.entries["c"].state = State.UNLOADED
    assert pending() == 0
    repository.entries["b"].retrying = True  # failed on an unreachable MLflow: its retry is still to come
    assert pending() == 1


def test_a_load_that_failed_on_an_unreachable_mlflow_stays_unsettled_until_its_retry_loads_it(monkeypatch):
    """A canary pod whose load lost a race with an MLflow restart must not count as one that cannot load the
    version (models-loaded below 1 aborts the rollout); a version that does not exist settles at once."""
    import asyncio

    from prometheus_client import CollectorRegistry

    from mlkube_server import repository as repo
    from mlkube_server.batching import ArrivalGate
    from mlkube_server.metrics import ServerMetrics
    from mlkube_server.settings import ServerSettings

    outcomes = {"down": [repo.MlflowUnreachable("model down: cannot reach MLflow")], "gone": [repo.ModelLoadError("x")]}

    async def build(self, name, uri):  # the loader's outcome per model, without MLflow
        raise outcomes[name].pop(0)

    monkeypatch.setattr(repo.ModelRepository, "_build", build)
    settings = ServerSettings(models={"down": "models:/down@champion", "gone": "models:/gone/9"})
    repository = repo.ModelRepository(settings, ServerMetrics("canary", "abc123", CollectorRegistry()), ArrivalGate())
    asyncio.run(repository.load_all())
    assert {n: (e.state, e.settled) for n, e in repository.entries.items()} == {
        "down": (repo.State.FAILED, False),
        "gone": (repo.State.FAILED, True),
    }
    assert repository.pending_count == 1
