"""The MLflow side: the webhook registration, the challenger alias, and the outcome of each rollout."""

from __future__ import annotations

import logging
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ..model_tags import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    OUTCOME_ABORTED,
    OUTCOME_PROMOTED,
    TAG_ROLLOUT_NAME,
    TAG_ROLLOUT_OUTCOME,
    TAG_ROLLOUT_REASON,
)

WEBHOOK_EVENTS: list[Any] = ["model_version_alias.created"]  # MLflow types these as literals
MISSING = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")

log = logging.getLogger("mlkube_server.trigger")


class Registry:
    def __init__(self, tracking_uri: str | None) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def ensure_webhook(self, name: str, url: str, secret: str) -> str:
        """Create the webhook, or bring the one of this name up to date (URL, events, secret, active).

        The secret is rewritten every time: MLflow stores it encrypted with MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY,
        and ours is the copy that matters. Returns "created" or "updated".
        """
        page_token = None
        while True:
            page = self.client.list_webhooks(max_results=100, page_token=page_token)
            for hook in page:
                if hook.name == name:
                    self.client.update_webhook(
                        hook.webhook_id, url=url, events=WEBHOOK_EVENTS, secret=secret, status="ACTIVE"
                    )
                    return "updated"
            page_token = page.token
            if not page_token:
                break
        self.client.create_webhook(
            name=name,
            url=url,
            events=WEBHOOK_EVENTS,
            secret=secret,
            description="mlkube-rollout-trigger: @challenger starts a progressive rollout",
        )
        return "created"

    def _alias(self, name: str, alias: str) -> int | None:
        try:
            return int(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException as exc:
            if exc.error_code in MISSING:
                return None
            raise

    def challenger(self, name: str) -> int | None:
        return self._alias(name, ALIAS_CHALLENGER)

    def outcome(self, name: str, version: int) -> str | None:
        return self.client.get_model_version(name, str(version)).tags.get(TAG_ROLLOUT_OUTCOME)

    def record_promoted(self, name: str, version: int, rollout: str) -> None:
        self.client.set_model_version_tag(name, str(version), TAG_ROLLOUT_NAME, rollout)
        self.client.set_registered_model_alias(name, ALIAS_CHAMPION, str(version))
        # The outcome tag last: it marks the record complete (a crash before it repeats the idempotent writes).
        self.client.set_model_version_tag(name, str(version), TAG_ROLLOUT_OUTCOME, OUTCOME_PROMOTED)

    def record_aborted(self, name: str, version: int, rollout: str, reason: str) -> None:
        self.client.set_model_version_tag(name, str(version), TAG_ROLLOUT_NAME, rollout)
        self.client.set_model_version_tag(name, str(version), TAG_ROLLOUT_REASON, reason)
        self.client.set_model_version_tag(name, str(version), TAG_ROLLOUT_OUTCOME, OUTCOME_ABORTED)
