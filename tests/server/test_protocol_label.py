"""The metrics' ``protocol`` label, as the routes declare it (api/protocols.py)."""

from __future__ import annotations

import pytest

from mlkube_server.api import mlflow_scoring, repository, seed, v1, v2
from mlkube_server.api.protocols import CACHE_SIZE, ProtocolTable

ROUTERS = (v2, repository, v1, mlflow_scoring, seed)


@pytest.mark.parametrize(
    ("path", "protocol"),
    [
        ("/v2/models/penguins/infer", "v2"),
        ("/v2/models/penguins/versions/3/infer", "v2"),
        ("/v2/repository/index", "v2"),
        ("/v1/models/penguins:predict", "v1"),
        ("/invocations", "mlflow"),
        ("/version", "mlflow"),
        ("/predict/batch", "seed"),
        ("/predict/image", "seed"),
        # probes and the server's own endpoints are not traffic; a path without a route has no protocol
        ("/v2/health/ready", None),
        ("/v2/health/live", None),
        ("/health", None),
        ("/ping", None),
        ("/", None),
        ("/metrics", None),
        ("/v2/no-such-route", None),
    ],
)
def test_each_path_gets_the_protocol_of_its_route(path: str, protocol: str | None) -> None:
    assert ProtocolTable(ROUTERS)(path) == protocol


def test_every_route_of_a_protocol_router_is_counted_or_a_probe() -> None:
    table = ProtocolTable(ROUTERS)
    for module in ROUTERS:
        for route in module.router.routes:
            example = route.path.replace("{name}", "m").replace("{version}", "1")
            assert table(example) in (module.PROTOCOL, None), route.path
            assert (table(example) is None) == ("health probes" in route.tags), route.path


def test_invented_paths_do_not_grow_the_cache_without_bound() -> None:
    table = ProtocolTable(ROUTERS)
    for index in range(CACHE_SIZE * 2 + 5):
        assert table(f"/v2/models/m{index}/infer") == "v2"
    assert len(table._cache) <= CACHE_SIZE
