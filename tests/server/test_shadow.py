"""Shadow traffic between two real servers: the stable copies answered predictions to a candidate and
counts, per row, whether the candidate's label agrees. The candidate serves the logistic regression under
the random forest's name: another real model version that disagrees on some rows."""

from __future__ import annotations

import itertools
import time

import pytest

from mlkube_server import metric_names as m
from tests.support.processes import free_port

from .conftest import LR, PENGUIN, RF, RunningServer, metric_samples, metric_value, start_server
from .delaying_proxy import delaying_proxy

STABLE_REVISION, CANDIDATE_REVISION = "5f4d3c2b1", "9a8b7c6d5"
SHADOW_FAMILY = m.SHADOW_COMPARISONS_TOTAL.removesuffix("_total")
# Rows between the species, where two different models are most likely to answer differently.
ROWS = [
    {"island": island, "bill_length_mm": length, "bill_depth_mm": depth, "flipper_length_mm": flipper,
     "body_mass_g": mass, "sex": sex}
    for island, length, (depth, flipper, mass), sex in itertools.product(
        ("Biscoe", "Dream", "Torgersen"), (40.0, 44.0, 48.0), ((15.0, 215.0, 5000.0), (17.5, 198.0, 4000.0)),
        ("male", "female"),
    )
]  # fmt: skip


def shadow_env(url: str, revision: str = STABLE_REVISION, fraction: str = "1", **extra: str) -> dict[str, str]:
    return {"MLKUBE_REVISION": revision, "MLKUBE_SERVER_SHADOW_URL": url,
            "MLKUBE_SERVER_SHADOW_FRACTION": fraction, **extra}  # fmt: skip


@pytest.fixture(scope="module")
def candidate(trained, mlflow_server, tmp_path_factory):
    with start_server(tmp_path_factory.mktemp("candidate"), [f"{RF}=models:/{LR}@champion"], mlflow_server.url,
                      MLKUBE_REVISION=CANDIDATE_REVISION, MLKUBE_VARIANT="canary") as running:  # fmt: skip
        yield running


def _comparisons(server: RunningServer, **labels: str) -> float:
    return metric_value(metric_samples(server), m.SHADOW_COMPARISONS_TOTAL, **labels)


def _wait_for(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def _infer_requests(candidate: RunningServer) -> float:
    samples = metric_samples(candidate)
    return metric_value(samples, m.REQUESTS_TOTAL, **{m.MODEL: RF, m.PROTOCOL: "v2"})


def test_agreement_per_row_is_counted_on_the_stable_with_both_versions(tmp_path, trained, mlflow_server, candidate):
    version, candidate_version = trained.penguins[RF].version, trained.penguins[LR].version
    with start_server(tmp_path, [f"models:/{RF}@champion"], mlflow_server.url, **shadow_env(candidate.url)) as stable:
        ours = stable.client.post("/predict/batch", json={"penguins": ROWS}).json()["predictions"]
        theirs = candidate.client.post("/predict/batch", json={"penguins": ROWS}).json()["predictions"]
        expected_agree = sum(a["species"] == b["species"] for a, b in zip(ours, theirs, strict=True))
        assert 0 < expected_agree < len(ROWS), "the rows should make the two models agree and disagree"
        # every protocol is copied, once per request: seed (twice, with the batch above), V1, MLflow, V2
        answers = [
            stable.client.post("/predict", json=PENGUIN),
            stable.client.post(f"/v1/models/{RF}:predict", json={"instances": ROWS}),
            stable.client.post("/invocations", json={"dataframe_records": ROWS}),
            stable.client.post(f"/v2/models/{RF}/infer", json={"inputs": [
                {"name": key, "shape": [len(ROWS)], "datatype": "BYTES" if isinstance(ROWS[0][key], str) else "FP64",
                 "data": [row[key] for row in ROWS]} for key in ROWS[0]]}),
        ]  # fmt: skip
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert all(a.headers["X-Mlkube-Revision"] == STABLE_REVISION for a in answers)
        rows_copied = 1 + 4 * len(ROWS)
        labels = {
            m.MODEL: RF,
            m.VERSION: version,
            m.REVISION: STABLE_REVISION,
            m.CANDIDATE_VERSION: candidate_version,
            m.CANDIDATE_REVISION: CANDIDATE_REVISION,
        }
        _wait_for(lambda: _comparisons(stable, **labels) >= rows_copied)
        samples = metric_samples(stable)
    agree = metric_value(samples, m.SHADOW_COMPARISONS_TOTAL, **labels, **{m.OUTCOME: "agree"})
    disagree = metric_value(samples, m.SHADOW_COMPARISONS_TOTAL, **labels, **{m.OUTCOME: "disagree"})
    assert agree + disagree == rows_copied
    assert 4 * expected_agree <= agree <= 4 * expected_agree + 1  # + the single penguin, if the models agree on it
    outcomes = {s.labels[m.OUTCOME] for s in samples if s.name == m.SHADOW_COMPARISONS_TOTAL}
    assert outcomes == {"agree", "disagree"}


def test_a_candidate_that_is_down_counts_errors_and_callers_never_see_them(tmp_path, trained, mlflow_server):
    dead = f"http://127.0.0.1:{free_port()}"
    with start_server(tmp_path, [f"models:/{RF}@champion"], mlflow_server.url, **shadow_env(dead)) as stable:
        answers = [stable.client.post("/predict", json=PENGUIN) for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5
        error = {m.MODEL: RF, m.CANDIDATE_VERSION: "", m.CANDIDATE_REVISION: "", m.OUTCOME: "error"}
        _wait_for(lambda: _comparisons(stable, **error) >= 5)
        assert _comparisons(stable, **error) == 5
        failures = [line for line in stable.log().splitlines() if "shadow copy of" in line]
        assert len(failures) == 1, failures  # rate-limited: one line for the burst


def test_fraction_zero_sends_nothing(tmp_path, mlflow_server, candidate):
    before = _infer_requests(candidate)
    env = shadow_env(candidate.url, fraction="0")
    with start_server(tmp_path, [f"models:/{RF}@champion"], mlflow_server.url, **env) as stable:
        for _ in range(5):
            assert stable.client.post("/predict", json=PENGUIN).status_code == 200
        time.sleep(1)
        assert not [s for s in metric_samples(stable) if s.name.startswith(SHADOW_FAMILY)]
    assert _infer_requests(candidate) == before


def test_a_candidate_of_the_same_revision_is_not_compared_and_pauses_shadowing(tmp_path, mlflow_server, candidate):
    env = shadow_env(candidate.url, revision=CANDIDATE_REVISION)
    with start_server(tmp_path, [f"models:/{RF}@champion"], mlflow_server.url, **env) as stable:
        before = _infer_requests(candidate)
        assert stable.client.post("/predict", json=PENGUIN).status_code == 200
        _wait_for(lambda: _infer_requests(candidate) > before)
        time.sleep(0.5)  # the answer is back: shadowing is paused
        for _ in range(5):
            assert stable.client.post("/predict", json=PENGUIN).status_code == 200
        time.sleep(1)
        assert _infer_requests(candidate) == before + 1
        assert not [s for s in metric_samples(stable) if s.name.startswith(SHADOW_FAMILY)]


def test_a_slow_candidate_does_not_slow_callers_and_the_queue_bound_holds(tmp_path, trained, mlflow_server, candidate):
    queue_size = 2
    with delaying_proxy(candidate.url, delay=2.0) as slow:
        env = shadow_env(slow.url, MLKUBE_SERVER_SHADOW_QUEUE_SIZE=str(queue_size),
                         MLKUBE_SERVER_SHADOW_CONCURRENCY="1")  # fmt: skip
        with start_server(tmp_path, [f"models:/{RF}@champion"], mlflow_server.url, **env) as stable:
            started = time.monotonic()
            latencies = []
            for _ in range(21):
                sent = time.perf_counter()
                assert stable.client.post("/predict", json=PENGUIN).status_code == 200
                latencies.append(time.perf_counter() - sent)
            burst = time.monotonic() - started
            # The candidate takes 2 s per copy: a caller that waited for one would take that long. (0.5 s failed once
            # on 2 busy cores, a request taking 0.69 s beside three other suites.)
            assert max(latencies) < 1.0, latencies
            assert burst < 2.0, "the burst must fit in one candidate delay for the exact count below"
            # one copy in flight, two queued, the other 18 dropped
            dropped = {m.MODEL: RF, m.OUTCOME: "dropped"}
            assert _comparisons(stable, **dropped) == 21 - 1 - queue_size
            compared = {m.MODEL: RF, m.CANDIDATE_VERSION: trained.penguins[LR].version}
            _wait_for(lambda: _comparisons(stable, **compared) >= 3, timeout=10)
            assert _comparisons(stable, **compared) == 3
            assert slow.received == 1 + queue_size
