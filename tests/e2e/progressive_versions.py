"""The registered model versions every progressive scenario rolls out, made once per session."""

from __future__ import annotations

import pytest

from . import registry_versions
from .kube import service_url
from .platform import RELEASE

MODEL = "penguins-random-forest"


@pytest.fixture(scope="session")
def progressive_versions(platform) -> dict[str, str]:
    """The champion, copies of it (good challengers, one per transition that promotes), a version that
    always answers Chinstrap and one that answers well but an order of magnitude slower (bad challengers)."""
    mlflow_url = service_url(f"{RELEASE}-mlflow")
    registry = registry_versions.client(mlflow_url)
    champion = str(registry.get_model_version_by_alias(MODEL, "champion").version)
    versions = {
        "champion": champion,
        "bad": registry_versions.constant_species(mlflow_url, MODEL, champion, "Chinstrap"),
        "slow": registry_versions.slow(mlflow_url, MODEL, champion),
    }
    for name in ("good", "good-2", "good-green"):
        versions[name] = registry_versions.copy_of(mlflow_url, MODEL, champion)
    return versions
