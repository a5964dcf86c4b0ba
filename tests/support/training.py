"""Run the real trainers (``mlkube-train``, fast configs) and report what they registered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "training-jobs" / "configs"
PENGUINS_FAST_CONFIG = CONFIG_DIR / "penguins-fast.yaml"
DIGITS_FAST_CONFIG = CONFIG_DIR / "digits-fast.yaml"


@dataclass(frozen=True)
class RegisteredModel:
    algorithm: str
    name: str  # registered model name, e.g. penguins-logistic-regression
    version: str
    run_id: str
    model_uri: str  # models:/<name>/<version>
    promotion_decision: str
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class TrainResult:
    returncode: int
    stdout: str
    stderr: str
    models: list[RegisteredModel]


def run_trainer(
    args: Sequence[str],
    tracking_uri: str | None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    cwd: Path | None = None,
) -> TrainResult:
    """Run ``python -m mlkube_train <args> --summary-file <tmp>``; never raises on a non-zero exit."""
    with tempfile.TemporaryDirectory(prefix="mlkube-train-") as tmp:
        summary = Path(tmp) / "summary.json"
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLKUBE_TRAIN_"))}
        if tracking_uri is not None:
            child_env["MLFLOW_TRACKING_URI"] = tracking_uri
        child_env.update(env or {})
        completed = subprocess.run(
            [sys.executable, "-m", "mlkube_train", *args, "--summary-file", str(summary)],
            capture_output=True,
            text=True,
            env=child_env,
            timeout=timeout,
            cwd=cwd or tmp,
            check=False,
        )
        models = _read_summary(summary) if summary.exists() else []
    return TrainResult(completed.returncode, completed.stdout, completed.stderr, models)


def _read_summary(path: Path) -> list[RegisteredModel]:
    data = json.loads(path.read_text())
    return [
        RegisteredModel(
            algorithm=item["algorithm"],
            name=item["model_name"],
            version=str(item["version"]),
            run_id=item["run_id"],
            model_uri=item["model_uri"],
            promotion_decision=item["promotion"]["decision"],
            metrics=item["metrics"],
        )
        for item in data.get("models", [])
    ]


def _checked(result: TrainResult, what: str) -> list[RegisteredModel]:
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} exited with {result.returncode}\nstdout:\n{result.stdout[-3000:]}"
            f"\nstderr:\n{result.stderr[-3000:]}"
        )
    return result.models


def train_penguins(
    tracking_uri: str,
    algorithms: Sequence[str] = ("logistic_regression",),
    config: Path = PENGUINS_FAST_CONFIG,
    extra_args: Sequence[str] = (),
) -> list[RegisteredModel]:
    """Train penguins classifiers with the fast config into ``tracking_uri``; return the registered versions.

    ``algorithms``: any of logistic_regression, random_forest, svm (or ``("all",)``).
    Raises RuntimeError (with the trainer's output) when the trainer fails.
    """
    args = ["penguins", "--config", str(config), "--model", ",".join(algorithms), *extra_args]
    return _checked(run_trainer(args, tracking_uri), "mlkube-train penguins")


def train_digits(
    tracking_uri: str,
    config: Path = DIGITS_FAST_CONFIG,
    extra_args: Sequence[str] = (),
) -> list[RegisteredModel]:
    """Train the digits CNN (fast config, CPU unless told otherwise) and return the registered version."""
    args = ["digits", "--config", str(config), *extra_args]
    return _checked(run_trainer(args, tracking_uri), "mlkube-train digits")
