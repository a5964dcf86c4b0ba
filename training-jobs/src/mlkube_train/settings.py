"""Typed job settings: defaults < config file (YAML) < environment (MLKUBE_TRAIN_*) < command-line flags."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from .errors import ConfigError

ENV_PREFIX = "MLKUBE_TRAIN_"


class Algorithm(str, Enum):
    logistic_regression = "logistic_regression"
    random_forest = "random_forest"
    svm = "svm"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class JobSettings(BaseSettings):
    """Settings every training job shares."""

    # env_ignore_empty: an empty variable (a chart value left "") means "use the default".
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", populate_by_name=True, env_ignore_empty=True
    )

    tracking_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("tracking_uri", "MLKUBE_TRAIN_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking URI (env MLFLOW_TRACKING_URI); default: SQLite in ./.mlkube/mlruns.db",
    )
    experiment: str = Field(
        validation_alias=AliasChoices("experiment", "MLKUBE_TRAIN_EXPERIMENT", "MLFLOW_EXPERIMENT_NAME"),
        description="MLflow experiment name (env MLFLOW_EXPERIMENT_NAME too)",
        min_length=1,
    )
    seed: int = Field(42, ge=0, description="random seed for splits, models and weight init")
    test_size: float = Field(0.2, gt=0.0, lt=0.5, description="share of rows held out for the test metrics")
    mlflow_retries: int = Field(3, ge=0, le=10, description="attempts to reach the MLflow server before exit 3")
    mlflow_retry_backoff_s: float = Field(1.0, ge=0.0, le=60.0, description="first retry delay, doubled each time")
    mlflow_timeout_s: int = Field(20, ge=1, le=600, description="timeout of each MLflow HTTP request")
    champion_by: Literal["trainer", "rollout"] = Field(
        "trainer",
        description="who moves @champion once there is one: the trainer when the test score beats it, or the "
        "model server's rollout trigger after a judged rollout (the trainer then only sets @challenger)",
    )
    pushgateway_url: str | None = Field(
        None,
        validation_alias=AliasChoices("pushgateway_url", "MLKUBE_TRAIN_PUSHGATEWAY_URL", "MLKUBE_PUSHGATEWAY_URL"),
        description="Prometheus Pushgateway URL for the final metrics (env MLKUBE_PUSHGATEWAY_URL); off when unset",
    )
    signing_key: SecretStr | None = Field(
        None,
        description="PEM Ed25519 private key each registered version is signed with (env MLKUBE_TRAIN_SIGNING_KEY; "
        "never a flag); unset: versions are unsigned, and servers that require signatures refuse them",
    )

    @field_validator("signing_key")
    @classmethod
    def _check_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            from .signing import Signer

            Signer(value.get_secret_value())  # a wrong key fails here, in a second, not after training
            return value
        return None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init = command-line flags, then env, then the --config file.
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls)


DEFAULT_PENGUINS_GRIDS: dict[Algorithm, dict[str, list[Any]]] = {
    Algorithm.logistic_regression: {"C": [0.01, 0.1, 1.0, 10.0]},
    Algorithm.random_forest: {"n_estimators": [100, 200], "max_depth": [None, 6]},
    Algorithm.svm: {"C": [0.1, 1.0, 10.0], "kernel": ["rbf", "linear"]},
}


class PenguinsSettings(JobSettings):
    experiment: str = Field(
        "penguins",
        validation_alias=AliasChoices("experiment", "MLKUBE_TRAIN_EXPERIMENT", "MLFLOW_EXPERIMENT_NAME"),
        description="MLflow experiment name (env MLFLOW_EXPERIMENT_NAME too)",
        min_length=1,
    )
    model: Annotated[list[Algorithm], NoDecode] = Field(
        default_factory=lambda: list(Algorithm),
        description="algorithms to train: logistic_regression, random_forest, svm, a comma list, or all",
    )
    data_path: Path | None = Field(
        None, description="CSV with the palmerpenguins columns; default: the dataset bundled with palmerpenguins"
    )
    cv_folds: int = Field(5, ge=2, le=20, description="stratified cross-validation folds of the grid search")
    n_jobs: int = Field(1, ge=-1, le=64, description="parallel grid-search fits (-1: every core)")
    grids: dict[Algorithm, dict[str, list[Any]]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_PENGUINS_GRIDS.items()},
        description="hyper-parameter grid per algorithm, e.g. {svm: {C: [1, 10]}} (JSON on flags/env)",
    )
    promotion_metric: Literal["test_f1_macro", "test_accuracy", "cv_best_score"] = Field(
        "test_f1_macro", description="metric (higher is better) the challenger must beat to become champion"
    )

    @field_validator("model", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = [part.strip() for part in value.split(",") if part.strip()]
            return list(Algorithm) if names == ["all"] else names
        return value

    @field_validator("grids", mode="after")
    @classmethod
    def _complete_grids(cls, value: dict[Algorithm, dict[str, list[Any]]]) -> dict[Algorithm, dict[str, list[Any]]]:
        for algorithm, grid in value.items():
            for param, candidates in grid.items():
                if not candidates:
                    raise ValueError(f"grid {algorithm.value}.{param} is empty")
        return {**DEFAULT_PENGUINS_GRIDS, **value}


class DigitsSettings(JobSettings):
    experiment: str = Field(
        "digits",
        validation_alias=AliasChoices("experiment", "MLKUBE_TRAIN_EXPERIMENT", "MLFLOW_EXPERIMENT_NAME"),
        description="MLflow experiment name (env MLFLOW_EXPERIMENT_NAME too)",
        min_length=1,
    )
    epochs: int = Field(10, ge=1, le=1000, description="training epochs")
    batch_size: int = Field(64, ge=1, le=4096, description="mini-batch size")
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate")
    channels: int = Field(16, ge=1, le=256, description="channels of the first convolution")
    hidden: int = Field(64, ge=1, le=4096, description="units of the hidden dense layer")
    device: Device = Field(Device.auto, description="auto (CUDA when present), cpu or cuda")
    num_threads: int | None = Field(None, ge=1, le=256, description="CPU threads for torch (default: torch's)")
    onnx_tolerance: float = Field(
        1e-4,
        gt=0.0,
        le=0.1,
        description="largest |probability difference| allowed between ONNX Runtime and PyTorch on the test set",
    )
    promotion_metric: Literal["test_accuracy", "test_f1_macro"] = Field(
        "test_accuracy", description="metric (higher is better) the challenger must beat to become champion"
    )


class BoostedSettings(JobSettings):
    """The XGBoost example (penguins-xgboost): a flavor the model server serves through mlflow.pyfunc."""

    experiment: str = Field(
        "penguins",
        validation_alias=AliasChoices("experiment", "MLKUBE_TRAIN_EXPERIMENT", "MLFLOW_EXPERIMENT_NAME"),
        description="MLflow experiment name (env MLFLOW_EXPERIMENT_NAME too)",
        min_length=1,
    )
    data_path: Path | None = Field(
        None, description="CSV with the palmerpenguins columns; default: the dataset bundled with palmerpenguins"
    )
    n_estimators: int = Field(100, ge=1, le=5000, description="boosting rounds")
    max_depth: int = Field(3, ge=1, le=16, description="depth of each tree")
    learning_rate: float = Field(0.1, gt=0.0, le=1.0, description="shrinkage of each round")
    promotion_metric: Literal["test_f1_macro", "test_accuracy"] = Field(
        "test_f1_macro", description="metric (higher is better) the challenger must beat to become champion"
    )


class ConnectionSettings(JobSettings):
    """For the registry commands: only the MLflow connection matters."""

    experiment: str = "unused"


SettingsT = TypeVar("SettingsT", bound=JobSettings)
SECRET_FIELDS = frozenset(name for name, f in JobSettings.model_fields.items() if "SecretStr" in str(f.annotation))


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first offending key and value."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(root)"
    if first["type"] == "extra_forbidden":
        return f"unknown setting {key!r} (value {first['input']!r}); check the spelling against --help"
    value = first.get("input")
    shown = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
    if key in SECRET_FIELDS:
        shown = "(hidden)"
    return f"invalid setting {key} = {shown}: {first['msg']}"


def load_settings(cls: type[SettingsT], config_path: Path | None, overrides: dict[str, Any]) -> SettingsT:
    """Build ``cls`` from the config file, the environment and flag ``overrides``; ConfigError on any problem."""
    yaml_file = None
    if config_path is not None:
        if not config_path.is_file():
            raise ConfigError(f"config file {str(config_path)!r} not found; pass an existing file to --config")
        try:
            content = yaml.safe_load(config_path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"config file {str(config_path)!r}{where} is not valid YAML: {exc}") from None
        if content is not None and not isinstance(content, dict):
            raise ConfigError(f"config file {str(config_path)!r} must hold a mapping of setting: value")
        yaml_file = config_path
    bound = type(
        cls.__name__, (cls,), {"model_config": SettingsConfigDict(**{**cls.model_config, "yaml_file": yaml_file})}
    )
    try:
        return bound(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
