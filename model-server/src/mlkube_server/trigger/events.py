"""The webhook body MLflow sends: ``{"entity", "action", "timestamp", "data": {...}}``."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import BadPayload

ALIAS_ENTITY = "model_version_alias"
CREATED = "created"


@dataclass(frozen=True)
class Event:
    entity: str
    action: str
    data: dict

    @property
    def kind(self) -> str:
        return f"{self.entity}.{self.action}"


@dataclass(frozen=True)
class AliasSet:
    """``model_version_alias.created``: MLflow sends it whenever an alias is set, moved or not."""

    name: str
    alias: str
    version: int


def parse(body: bytes) -> Event:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadPayload(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadPayload("body is not a JSON object")
    entity, action, data = payload.get("entity"), payload.get("action"), payload.get("data")
    if not isinstance(entity, str) or not isinstance(action, str) or not isinstance(data, dict):
        raise BadPayload("body needs string fields entity and action and an object field data")
    return Event(entity, action, data)


def alias_set(event: Event) -> AliasSet | None:
    """The alias change an event carries; None for every other kind of event."""
    if (event.entity, event.action) != (ALIAS_ENTITY, CREATED):
        return None
    name, alias, version = (event.data.get(key) for key in ("name", "alias", "version"))
    if not isinstance(name, str) or not name or not isinstance(alias, str):
        raise BadPayload("data needs string fields name and alias")
    try:
        number = int(str(version))
    except ValueError:
        raise BadPayload(f"data.version {version!r} is not a version number") from None
    return AliasSet(name, alias, number)
