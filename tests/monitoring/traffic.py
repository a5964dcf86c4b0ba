"""Bounded traffic over every protocol of the model server, good requests and client errors alike."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from palmerpenguins import load_penguins

FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


def penguin_rows(limit: int = 60) -> list[dict]:
    """Real penguins in random order, so the class mix of the traffic resembles the training data's."""
    frame = load_penguins().dropna(subset=FEATURES).sample(n=limit, random_state=7)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame[FEATURES].to_dict("records")
    ]


def _v2_inputs(row: dict) -> dict:
    def tensor(name: str) -> dict:
        value = row[name]
        datatype = "BYTES" if isinstance(value, str) else "FP64"
        return {"name": name, "shape": [1], "datatype": datatype, "data": [value]}

    return {"inputs": [tensor(name) for name in FEATURES]}


def requests_for(model: str, row: dict) -> list[tuple[str, str, dict | None]]:
    """(method, path, json body) of one round over the protocols, including client errors."""
    bad = {**row, "bill_length_mm": "not a number"}
    return [
        ("POST", f"/predict/{model}", row),
        ("POST", f"/predict?model={model}", {**row, "sex": str(row["sex"]).upper()}),
        ("POST", f"/predict/batch?model={model}", {"penguins": [row, row]}),
        ("POST", f"/v1/models/{model}:predict", {"instances": [row]}),
        ("POST", f"/v2/models/{model}/infer", _v2_inputs(row)),
        ("POST", "/invocations", {"dataframe_records": [row]}),
        ("POST", f"/predict/{model}", bad),  # 422
        ("POST", f"/v1/models/{model}:predict", {"instances": []}),  # 4xx: empty batch
        ("POST", "/predict/no-such-model", row),  # 404
        ("GET", f"/v2/models/{model}", None),
    ]


def send(base_urls: list[str], models: list[str], seconds: float, concurrency: int = 4) -> Counter:
    """Send request rounds to every server until `seconds` pass; return the count of status codes."""
    rows = penguin_rows()
    deadline = time.monotonic() + seconds
    codes: Counter = Counter()
    plan = itertools.cycle([(url, model, row) for row in rows for url in base_urls for model in models])

    def one_round(item) -> list[int]:
        url, model, row = item
        with httpx.Client(base_url=url, timeout=10) as client:
            return [
                client.request(method, path, json=body).status_code for method, path, body in requests_for(model, row)
            ]

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        while time.monotonic() < deadline:
            for statuses in pool.map(one_round, [next(plan) for _ in range(concurrency)]):
                codes.update(statuses)
    return codes
