"""Hostile callers: the hand-made inputs that used to reach a 500, thousands of bodies generated from the server's
own OpenAPI document, and keep-alive connections that survive every error. No response may be a 5xx, and the
server's memory must not grow with what it was sent."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import DIGITS, LR, PENGUIN, RF

DEEP_LIST = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
HUGE = 10**400  # no float holds it: float(HUGE) raises OverflowError
JSON = {"content-type": "application/json"}

FUZZ_EXAMPLES = 5000  # generated requests, on top of the hand-made ones
FUZZ_SECONDS = 60.0  # the generated run stops sending after this long
RSS_GROWTH_BOUND_MB = 32.0  # resident memory the server may gain across the whole generated run
SENDERS = 3  # connections sending while the next requests are generated


class _Nested:
    """A leaf wrapped in ``depth`` lists, written out as text (json.dumps itself would recurse that deep)."""

    def __init__(self, depth: int, leaf: Any) -> None:
        self.text = "[" * depth + json.dumps(leaf) + "]" * depth


def _raw(value: Any) -> bytes:
    """JSON as Python writes it: NaN and Infinity literals, and integers of any size."""
    nested: list[_Nested] = []

    def placeholder(item: Any) -> str:
        nested.append(item)
        return f"<nested {len(nested) - 1}>"

    text = json.dumps(value, default=placeholder)
    for index, item in enumerate(nested):
        text = text.replace(f'"<nested {index}>"', item.text)
    return text.encode()


def _penguin(**change: Any) -> dict:
    return {**PENGUIN, **change}


def _v2_columns(**change: Any) -> dict:
    row = _penguin(**change)
    return {
        "inputs": [
            {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
            for k, v in row.items()
        ]
    }


def _image(value: Any) -> list:
    return [[[value] * 8] * 8]


def _nested(depth: int, leaf: Any) -> _Nested:
    return _Nested(depth, leaf)


def _big_canvas_upload() -> tuple[bytes, dict]:
    """A 5000x5000 PNG of some 35 KB: decoded, it would take 25 MB."""
    from PIL import Image

    image, png = Image.new("L", (5000, 5000), 255), io.BytesIO()
    image.save(png, "PNG", optimize=True)
    boundary = "hostile-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + png.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


# (name, method, path, body, headers, status, a location the answer must name, or None)
HAND_MADE: list[tuple[str, str, str, bytes | None, dict, int, list | None]] = [
    *[(f"10,000 deep list to {path}", "POST", path, DEEP_LIST, JSON, 400, ["body"])
      for path in ("/predict", "/predict/batch", f"/v1/models/{RF}:predict", f"/v2/models/{RF}/infer",
                   "/invocations", "/predict/compare")],
    ("10,000 deep object", "POST", "/predict", DEEP_OBJECT, JSON, 400, ["body"]),
    ("1,000 deep in a field", "POST", "/predict", _raw(_penguin(island=_nested(1000, "Biscoe"))), JSON, 422,
     ["body", "island"]),
    ("1,000 deep tensor data", "POST", f"/v2/models/{RF}/infer",
     _raw({"inputs": [{"name": "island", "shape": [1], "datatype": "BYTES", "data": _nested(1000, "Biscoe")}]}),
     JSON, 422, None),
    ("1,000 deep datatype", "POST", f"/v2/models/{RF}/infer",
     _raw({"inputs": [{"name": "island", "shape": [1], "datatype": _nested(1000, 1), "data": ["Biscoe"]}]}),
     JSON, 422, ["body", "inputs", 0, "datatype"]),
    ("1,000 deep id", "POST", f"/v2/models/{RF}/infer", _raw({**_v2_columns(), "id": _nested(1000, "x")}), JSON, 422,
     ["body", "id"]),
    ("1,000 deep instances", "POST", f"/v1/models/{DIGITS}:predict", _raw({"instances": _nested(1000, 1)}), JSON, 422,
     ["body", "instances"]),
    ("huge integer, seed", "POST", "/predict", _raw(_penguin(bill_length_mm=HUGE)), JSON, 422,
     ["body", "bill_length_mm"]),
    ("huge negative integer, seed batch", "POST", "/predict/batch", _raw({"penguins": [_penguin(body_mass_g=-HUGE)]}),
     JSON, 422, ["body", "penguins", 0, "body_mass_g"]),
    ("huge float literal", "POST", "/predict", _raw(_penguin(bill_length_mm=1e308)).replace(b"1e+308", b"1e400"),
     JSON, 422, ["body", "bill_length_mm"]),
    ("huge integer, V1", "POST", f"/v1/models/{RF}:predict", _raw({"instances": [_penguin(flipper_length_mm=HUGE)]}),
     JSON, 422, ["body", "instances", 0, "flipper_length_mm"]),
    ("huge integer, V1 image", "POST", f"/v1/models/{DIGITS}:predict", _raw({"instances": [_image(HUGE)]}), JSON, 422,
     ["body", "instances"]),
    ("huge integer, V2 column", "POST", f"/v2/models/{RF}/infer", _raw(_v2_columns(bill_depth_mm=HUGE)), JSON, 422,
     ["body", "inputs", 0, "bill_depth_mm"]),
    ("huge integer, V2 image", "POST", f"/v2/models/{DIGITS}/infer",
     _raw({"inputs": [{"name": "x", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": _image(HUGE)}]}), JSON, 422,
     ["body", "inputs", 0, "data"]),
    ("huge integer, V2 shape", "POST", f"/v2/models/{RF}/infer",
     _raw({"inputs": [{"name": "island", "shape": [HUGE], "datatype": "BYTES", "data": ["Biscoe"]}]}), JSON, 422,
     ["body", "inputs", 0, "data"]),
    ("huge rows in a 2-D V2 shape", "POST", f"/v2/models/{RF}/infer",
     _raw({"inputs": [{"name": "x", "shape": [10**12, 0], "datatype": "FP64", "data": []}]}), JSON, 413,
     ["body", "inputs", 0, "shape"]),
    ("huge integer, dataframe_split", "POST", "/invocations",
     _raw({"dataframe_split": {"columns": list(PENGUIN), "data": [[*list(PENGUIN.values())[:4], HUGE, "male"]]}}),
     JSON, 400, ["body", "dataframe_split", "data", 0, "body_mass_g"]),  # MLflow's /invocations: 400, not 422
    ("huge integer, MLflow tensor", "POST", f"/invocations?model={DIGITS}", _raw({"instances": [_image(HUGE)]}), JSON,
     400, ["body", "instances"]),
    ("huge integer, CSV", "POST", "/invocations",
     ("island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\nBiscoe,39.1,18.7,181,"
      + str(HUGE) + ",male\n").encode(), {"content-type": "text/csv"}, 400, ["body", "csv", 0, "body_mass_g"]),
    *[(f"V2 output name {label}", "POST", f"/v2/models/{RF}/infer", _raw({**_v2_columns(), "outputs": outputs}), JSON,
       422, loc)
      for label, outputs, loc in (
          ("a list", [{"name": ["predict"]}], ["body", "outputs", 0, "name"]),
          ("an object", [{"name": {"predict": 1}}], ["body", "outputs", 0, "name"]),
          ("a number", [{"name": 5}], ["body", "outputs", 0, "name"]),
          ("missing", ["predict"], ["body", "outputs", 0, "name"]),
          ("unknown", [{"name": "logits"}], ["body", "outputs", 0, "name"]),
          ("not a list", {"name": "predict"}, ["body", "outputs"]),
      )],
    ("GET on V1 predict", "GET", f"/v1/models/{RF}:predict", None, {}, 405, None),
    ("5000x5000 PNG", "POST", "/predict/image", *_big_canvas_upload(), 413, ["body", "file"]),
]  # fmt: skip


def _error(response: httpx.Response, status: int, loc: list | None) -> dict:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    message = body["message"] if "error_code" in body else body["error"]  # MLflow's shape on /invocations
    assert isinstance(message, str) and message and len(response.content) < 10_000
    if loc is not None:
        assert loc in [detail["loc"] for detail in body.get("details", [])], body
    return body


@pytest.mark.parametrize("case", HAND_MADE, ids=[case[0] for case in HAND_MADE])
def test_hand_made_hostile_inputs_answer_4xx_naming_the_field(default_server, case):
    _, method, path, body, headers, status, loc = case
    _error(default_server.client.request(method, path, content=body, headers=headers), status, loc)


def test_get_on_v1_predict_says_which_method(default_server):
    response = default_server.client.get(f"/v1/models/{RF}:predict")
    body = _error(response, 405, None)
    assert response.headers["allow"] == "POST" and "not found" not in body["error"]


def test_an_error_never_drops_a_keep_alive_connection_silently(default_server):
    """One connection: each bad request, then a good one. Unless the error said ``Connection: close``, the good
    request must be answered on the same socket."""
    host, port = default_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    good = _raw(PENGUIN)
    closed_by_server = []
    try:
        for name, method, path, body, headers, _, _ in HAND_MADE:
            conn.request(method, path, body=body, headers=headers)
            bad = conn.getresponse()
            bad.read()
            assert bad.status < 500, (name, bad.status)
            says_close = (bad.getheader("connection") or "").lower() == "close"
            sock = conn.sock
            conn.request("POST", "/predict", body=good, headers=JSON)
            answer = conn.getresponse()
            assert answer.status == 200, (name, answer.status, answer.read()[:300])
            answer.read()
            if says_close:
                closed_by_server.append(name)
            else:
                assert conn.sock is sock, f"{name}: the connection was replaced without Connection: close"
    finally:
        conn.close()
    assert not closed_by_server, f"closed although nothing forced it: {closed_by_server}"


def test_a_body_over_the_limit_closes_the_connection_saying_so(default_server):
    host, port = default_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", "/predict")
        conn.putheader("content-type", "application/json")
        conn.putheader("content-length", str(64 * 1024 * 1024))
        conn.endheaders()  # the body is never sent: the server answers from the header alone
        response = conn.getresponse()
        assert response.status == 413 and response.getheader("connection") == "close"
    finally:
        conn.close()


def test_an_unexpected_error_answers_500_saying_connection_close():
    """Whatever still escapes a handler is answered by the server's middleware (Starlette's own would re-raise,
    and uvicorn then drops the connection without a word)."""
    from mlkube_server.app import create_app
    from mlkube_server.settings import ServerSettings

    app = create_app(ServerSettings(models={}))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # raises whatever the application lets escape
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
            return await client.get("/boom", headers={"x-request-id": "boom-1"})

    response = asyncio.run(call())
    assert response.status_code == 500 and response.headers["connection"] == "close"
    assert "boom-1" in response.json()["error"] and "a bug" not in response.text


# -- generated from the OpenAPI document -------------------------------------------------------------------

HOSTILE_NUMBERS = st.sampled_from([HUGE, -HUGE, 2**63, 2**64, -(2**63) - 1, 10**30, 1e308, -1e308, 0, -1, 1e-320])
HOSTILE_TEXT = st.sampled_from(["", " ", "\x00", "NaN", "null", "{}", "💥" * 3, "a" * 5000, "../etc/passwd", "%00"])
LEAVES = (
    st.none() | st.booleans() | st.integers() | HOSTILE_NUMBERS | st.text(max_size=20) | HOSTILE_TEXT
    | st.floats(allow_nan=True, allow_infinity=True)
)  # fmt: skip
ANY_JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)


def _from_schema(schema: dict, spec: dict, depth: int = 0) -> st.SearchStrategy:
    """Values of a JSON schema (the subset FastAPI writes), hostile values mixed in at every level."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "example" in schema:
        return _mutated(schema["example"])
    choices = schema.get("oneOf") or schema.get("anyOf")
    if choices:
        return st.one_of([_from_schema(choice, spec, depth + 1) for choice in choices])
    if "enum" in schema:
        values = schema["enum"]
        valid = st.sampled_from(values) | st.sampled_from([str(v).upper() for v in values])
    else:
        kind = schema.get("type")
        if kind == "object" and depth < 4:
            properties = schema.get("properties", {})
            required = set(schema.get("required", []))
            fields = {k: _from_schema(v, spec, depth + 1) for k, v in properties.items()}
            valid = st.fixed_dictionaries(
                {k: v for k, v in fields.items() if k in required},
                optional={k: v for k, v in fields.items() if k not in required},
            )
        elif kind == "array" and depth < 4:
            valid = st.lists(_from_schema(schema.get("items", {}), spec, depth + 1), max_size=4)
        elif kind in ("number", "integer"):
            valid = st.floats(-1e4, 1e4) | st.integers(-10_000, 10_000)
        elif kind == "string":
            valid = st.text(max_size=20)
        elif kind == "boolean":
            valid = st.booleans()
        else:
            valid = ANY_JSON
    return st.one_of(*_times(valid, 3), ANY_JSON)  # mostly well-formed, so that validation goes deep


def _mutated(example: Any) -> st.SearchStrategy:
    """The documented example with any of its parts replaced, dropped or duplicated."""
    if isinstance(example, dict):
        parts = {k: _mutated(v) for k, v in example.items()}
        whole = st.fixed_dictionaries({}, optional=parts) | st.fixed_dictionaries(parts)
        extra = st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=2)
        return st.one_of(whole, st.tuples(whole, extra).map(lambda pair: {**pair[0], **pair[1]}), ANY_JSON)
    if isinstance(example, list):
        items = [_mutated(item) for item in example]
        whole = st.tuples(*items).map(list) if items else st.just([])
        return st.one_of(whole, whole.map(lambda xs: xs * 3), whole.map(lambda xs: xs[1:]), ANY_JSON)
    return st.one_of(*_times(st.just(example), 3), LEAVES, ANY_JSON)


_DROP = object()


def _times(strategy: st.SearchStrategy, weight: int) -> list[st.SearchStrategy]:
    """``weight`` copies for st.one_of, which would drop repeats of one strategy object."""
    return [strategy, *(strategy.map(lambda value: value) for _ in range(weight - 1))]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return {} if new is _DROP else new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if not rest and new is _DROP:
        del copy[head]
    else:
        copy[head] = _replaced(value[head], rest, new)
    return copy


def _point_mutated(example: Any) -> st.SearchStrategy:
    """The documented example with exactly one part replaced or dropped: valid everywhere else, so the request
    gets as far as that part's own check."""
    hostile = st.one_of(LEAVES, ANY_JSON, st.just(_DROP), st.builds(_Nested, st.sampled_from([2, 50, 1000]), LEAVES))
    return st.one_of([hostile.map(partial(_replaced, example, path)) for path in _paths(example)])


def _operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def _request_strategy(spec: dict, names: list[str], version: str) -> st.SearchStrategy:
    """Any operation of the document; those that take a body three times as often as the others."""
    strategies = []
    for operation in _operations(spec):
        strategies += _times(_request(operation, spec, names, version), 3 if "requestBody" in operation[2] else 1)
    return st.one_of(strategies)


def _request(operation: tuple[str, str, dict], spec: dict, names: list[str], version: str) -> st.SearchStrategy:
    method, path, op = operation
    odd = ["", "x:predict", "..", "%2e%2e", "a" * 300, "ghost", f"{names[0]} ", names[0].upper(), "\u00e9", "1/2"]
    hostile_names = st.sampled_from(odd)
    name = st.sampled_from(names * 8 + odd)
    params: dict[str, st.SearchStrategy] = {}
    query: dict[str, st.SearchStrategy] = {}
    for parameter in op.get("parameters", []):
        where = params if parameter["in"] == "path" else query
        if parameter["name"] == "version":
            where[parameter["name"]] = st.sampled_from([version, version, "0"]) | hostile_names
        elif parameter["name"] == "models":
            where[parameter["name"]] = st.lists(name, max_size=3)
        else:
            where[parameter["name"]] = name
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        media = content["application/json"]
        example = media.get("example", {})
        parsed = st.one_of(*_times(_point_mutated(example), 3), _mutated(example), _from_schema(media["schema"], spec))
        body = st.one_of(
            *_times(parsed.map(lambda value: (_raw(value), JSON)), 3),
            parsed.map(lambda value: (_raw(value)[: len(_raw(value)) // 2], JSON)),  # truncated
            st.binary(max_size=64).map(lambda raw: (raw, JSON)),
            parsed.map(lambda value: (_raw(value), {"content-type": "text/csv"})),
            st.text(max_size=200).map(lambda text: (text.encode(), {"content-type": "text/csv"})),
            st.tuples(parsed, st.integers(-5, 400), st.binary(max_size=64)).map(
                lambda t: (_raw(t[0]) + t[2], {**JSON, "inference-header-content-length": str(t[1])})
            ),
        )
    elif "multipart/form-data" in content:
        body = st.one_of(
            st.binary(max_size=300).map(lambda raw: ("file", raw)),
            st.sampled_from([("other", b"123"), ("file", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)]),
        )
    else:
        body = st.just(None)
    return st.fixed_dictionaries(
        {"path": st.fixed_dictionaries(params), "query": st.fixed_dictionaries(query), "body": body}
    ).map(lambda drawn: (method, path, drawn))


def _send(client: httpx.Client, method: str, path: str, drawn: dict) -> httpx.Response:
    for key, value in drawn["path"].items():
        path = path.replace("{" + key + "}", quote(value, safe=""))
    query = [(k, item) for k, v in drawn["query"].items() for item in (v if isinstance(v, list) else [v])]
    body = drawn["body"]
    if isinstance(body, tuple) and isinstance(body[0], str):  # multipart
        return client.request(method, path, params=query, files={body[0]: ("upload.png", body[1], "image/png")})
    content, headers = body if body is not None else (None, {})
    return client.request(method, path, params=query, content=content, headers=headers)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_thousands_of_generated_requests_get_no_5xx_and_leave_memory_flat(default_server, trained):
    spec = default_server.client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["Features"].get("properties"), "the signature is not in the document"
    names = [RF, LR, DIGITS]
    version = trained.penguins[RF].version
    strategy = _request_strategy(spec, names, version)
    server_errors: list[str] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def send(client: httpx.Client, method: str, path: str, drawn: dict) -> None:
        response = _send(client, method, path, drawn)
        with lock:
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                sample = f"{method} {path} {str(drawn)[:300]}"
                server_errors.append(f"{sample} -> {response.status_code} {response.text[:200]}")

    def run(examples: int, seconds: float) -> int:
        """Generates up to ``examples`` requests, sending them on SENDERS connections; stops sending after
        ``seconds``. Then the hand-made ones. Returns how many generated requests were sent."""
        sent = 0
        deadline = time.monotonic() + seconds
        slots = threading.BoundedSemaphore(4 * SENDERS)
        local = threading.local()
        clients: list[httpx.Client] = []

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=default_server.url, timeout=30)
                with lock:
                    clients.append(local.client)
            return local.client

        def task(request: tuple[str, str, dict]) -> None:
            try:
                send(client(), *request)
            finally:
                slots.release()

        with ThreadPoolExecutor(SENDERS) as pool:

            @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(strategy)
            def generate(request: tuple[str, str, dict]) -> None:
                nonlocal sent
                if time.monotonic() < deadline:
                    slots.acquire()
                    futures.append(pool.submit(task, request))
                    sent += 1

            futures: list = []
            generate()
            for future in futures:
                future.result()  # a request that failed to be sent (not answered) fails the test
        for each in clients:
            each.close()
        for _, method, path, body, headers, _, _ in HAND_MADE:
            response = default_server.client.request(method, path, content=body, headers=headers)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(f"{method} {path} (hand-made) -> {response.status_code}")
        return sent

    run(300, 20.0)  # warm-up: every code path once, so that what follows measures growth, not first use
    statuses.clear()
    before = _rss_mb(default_server.process.pid)
    started = time.monotonic()
    sent = run(FUZZ_EXAMPLES, FUZZ_SECONDS)
    elapsed = time.monotonic() - started
    after = _rss_mb(default_server.process.pid)
    summary = (f"{sent} generated + {len(HAND_MADE)} hand-made requests in {elapsed:.1f} s; statuses "
               f"{dict(sorted(statuses.items()))}; RSS {before:.1f} -> {after:.1f} MB")  # fmt: skip
    print(summary)
    assert not server_errors, f"{len(server_errors)} answers >= 500:\n" + "\n".join(server_errors[:20])
    assert sent > 0, summary  # how many fit in the time cap is a figure (printed), not an assertion
    assert after - before <= RSS_GROWTH_BOUND_MB, summary
    assert default_server.client.get("/v2/health/ready").status_code == 200
    assert "Traceback" not in default_server.log(), default_server.log()[-3000:]
