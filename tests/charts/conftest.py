"""Fixtures of the chart tests; the helpers live in chart_helpers (importable under importlib import mode)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chart_helpers import CHARTS, run, schema_dir, tool  # noqa: E402


@pytest.fixture(scope="session")
def helm() -> str:
    return tool("helm")


@pytest.fixture(scope="session")
def kubeconform() -> str:
    return tool("kubeconform")


@pytest.fixture(scope="session")
def schemas() -> Path:
    return schema_dir()


@pytest.fixture(scope="session", autouse=True)
def umbrella_dependencies(helm: str) -> None:
    """Package the sub-charts into the umbrella chart, so it is tested with the charts of this checkout."""
    # build, not update: a Chart.lock behind Chart.yaml fails here as it fails every install (make chart-docs
    # updates it).
    run([helm, "dependency", "build", "--skip-refresh", str(CHARTS / "mlkube")])
