"""Typed server settings: environment (prefix ``MLKUBE_SERVER_``), an optional YAML file, command-line flags.

Precedence, highest first: command-line flags, environment, the YAML file named by ``MLKUBE_SERVER_CONFIG``
(or ``--config``), defaults. The variant, the model version and the revision used as metric labels come from the
un-prefixed ``MLKUBE_VARIANT`` / ``MLKUBE_MODEL_VERSION`` / ``MLKUBE_REVISION`` that the Helm chart sets per
pod (platform.env).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

ENV_PREFIX = "MLKUBE_SERVER_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"
DEFAULT_PORT = 8080  # MODEL_SERVER_PORT in platform.env; tests/server checks that they agree
DEFAULT_METRICS_PORT = 8082  # MODEL_SERVER_METRICS_PORT in platform.env
MIN_TOKEN_LENGTH = 16


class BatchingSettings(BaseModel):
    """Adaptive micro-batching: concurrent requests to one model become one vectorised predict call."""

    enabled: bool = True
    max_batch_size: int = Field(512, ge=1, description="most rows in one coalesced predict call")
    max_wait_ms: float = Field(
        20.0,
        ge=0,
        description="longest a queued request waits for company (never more than half a predict call), "
        "and only while more requests are on their way",
    )


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    models: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="model name -> MLflow URI (models:/name@alias, models:/name/3, runs:/id/model, a folder)",
    )
    default_model: str | None = Field(None, description="model used when a request names none; else the first")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; else MLFLOW_TRACKING_URI")
    host: str = "0.0.0.0"  # noqa: S104 - a server inside a pod listens on every interface
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    metrics_port: int = Field(
        DEFAULT_METRICS_PORT,
        ge=0,
        le=65535,
        description="/metrics and the health checks, open from the start (the serving port opens once every model "
        "has settled); 0: none, /metrics on the serving port only",
    )
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    predict_threads: int = Field(1, ge=1, description="threads running predict calls, shared by all models")
    onnx_threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads per ONNX model")

    max_batch_rows: int = Field(100, ge=1, description="most rows accepted in one request (413 above)")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest request body (413 above)")
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    # Load shedding. The default is one full micro-batch (batching.max_batch_size's default): an admitted one-row
    # request then waits for at most the predict call in progress and its own. It is above the 500 connections
    # of the heaviest benchmark: where HTTP and JSON on the event loop, not the model, are the bottleneck (the
    # Penguins forest), most of the wait happens before a request reaches the queue, so a bound shortens the p99
    # little, and clients that retry at once would keep the server busy refusing them (a 503 costs about as much
    # event-loop time as an answer). A slow model wants a lower bound: about its latency budget over its time
    # per request.
    max_queued_requests: int = Field(
        512,
        ge=0,
        description="most requests of one model waiting for or inside a predict call, per process (what "
        "mlkube_inflight_requests counts); one more is answered 503 with Retry-After at once, counted in "
        "mlkube_requests_shed_total (0: no bound)",
    )
    # The per-model bound above is checked once a request's body is read and validated, and a refusal there costs
    # about as much event-loop time as an answer: a crowd several times the server's capacity still saturates
    # the loop and every caller times out (measured: at 3x capacity, 78 % of requests got no answer in 5 s). This
    # bound is checked first, on the request line and headers, before anything is read or parsed: a refusal costs
    # a few percent of an answer, so the process keeps up with the crowd. Size it as the latency budget times one
    # process's throughput, with room to spare: 64 keeps a Penguins pipeline on one core within the 250 ms SLO at
    # 3x its capacity, and is far above the bench's concurrency 8.
    max_concurrent_requests: int = Field(
        64,
        ge=0,
        description="most prediction requests one process holds at once, from their headers to their answer "
        "(Knative's containerConcurrency); one more is answered 503 with Retry-After before its body is read, "
        "counted in mlkube_requests_shed_total with an empty model label (0: no bound)",
    )
    shed_retry_after_seconds: int = Field(
        1, ge=1, description="the Retry-After (seconds) of a request refused by load shedding"
    )

    compile_trees: bool = Field(
        True,
        description="evaluate a pipeline's final forest with the compiled NumPy evaluator (trees.py) when it "
        "reproduces scikit-learn's probabilities; false: always scikit-learn's predict_proba",
    )
    compile_preprocessing: bool = Field(
        True,
        description="run a pipeline's first step, a ColumnTransformer of imputers, scalers, one-hot encoders and "
        "function transformers, as NumPy on the request's columns (preprocess.py) when that reproduces "
        "scikit-learn's probabilities; false: scikit-learn's transform",
    )
    direct_routes: bool = Field(
        True,
        description="the serving middleware calls the V2 inference and V1 predict routes itself, past FastAPI's "
        "middleware, routing and dependency layers (api/direct.py); false: FastAPI calls them like every other route",
    )
    validate_ranges: bool = Field(True, description="reject numeric values outside the training ranges")
    range_tolerance: float = Field(
        0.5, ge=0, description="allowed excess beyond a training range, as a fraction of its width"
    )

    load_attempts: int = Field(6, ge=1, description="tries per model when MLflow is unreachable")
    load_backoff_seconds: float = Field(1.0, ge=0, description="first retry delay; doubles, capped at 30 s")
    retry_failed_seconds: float = Field(
        15.0,
        ge=0,
        description="retry configured models that failed to load this often (0: never); a model "
        "registered after the server started (a first training run) is then picked up without a restart",
    )
    model_cache_dir: Path = Field(Path("/tmp/mlkube-server/models"), description="downloaded artifacts")  # noqa: S108

    drain_seconds: float = Field(0.0, ge=0, description="after SIGTERM: keep serving this long while not ready")
    graceful_timeout_seconds: float = Field(20.0, ge=0, description="longest wait for in-flight requests")
    # uvicorn's default is 5 s. A proxy reusing a connection the server has just closed answers its caller 502 (seen
    # under overload through Traefik, whose idle timeout is 90 s): the side that closes idle connections must be the
    # proxy, so the server waits longer than the proxies in front of it usually do.
    keep_alive_seconds: int = Field(
        120,
        ge=1,
        description="how long an idle keep-alive connection stays open: longer than the idle timeout of the proxies "
        "in front (Traefik 90 s, nginx and AWS ALB 60 s), so that they, never the server, close idle connections",
    )

    opentelemetry: bool = Field(
        False, description="FastAPI's OpenTelemetry spans and metrics for requests (needs a configured provider)"
    )
    log_level: str = "info"
    access_log: bool = True

    variant: str = Field("stable", validation_alias=AliasChoices("MLKUBE_VARIANT", "variant"))
    pod_model_version: str | None = Field(
        None,
        validation_alias=AliasChoices("MLKUBE_MODEL_VERSION", "pod_model_version"),
        description="version label for models MLflow gives no version for (local folders)",
    )
    revision: str = Field(
        "",
        validation_alias=AliasChoices("MLKUBE_REVISION", "revision"),
        description="the pod template hash of this pod's ReplicaSet: the metrics' revision label and the "
        "X-Mlkube-Revision header (empty: not under a Deployment or Rollout)",
    )

    repository_api_token: SecretStr | None = Field(
        None,
        description="turns the repository (load/unload) API on: every call must send "
        "'Authorization: Bearer <token>' (unset: the API answers 403)",
    )
    repository_api_token_file: Path | None = Field(
        None, description="a file holding that token, such as a mounted Kubernetes Secret; read at start-up"
    )

    signing_certificate: str = Field(
        "",
        description="PEM certificate (or public key) of the platform's model-signing key: set, a model loads only "
        "if it is a registry version whose mlkube.signature tag signs its artifacts (signing.py); empty: no check",
    )

    shadow_url: str = Field(
        "", description="base URL of the candidate server that copied requests go to (empty: no shadow traffic)"
    )
    shadow_fraction: float = Field(
        0.0, ge=0, le=1, description="share of answered predictions copied to the candidate (0: none)"
    )
    shadow_queue_size: int = Field(
        256, ge=1, description="copies waiting for the candidate; more are dropped (counted), never waited for"
    )
    shadow_concurrency: int = Field(4, ge=1, description="copies in flight to the candidate at once (connections)")
    shadow_timeout_seconds: float = Field(
        5.0, gt=0, description="longest wait for the candidate's answer, and for the queue to drain at shutdown"
    )

    @field_validator("models", mode="before")
    @classmethod
    def _parse_models(cls, value: Any) -> Any:
        """Accept a mapping, JSON, ``name=uri,name=uri`` or a list of ``models:/`` URIs (named after the model)."""
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return {}
            if text[0] in "{[":
                value = json.loads(text)
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(value, (list, tuple)):
            return dict(parse_model_spec(item) for item in value)
        return value

    @field_validator("shadow_url")
    @classmethod
    def _check_shadow_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"shadow_url {value!r} must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _read_token(self) -> ServerSettings:
        if self.repository_api_token_file is not None:
            if self.repository_api_token is not None:
                raise ValueError("set repository_api_token or repository_api_token_file, not both")
            try:
                text = self.repository_api_token_file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"repository_api_token_file: {exc}") from None
            if not text:
                raise ValueError(f"repository_api_token_file {self.repository_api_token_file} is empty")
            self.repository_api_token = SecretStr(text)
        token = self.repository_api_token
        if token is not None and not token.get_secret_value():
            self.repository_api_token = None  # an empty variable (a chart's default) leaves the API off
        elif token is not None and len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"the repository API token must have at least {MIN_TOKEN_LENGTH} characters")
        return self

    @field_validator("signing_certificate")
    @classmethod
    def _check_signing_certificate(cls, value: str) -> str:
        if value.strip():
            from .signing import public_key

            public_key(value.strip())  # a wrong certificate stops the server at start, not at each load
        return value.strip()

    @property
    def shadow_enabled(self) -> bool:
        return bool(self.shadow_url) and self.shadow_fraction > 0

    @model_validator(mode="after")
    def _check_default(self) -> ServerSettings:
        if self.default_model and self.models and self.default_model not in self.models:
            raise ValueError(
                f"default_model {self.default_model!r} is not among the configured models {sorted(self.models)}"
            )
        return self

    @model_validator(mode="after")
    def _check_ports(self) -> ServerSettings:
        if self.metrics_port == self.port:
            raise ValueError(f"metrics_port {self.metrics_port} is the serving port: pick another, or 0 for none")
        return self

    @property
    def default_model_name(self) -> str | None:
        return self.default_model or next(iter(self.models), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            if not Path(config_file).is_file():
                raise ValueError(f"{CONFIG_ENV}={config_file}: no such file")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``name=uri`` -> (name, uri); a bare ``models:/name@alias`` or ``models:/name/3`` is named ``name``."""
    if "=" in spec.split(":", 1)[0]:
        name, uri = spec.split("=", 1)
        return name.strip(), uri.strip()
    if spec.startswith("models:/"):
        rest = spec[len("models:/") :]
        name = rest.split("@", 1)[0].split("/", 1)[0]
        if name:
            return name, spec
    raise ValueError(f"cannot name model {spec!r}: write it as name=URI")
