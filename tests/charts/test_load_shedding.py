"""Load shedding in the chart: `server.loadShedding` reaches every server container as the server's settings,
with the server's own defaults."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from chart_helpers import CHARTS, Scenario, containers, find, pod_templates, render

from mlkube_server.settings import ServerSettings

BOUND, RETRY = "MLKUBE_SERVER_MAX_QUEUED_REQUESTS", "MLKUBE_SERVER_SHED_RETRY_AFTER_SECONDS"
PROCESS_BOUND = "MLKUBE_SERVER_MAX_CONCURRENT_REQUESTS"


def server_settings(objects: tuple[dict[str, Any], ...]) -> list[dict[str, str]]:
    """Per server container: its environment, with the ConfigMaps it reads (envFrom) merged in."""
    config_maps = {c["metadata"]["name"]: c.get("data", {}) for c in find(objects, "ConfigMap")}
    found = []
    for obj in objects:
        for _, spec in pod_templates(obj, objects):
            for container in containers(spec):
                if container["name"] not in ("server", "kserve-container"):
                    continue
                env: dict[str, str] = {}
                for source in container.get("envFrom", []):
                    env.update(config_maps[source["configMapRef"]["name"]])
                env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
                found.append(env)
    assert found, "no server container rendered"
    return found


def test_chart_defaults_are_the_servers() -> None:
    values = yaml.safe_load((CHARTS / "model-server" / "values.yaml").read_text())["server"]["loadShedding"]
    fields = ServerSettings.model_fields
    assert values == {
        "maxQueuedRequests": fields["max_queued_requests"].default,
        "maxConcurrentRequests": fields["max_concurrent_requests"].default,
        "retryAfterSeconds": fields["shed_retry_after_seconds"].default,
    }


@pytest.mark.parametrize(
    "values",
    [
        (),
        ("ci/canary-replicas-values.yaml",),
        ("ci/progressive-canary-replicas-values.yaml",),
        ("ci/kserve-standard-values.yaml",),
    ],
    ids=lambda v: v[0].removeprefix("ci/").removesuffix("-values.yaml") if v else "defaults",
)
def test_every_server_container_gets_the_bound_and_retry_after(values: tuple[str, ...]) -> None:
    sets = ("server.loadShedding.maxQueuedRequests=8", "server.loadShedding.retryAfterSeconds=3",
            "server.loadShedding.maxConcurrentRequests=16")  # fmt: skip
    for env in server_settings(render(Scenario("model-server", values, sets))):
        assert (env[BOUND], env[RETRY], env[PROCESS_BOUND]) == ("8", "3", "16")
    for env in server_settings(render(Scenario("model-server", values))):
        assert (env[BOUND], env[RETRY], env[PROCESS_BOUND]) == ("512", "1", "64")
