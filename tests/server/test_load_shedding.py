"""Load shedding (issue 14.5): a bounded queue per model, and a bound on the requests one process holds
(max_concurrent_requests, checked before the body is read); beyond either a 503 with Retry-After at once, counted,
the connection kept and readiness untouched, so that the requests the server accepts keep a bounded wait.

A queue forms with the server's own settings, no test hook: the random forest evaluated by scikit-learn
(`compile_trees` and `compile_preprocessing` off, a few ms per call) and one request per predict call
(`batching.max_batch_size` 1), so many concurrent clients wait for one predict thread. Overloads are bounded
in time; timings are printed, never asserted (make bench measures).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mlkube_server import metric_names as m

from .conftest import PENGUIN, RF, RunningServer, start_server
from .conftest import metric_samples as _samples
from .conftest import metric_value as _value

BOUND = 4
RETRY_AFTER = 1
CLIENTS = 48  # concurrent keep-alive connections of one overload, far above the bound
SECONDS = 4.0  # each overload sends for this long; requests in flight then are still answered
SLOW = {
    "MLKUBE_SERVER_COMPILE_TREES": "false",
    "MLKUBE_SERVER_COMPILE_PREPROCESSING": "false",
    "MLKUBE_SERVER_BATCHING__MAX_BATCH_SIZE": "1",
    "MLKUBE_SERVER_SHED_RETRY_AFTER_SECONDS": str(RETRY_AFTER),
}
REPORT = Path(os.environ.get("MLKUBE_CACHE", Path(__file__).resolve().parents[2] / ".cache")) / "load-shedding.txt"

V2_INPUTS = {"inputs": [
    {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
    for k, v in PENGUIN.items()
]}  # fmt: skip
# (protocol, path, body) of one round of requests; every client starts the round at its own place.
ROUND = (
    ("seed", f"/predict/{RF}", PENGUIN),
    ("v1", f"/v1/models/{RF}:predict", {"instances": [PENGUIN]}),
    ("v2", f"/v2/models/{RF}/infer", V2_INPUTS),
    ("mlflow", f"/invocations?model={RF}", {"dataframe_records": [PENGUIN]}),
)


def _predicted(protocol: str, body: dict) -> Any:
    if protocol == "seed":
        return body["species"]
    if protocol == "v2":
        return next(o for o in body["outputs"] if o["name"] == "predict")["data"][0]
    return body["predictions"][0]


@dataclass
class Answer:
    protocol: str
    status: int
    seconds: float
    headers: dict[str, str]
    body: dict


@dataclass
class Overload:
    answers: list[Answer] = field(default_factory=list)
    readiness: Counter = field(default_factory=Counter)  # status codes of /v2/health/ready during the overload
    seconds: float = 0.0

    def of(self, status: int) -> list[Answer]:
        return [a for a in self.answers if a.status == status]


async def _overload(url: str, seconds: float, honour_retry_after: bool, clients: int = CLIENTS) -> Overload:
    """`clients` keep-alive connections send ROUND back to back for `seconds`; a client refused with 503 waits
    its Retry-After first when `honour_retry_after` (never past the end)."""
    result = Overload()
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + seconds
    connector = aiohttp.TCPConnector(limit=clients + 1)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def client(offset: int) -> None:
            turn = offset
            while loop.time() < deadline:
                protocol, path, body = ROUND[turn % len(ROUND)]
                turn += 1
                sent = loop.time()
                async with session.post(path, json=body) as response:
                    payload = await response.json(content_type=None)
                    answer = Answer(protocol, response.status, loop.time() - sent, dict(response.headers), payload)
                result.answers.append(answer)
                if answer.status == 503 and honour_retry_after:
                    wait = float(answer.headers.get("Retry-After", 0))
                    await asyncio.sleep(max(0.0, min(wait, deadline - loop.time())))

        async def readiness() -> None:
            while loop.time() < deadline:
                async with session.get("/v2/health/ready") as response:
                    await response.read()
                    result.readiness[response.status] += 1
                await asyncio.sleep(0.25)

        await asyncio.gather(readiness(), *(client(i) for i in range(clients)))
    result.seconds = loop.time() - started
    return result


def overload(server: RunningServer, seconds: float = SECONDS, honour_retry_after: bool = True, **kw) -> Overload:
    return asyncio.run(_overload(server.url, seconds, honour_retry_after, **kw))


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.0f}"


@pytest.fixture(scope="module")
def bounded(tmp_path_factory, trained, mlflow_server):
    """The slow random forest with a queue bound of 4."""
    with _slow_forest(tmp_path_factory, mlflow_server, "shedding", MLKUBE_SERVER_MAX_QUEUED_REQUESTS=str(BOUND)) as srv:
        yield srv


def _slow_forest(tmp_path_factory, mlflow_server, name: str, **env: str):
    return start_server(tmp_path_factory.mktemp(name), [f"models:/{RF}@champion"], mlflow_server.url, **env, **SLOW)


def _measured_overload(server: RunningServer) -> tuple[list, Overload, list, Counter]:
    """(metrics before, the overload, metrics after, its status counts)."""
    before = _samples(server)
    run = overload(server)
    after = _samples(server)
    return before, run, after, Counter(a.status for a in run.answers)


def test_beyond_the_bound_requests_get_503_with_retry_after_counted_and_the_server_stays_ready(bounded):
    before, run, after, statuses = _measured_overload(bounded)
    accepted, shed = run.of(200), run.of(503)
    print(f"\n{len(run.answers)} requests in {run.seconds:.1f} s: {dict(statuses)}; accepted p99 "
          f"{_ms([a.seconds for a in accepted], 0.99)} ms, 503 p50 {_ms([a.seconds for a in shed], 0.5)} ms, "
          f"p99 {_ms([a.seconds for a in shed], 0.99)} ms")  # fmt: skip
    assert set(statuses) == {200, 503}, statuses

    for answer in accepted:
        assert _predicted(answer.protocol, answer.body) == "Adelie", answer
    for answer in shed:
        assert answer.headers["Retry-After"] == str(RETRY_AFTER), answer
        assert answer.headers.get("Connection", "").lower() != "close", answer
        if answer.protocol == "mlflow":  # MLflow's error shape on /invocations
            assert answer.body["error_code"] == "TEMPORARILY_UNAVAILABLE", answer
            message = answer.body["message"]
        else:
            message = answer.body["error"]
        assert f"model '{RF}' is overloaded" in message and f"max_queued_requests={BOUND}" in message, message
        assert "\n" not in message
    assert {a.protocol for a in shed} == {p for p, _, _ in ROUND}, "every protocol sheds"

    labels = {m.MODEL: RF, m.VARIANT: "stable"}
    assert _value(after, m.REQUESTS_SHED_TOTAL, **labels) - _value(before, m.REQUESTS_SHED_TOTAL, **labels) == len(shed)
    code = {m.MODEL: RF, m.CODE: "503"}
    assert _value(after, m.REQUESTS_TOTAL, **code) - _value(before, m.REQUESTS_TOTAL, **code) == len(shed)
    assert _value(after, m.INFLIGHT_REQUESTS, **labels) == 0

    assert run.readiness and set(run.readiness) == {200}, run.readiness  # shedding never touches readiness
    assert bounded.client.get("/v2/health/ready").status_code == 200
    assert bounded.client.post(f"/predict/{RF}", json=PENGUIN).status_code == 200
    assert "Traceback" not in bounded.log()


def test_a_shed_request_keeps_its_keep_alive_connection(bounded):
    host, port = bounded.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body, headers = json.dumps(PENGUIN), {"Content-Type": "application/json"}
    refused = None
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            load = pool.submit(overload, bounded, SECONDS, False)
            deadline = time.monotonic() + SECONDS
            while refused is None and time.monotonic() < deadline and not load.done():
                conn.request("POST", f"/predict/{RF}", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 503:
                    refused = response
                    sock = conn.sock
            load.result()
        assert refused is not None, "no request of this connection was shed during the overload"
        assert refused.getheader("Retry-After") == str(RETRY_AFTER)
        assert (refused.getheader("Connection") or "").lower() != "close"
        conn.request("POST", f"/predict/{RF}", body=body, headers=headers)  # the load is over: this one is taken
        follow_up = conn.getresponse()
        assert follow_up.status == 200 and json.loads(follow_up.read())["species"] == "Adelie"
        assert conn.sock is sock, "the connection was replaced after the 503"
    finally:
        conn.close()


def test_an_idle_keep_alive_connection_outlives_uvicorns_default(default_server):
    """A proxy reusing a connection the server closed answers 502: the server keeps idle connections longer than
    the proxies in front of it (keep_alive_seconds, 120 s; uvicorn's own default is 5 s)."""
    host, port = default_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", "/v2/health/live")
        assert conn.getresponse().read() is not None
        sock = conn.sock
        time.sleep(6.5)
        conn.request("GET", "/v2/health/live")
        assert conn.getresponse().status == 200
        assert conn.sock is sock, "the server closed the idle connection"
    finally:
        conn.close()


@pytest.fixture(scope="module")
def at_capacity(tmp_path_factory, trained, mlflow_server):
    """The slow random forest with no queue bound, but at most 4 prediction requests in the process."""
    with _slow_forest(tmp_path_factory, mlflow_server, "capacity", MLKUBE_SERVER_MAX_QUEUED_REQUESTS="0",
                      MLKUBE_SERVER_MAX_CONCURRENT_REQUESTS=str(BOUND)) as srv:  # fmt: skip
        yield srv


def test_beyond_the_process_bound_requests_get_503_before_their_body_is_read(at_capacity):
    before, run, after, statuses = _measured_overload(at_capacity)
    shed = run.of(503)
    print(f"\n{len(run.answers)} requests in {run.seconds:.1f} s: {dict(statuses)}; 503 p99 "
          f"{_ms([a.seconds for a in shed], 0.99)} ms")  # fmt: skip
    assert set(statuses) == {200, 503}, statuses
    for answer in run.of(200):
        assert _predicted(answer.protocol, answer.body) == "Adelie", answer
    for answer in shed:
        assert answer.headers["Retry-After"] == str(RETRY_AFTER), answer
        assert answer.headers.get("Connection", "").lower() != "close", answer
        assert answer.headers.get("X-Request-ID"), answer
        message = answer.body["message"] if answer.protocol == "mlflow" else answer.body["error"]
        assert "the server is at capacity" in message and f"max_concurrent_requests={BOUND}" in message, message
    assert {a.protocol for a in shed} == {p for p, _, _ in ROUND}, "every protocol sheds"
    # Counted without a model (none was read), and as 503s of their protocol; that series was there at 0 before
    # the first refusal, so an alert's increase() sees the first one.
    shed_total = {m.MODEL: "", m.VARIANT: "stable"}
    assert [s.value for s in before if s.name == m.REQUESTS_SHED_TOTAL and s.labels == shed_total] == [0.0]
    assert _value(after, m.REQUESTS_SHED_TOTAL, **shed_total) - _value(before, m.REQUESTS_SHED_TOTAL, **shed_total) == (
        len(shed)
    )
    code = {m.MODEL: "", m.CODE: "503"}
    assert _value(after, m.REQUESTS_TOTAL, **code) - _value(before, m.REQUESTS_TOTAL, **code) == len(shed)
    assert run.readiness and set(run.readiness) == {200}, run.readiness
    # The count of requests in progress comes back to 0: once the crowd is gone, every request is taken.
    for _ in range(2 * BOUND):
        assert at_capacity.client.post(f"/predict/{RF}", json=PENGUIN).status_code == 200
    assert "Traceback" not in at_capacity.log()


@pytest.mark.parametrize(
    ("key", "value"),
    [("MAX_QUEUED_REQUESTS", "-1"), ("MAX_CONCURRENT_REQUESTS", "-1"), ("SHED_RETRY_AFTER_SECONDS", "0")],
)
def test_a_bad_bound_or_retry_after_stops_the_server_in_one_line(key, value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLKUBE_")}
    result = subprocess.run(
        [sys.executable, "-m", "mlkube_server", "--model", f"models:/{RF}@champion"],
        capture_output=True, text=True, timeout=60, check=False, env={**env, f"MLKUBE_SERVER_{key}": value},
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlkube-serve: invalid settings:") and key.lower() in lines[0]


def test_the_default_configuration_sheds_nothing_under_modest_concurrency(default_server):
    before = _samples(default_server)
    run = overload(default_server, seconds=3.0, honour_retry_after=False, clients=16)
    after = _samples(default_server)
    statuses = Counter(a.status for a in run.answers)
    print(f"\ndefaults, 16 clients: {len(run.answers)} requests in {run.seconds:.1f} s, {dict(statuses)}, "
          f"p99 {_ms([a.seconds for a in run.answers], 0.99)} ms")  # fmt: skip
    assert statuses and set(statuses) == {200}, statuses
    labels = {m.MODEL: RF, m.VARIANT: "stable"}
    assert any(s.name == m.REQUESTS_SHED_TOTAL and s.labels == labels for s in before), "no series at 0 at load"
    assert _value(after, m.REQUESTS_SHED_TOTAL, **labels) == _value(before, m.REQUESTS_SHED_TOTAL, **labels) == 0


@pytest.mark.slow
def test_p99_of_accepted_requests_with_and_without_the_bound(bounded, tmp_path, mlflow_server):
    """The same overload on the same slow model, unbounded and bounded: a printed table (never asserted)."""
    with start_server(tmp_path, [f"models:/{RF}@champion"], mlflow_server.url,
                      MLKUBE_SERVER_MAX_QUEUED_REQUESTS="0", **SLOW) as unbounded:  # fmt: skip
        overload(unbounded, seconds=1.0, clients=4)  # warm-up
        runs = [("0 (unbounded)", "-", overload(unbounded))]
    overload(bounded, seconds=1.0, clients=4)
    runs += [
        (str(BOUND), "wait Retry-After", overload(bounded)),
        (str(BOUND), "retry at once", overload(bounded, honour_retry_after=False)),
    ]
    lines = [f"Load shedding: {CLIENTS} keep-alive clients for {SECONDS:g} s on {RF} (scikit-learn forest, "
             "one request per predict call, one predict thread); latencies in ms",
             "| max_queued_requests | after a 503 | accepted | shed | accepted/s | p50 | p99 | max | 503 p99 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for bound, clients, run in runs:
        ok = [a.seconds for a in run.of(200)]
        shed = [a.seconds for a in run.of(503)]
        lines.append(f"| {bound} | {clients} | {len(ok)} | {len(shed)} | {len(ok) / run.seconds:.0f} | "
                     f"{_ms(ok, 0.5)} | {_ms(ok, 0.99)} | {_ms(ok, 1.0)} | {_ms(shed, 0.99)} |")  # fmt: skip
    table = "\n".join(lines)
    print("\n" + table)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(table + "\n")
    assert not runs[0][2].of(503) and runs[0][2].of(200), "the unbounded server refused requests"
    assert all(run.of(503) and run.of(200) for _, _, run in runs[1:]), "the bounded server shed nothing"
    assert {a.status for _, _, run in runs for a in run.answers} <= {200, 503}
