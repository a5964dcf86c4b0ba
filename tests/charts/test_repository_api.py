"""The server's repository API in the chart: off by default; on, every server container reads its bearer token
from a Secret that is generated once and kept."""

from __future__ import annotations

import base64
from typing import Any

from chart_helpers import RELEASE, Scenario, containers, find, pod_templates, render

TOKEN_ENV = "MLKUBE_SERVER_REPOSITORY_API_TOKEN"
SECRET = f"{RELEASE}-model-server-repository-api"
VARIANTS = ("ci/canary-replicas-values.yaml",)  # a stable and a canary Deployment: every variant must get it


def server_envs(objects: tuple[dict[str, Any], ...]) -> list[dict[str, dict[str, Any]]]:
    envs = []
    for obj in objects:
        for _, spec in pod_templates(obj, objects):
            envs += [{e["name"]: e for e in c.get("env", [])} for c in containers(spec) if c["name"] == "server"]
    assert envs, "no server container rendered"
    return envs


def test_off_by_default_no_token_no_secret() -> None:
    objects = render(Scenario("model-server", VARIANTS))
    assert all(TOKEN_ENV not in env for env in server_envs(objects))
    assert not find(objects, "Secret", SECRET)


def test_on_every_server_reads_the_token_of_a_kept_generated_secret() -> None:
    objects = render(Scenario("model-server", VARIANTS, ("server.repositoryApi.enabled=true",)))
    envs = server_envs(objects)
    assert len(envs) == 2
    for env in envs:
        assert env[TOKEN_ENV]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "token"}
    [secret] = find(objects, "Secret", SECRET)
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(secret["data"]["token"])) >= 16


def test_an_existing_secret_is_used_and_none_is_generated() -> None:
    sets = ("server.repositoryApi.enabled=true", "server.repositoryApi.existingSecret=ops-token")
    objects = render(Scenario("model-server", VARIANTS, sets))
    assert all(env[TOKEN_ENV]["valueFrom"]["secretKeyRef"]["name"] == "ops-token" for env in server_envs(objects))
    assert not find(objects, "Secret", SECRET)
