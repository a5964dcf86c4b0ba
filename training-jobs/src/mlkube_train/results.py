"""What a training job produced, printed for people and written as JSON for tools (--summary-file)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .registry import Promotion


@dataclass
class ModelResult:
    trainer: str
    algorithm: str
    model_name: str
    version: str
    run_id: str
    metrics: dict[str, float]
    promotion: Promotion
    duration_s: float
    class_share: dict[str, float] = field(default_factory=dict)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["promotion"] = self.promotion.as_dict()
        data["model_uri"] = self.model_uri
        return data

    def line(self, metric: str) -> str:
        promo = self.promotion
        previous = "none" if promo.champion_score is None else f"{promo.champion_score:.4f}"
        return (
            f"registered {self.model_name} version {self.version} (challenger); {metric}={self.metrics[metric]:.4f} "
            f"vs champion {previous}: {promo.decision}"
        )


def write_summary(path: Path | None, trainer: str, tracking_uri: str, results: list[ModelResult]) -> None:
    if path is None:
        return
    payload = {"trainer": trainer, "tracking_uri": tracking_uri, "models": [r.as_dict() for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True))
