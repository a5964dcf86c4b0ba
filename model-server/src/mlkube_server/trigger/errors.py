"""Errors of the rollout trigger; the HTTP layer maps each to one status code and one line."""

from __future__ import annotations


class TriggerError(Exception):
    """Base class: a one-line message meant for the operator's log or the webhook sender."""


class SignatureError(TriggerError):
    """The delivery is not signed with our secret, or the signature is stale (401)."""


class BadPayload(TriggerError):
    """The body is not the JSON object MLflow sends (400)."""


class RolloutShapeError(TriggerError):
    """The Rollout lacks what the trigger edits (no container with the models variable)."""


class KubeError(TriggerError):
    """The Kubernetes API answered an error the trigger cannot act on."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
