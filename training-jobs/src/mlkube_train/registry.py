"""Model registry: register a version as ``challenger``, move ``champion`` when it wins, move aliases by hand.

Stages are deprecated in MLflow; aliases and version tags carry the whole lifecycle.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from .errors import ConfigError
from .model_tags import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    DECISION_CHALLENGER,
    DECISION_FIRST_CHAMPION,
    DECISION_KEPT_CHAMPION,
    DECISION_PROMOTED,
    TAG_CHALLENGER_SCORE,
    TAG_CHAMPION_SCORE,
    TAG_CHAMPION_VERSION,
    TAG_MANUAL_ALIASES,
    TAG_PROMOTION_DECISION,
    TAG_PROMOTION_METRIC,
    TAG_ROLLOUT_OUTCOME,
    TAG_ROLLOUT_REASON,
)

# Who moves @champion after the first version: the trainer (by test score) or the rollout trigger (by a judged
# live rollout of @challenger; mlkube_server.trigger).
CHAMPION_BY_TRAINER = "trainer"
CHAMPION_BY_ROLLOUT = "rollout"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Promotion:
    decision: str
    metric: str
    challenger_score: float
    champion_score: float | None
    previous_champion_version: str | None

    @property
    def promoted(self) -> bool:
        return self.decision in (DECISION_FIRST_CHAMPION, DECISION_PROMOTED)

    def as_dict(self) -> dict:
        return asdict(self) | {"promoted": self.promoted}


def _alias_version(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def ensure_registered_model(client, name: str, description: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description=description)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def register_version(
    client, name: str, model_uri: str, run_id: str, tags: dict[str, str], challenger: bool = True, signer=None
):
    """Create a new version of ``name`` from a logged model, sign it (with a ``signing.Signer``) before any alias
    can point at it, and alias it ``challenger`` (unless told not to: where a rollout judges versions, only one
    that beats the champion becomes the challenger).

    If anything after the version's creation fails, the version is deleted again: a failed job
    leaves no half-registered model behind.
    """
    import mlflow

    version = mlflow.register_model(model_uri, name, tags=tags, await_registration_for=120)
    try:
        if signer is not None:
            digest = signer.sign_version(client, name, str(version.version))
            log.info("%s version %s signed (artifacts sha256 %s)", name, version.version, digest[:16])
        if challenger:
            client.set_registered_model_alias(name, ALIAS_CHALLENGER, version.version)
    except BaseException:
        delete_version_quietly(client, name, version.version)
        raise
    return version


def delete_version_quietly(client, name: str, version: str) -> None:
    try:
        client.delete_model_version(name, version)
    except Exception as exc:  # the original error matters more
        log.warning("could not delete half-registered %s version %s: %s", name, version, exc)


def decide_champion(
    client, name: str, version: str, metric: str, score: float, champion_by: str = CHAMPION_BY_TRAINER
) -> Promotion:
    """Move ``champion`` to ``version`` when it beats the current champion's ``metric`` (or there is none).

    With ``champion_by="rollout"`` (the model server's rollout trigger is on) a version that beats the
    champion only becomes ``challenger``: the trigger rolls it out and moves ``champion`` once the rollout's
    analysis promotes it, so a version that answers badly live never becomes champion. A first version is
    champion at once either way (there is nothing to roll out from).
    The current champion's score is read from its run, so a manually promoted version competes too.
    The decision and both scores become tags of the new version.
    """
    champion = _alias_version(client, name, ALIAS_CHAMPION)
    champion_score: float | None = None
    if champion is not None and champion.run_id:
        champion_score = client.get_run(champion.run_id).data.metrics.get(metric)
    if champion is None:
        decision = DECISION_FIRST_CHAMPION
    elif champion_score is None or score > champion_score:
        decision = DECISION_PROMOTED if champion_by == CHAMPION_BY_TRAINER else DECISION_CHALLENGER
    else:
        decision = DECISION_KEPT_CHAMPION
    promotion = Promotion(
        decision=decision,
        metric=metric,
        challenger_score=score,
        champion_score=champion_score,
        previous_champion_version=champion.version if champion is not None else None,
    )
    tags = {
        TAG_PROMOTION_DECISION: decision,
        TAG_PROMOTION_METRIC: metric,
        TAG_CHALLENGER_SCORE: repr(float(score)),
        TAG_CHAMPION_SCORE: "none" if champion_score is None else repr(float(champion_score)),
        TAG_CHAMPION_VERSION: champion.version if champion is not None else "none",
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if promotion.promoted:
        client.set_registered_model_alias(name, ALIAS_CHAMPION, version)
    elif decision == DECISION_CHALLENGER:
        client.set_registered_model_alias(name, ALIAS_CHALLENGER, version)
    return promotion


def promote(client, name: str, alias: str, version: str | None, from_alias: str | None) -> tuple[str, str | None]:
    """Point ``alias`` of ``name`` at ``version`` (or at the version ``from_alias`` points to).

    Returns (new version, previous version or None). ConfigError when the model/version/alias does not exist.
    """
    from mlflow.exceptions import MlflowException

    if (version is None) == (from_alias is None):
        raise ConfigError("promote needs exactly one of --version N or --from-alias ALIAS")
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise ConfigError(f"registered model {name!r} not found; list them with `mlkube-train list`") from None
        raise
    if from_alias is not None:
        source = _alias_version(client, name, from_alias)
        if source is None:
            raise ConfigError(f"model {name!r} has no alias {from_alias!r}")
        version = source.version
    assert version is not None
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise ConfigError(f"model {name!r} has no version {version!r}") from None
        raise
    previous = _alias_version(client, name, alias)
    client.set_registered_model_alias(name, alias, version)
    current = client.get_model_version(name, version).tags.get(TAG_MANUAL_ALIASES, "")
    aliases = sorted({*filter(None, current.split(",")), alias})
    client.set_model_version_tag(name, version, TAG_MANUAL_ALIASES, ",".join(aliases))
    return version, previous.version if previous is not None else None


def wait_for_rollout(client, name: str, version: str, timeout: float, poll: float = 2.0) -> str | None:
    """The version's rollout outcome ("promoted", or "aborted: <reason>") once the trigger records it; None
    after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        tags = client.get_model_version(name, version).tags
        if outcome := tags.get(TAG_ROLLOUT_OUTCOME):
            reason = tags.get(TAG_ROLLOUT_REASON)
            return f"{outcome}: {reason}" if reason else outcome
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def list_models() -> list[str]:
    """One line per registered model: name, aliases -> versions, latest version."""
    from mlflow import MlflowClient

    client = MlflowClient()
    lines = []
    for model in sorted(client.search_registered_models(max_results=1000), key=lambda m: m.name):
        aliases = ", ".join(f"{alias}={version}" for alias, version in sorted(model.aliases.items())) or "no aliases"
        latest = max((int(v.version) for v in model.latest_versions), default=0)
        lines.append(f"{model.name}: latest version {latest}; {aliases}")
    return lines or ["no registered models"]
