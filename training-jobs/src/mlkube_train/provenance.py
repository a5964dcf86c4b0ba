"""Which code produced a model: git commit when run from a checkout, else the image's build argument."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import __version__

CODE_VERSION_ENV = "MLKUBE_CODE_VERSION"  # set by the image build (--build-arg CODE_VERSION=...)


def code_version() -> str:
    if os.environ.get(CODE_VERSION_ENV):
        return os.environ[CODE_VERSION_ENV]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if result.returncode == 0 and result.stdout.strip():
            return f"git:{result.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"mlkube-train:{__version__}"


def models_code_path() -> str:
    """The ``mlkube_models`` package directory, logged with each model as MLflow ``code_paths``."""
    import mlkube_models

    return str(Path(mlkube_models.__file__).resolve().parent)


def model_requirements(*distributions: str) -> list[str]:
    """Exact pins of what a logged model needs, from this environment (skips MLflow's slow inference)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in ("mlflow", *distributions):
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pins.append(name)
    return pins
