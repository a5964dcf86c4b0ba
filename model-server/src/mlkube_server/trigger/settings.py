"""Settings of ``mlkube-rollout-trigger`` (environment ``MLKUBE_TRIGGER_*``; MLflow from MLFLOW_TRACKING_URI)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MLKUBE_TRIGGER_"


class TriggerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    rollout: str = Field(description="name of the Argo Rollout to drive, e.g. <release>-model-server")
    namespace: str | None = Field(None, description="the Rollout's namespace; in a pod, the pod's own")
    kubeconfig: Path | None = Field(None, description="kubeconfig to use instead of the pod's ServiceAccount")
    webhook_url: str = Field(description="URL MLflow delivers to, e.g. http://<release>-rollout-trigger:8080/webhook")
    webhook_name: str | None = Field(None, description="name of the MLflow webhook (default: mlkube-<rollout>)")
    webhook_secret: SecretStr = Field(description="HMAC secret shared with MLflow (at least 32 characters)",
                                      min_length=32)  # fmt: skip
    register_webhook: bool = Field(True, description="create or update the MLflow webhook at startup")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; else MLFLOW_TRACKING_URI")
    host: str = "0.0.0.0"  # noqa: S104 - a server inside a pod listens on every interface
    port: int = Field(8080, ge=1, le=65535)
    max_skew_seconds: float = Field(300.0, gt=0, description="oldest (or most future) X-MLflow-Timestamp accepted")
    settle_seconds: float = Field(1.0, ge=0, description="quiet time after the last alias event before patching")
    max_settle_seconds: float = Field(10.0, ge=0, description="longest an alias event waits in a storm")
    reconcile_seconds: float = Field(3.0, gt=0, description="how often the Rollout's status is read")
    prometheus_url: str | None = Field(None, description="the Prometheus the rollout's analysis queries: "
                                       "GET /analysis/prometheus tells Argo whether it answers")  # fmt: skip
    prometheus_timeout_seconds: float = Field(2.0, gt=0, description="how long that check waits for Prometheus")
    log_level: str = "info"

    @property
    def hook_name(self) -> str:
        return self.webhook_name or f"mlkube-{self.rollout}"
