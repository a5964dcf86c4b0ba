"""global.imageRegistry: every image of every chart comes from the user's registry when it is set, none changes when
it is not, and the schema of every chart refuses a value that is not an image-reference prefix."""

from __future__ import annotations

from typing import Any

import pytest
from chart_helpers import ALL_SCENARIOS, CHART_NAMES, CHARTS, RELEASE, Scenario, render, run, tool

REGISTRY = "registry.example:5000/team"


def with_registry(scenario: Scenario, registry: str) -> Scenario:
    return Scenario(scenario.chart, scenario.values, scenario.sets + (f"global.imageRegistry={registry}",))


def images(node: Any) -> list[str]:
    """Every `image:` string of a manifest, wherever it sits (containers, init containers, hook Pods, predictors)."""
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [image for key, value in node.items() for image in images(value)]
    if isinstance(node, list):
        return [image for item in node for image in images(item)]
    return []


def rendered_images(scenario: Scenario) -> list[str]:
    return [image for obj in render(scenario) for image in images(obj)]


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=[s.id for s in ALL_SCENARIOS])
def test_every_image_comes_from_the_registry(scenario: Scenario) -> None:
    before = rendered_images(scenario)
    after = rendered_images(with_registry(scenario, REGISTRY))
    assert after == [f"{REGISTRY}/{image}" for image in before]


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=[s.id for s in ALL_SCENARIOS])
def test_an_empty_registry_changes_no_image(scenario: Scenario) -> None:
    # (Images only: the generated Secrets differ from one render to the next.)
    assert rendered_images(with_registry(scenario, "")) == rendered_images(scenario)


def test_every_chart_renders_images_in_some_scenario() -> None:
    # Guards the two tests above against passing on manifests without images.
    charts_with_images = {s.chart for s in ALL_SCENARIOS if rendered_images(s)}
    assert charts_with_images == set(CHART_NAMES)
    pod_kinds = {o["kind"] for s in ALL_SCENARIOS for o in render(s) if images(o)}
    assert {"Deployment", "Rollout", "StatefulSet", "Job", "CronJob", "Pod", "ServingRuntime"} <= pod_kinds


@pytest.mark.parametrize(
    "registry",
    ["localhost:5000", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "europe-docker.pkg.dev/my-project/mlkube"],
)
def test_registry_hosts_and_paths_are_accepted(registry: str) -> None:
    umbrella = Scenario("mlkube", ("profiles/cloud.yaml",))
    assert all(image.startswith(f"{registry}/mlkube/") for image in rendered_images(with_registry(umbrella, registry)))


BAD_REGISTRIES = [
    "https://registry.example",  # a scheme
    "registry.example/team/",  # a trailing slash
    "registry.example:port",  # a port that is not a number
    "registry.example/Team",  # repository paths are lower case
    "registry.example/team:1.0",  # a tag
    "registry example",
]


@pytest.mark.parametrize("chart", CHART_NAMES)
@pytest.mark.parametrize("registry", BAD_REGISTRIES)
def test_the_schema_refuses_what_is_not_an_image_prefix(chart: str, registry: str) -> None:
    result = run(
        [tool("helm"), "template", RELEASE, str(CHARTS / chart), "--set-string", f"global.imageRegistry={registry}"],
        check=False,
    )
    assert result.returncode != 0, f"{chart} accepted global.imageRegistry={registry!r}"
    assert "/global/imageRegistry" in result.stderr, result.stderr
