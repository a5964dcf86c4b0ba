"""Typed SLO targets and alert thresholds: the `slo:` and `alerts:` values of the monitoring chart's values.yaml,
the one place those numbers are written. Rule files are loaded verbatim by the chart, so they are generated
from these defaults (`make monitoring-generate`); tests fail when the two drift apart."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

SOURCE_DIR = Path(__file__).resolve().parent.parent
CHART_DIR = SOURCE_DIR.parent
CHARTS_DIR = CHART_DIR.parent
VALUES_FILE = CHART_DIR / "values.yaml"
KEYS = ("slo", "alerts")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LatencySlo(_Strict):
    objective: float = Field(gt=0, lt=1)
    threshold_seconds: float = Field(alias="thresholdSeconds", gt=0)


class Slo(_Strict):
    availability: float = Field(gt=0, lt=1)
    latency: LatencySlo
    period_days: int = Field(alias="periodDays", gt=0)


class ForDuration(_Strict):
    for_: str = Field(alias="for", pattern=r"^\d+[smhd]$")


class NotLoaded(_Strict):
    lookback: str = Field(pattern=r"^\d+[smhd]$")
    for_: str = Field(alias="for", pattern=r"^\d+[smhd]$")


class Window(_Strict):
    window: str = Field(pattern=r"^\d+[smhd]$")


class ClassMix(_Strict):
    max_distance: float = Field(alias="maxDistance", gt=0, le=1)
    window: str = Field(pattern=r"^\d+[smhd]$")
    for_: str = Field(alias="for", pattern=r"^\d+[smhd]$")
    min_predictions_per_second: float = Field(alias="minPredictionsPerSecond", ge=0)


class Canary(_Strict):
    max_error_ratio_increase: float = Field(alias="maxErrorRatioIncrease", gt=0, lt=1)
    max_p99_ratio: float = Field(alias="maxP99Ratio", gt=1)
    min_requests_per_second: float = Field(alias="minRequestsPerSecond", ge=0)
    for_: str = Field(alias="for", pattern=r"^\d+[smhd]$")


class Training(_Strict):
    max_hours_without_success: int = Field(alias="maxHoursWithoutSuccess", gt=0)


class Rollouts(_Strict):
    aborted_window: str = Field(alias="abortedWindow", pattern=r"^\d+[smhd]$")
    paused_for: str = Field(alias="pausedFor", pattern=r"^\d+[smhd]$")
    controller_down_for: str = Field(alias="controllerDownFor", pattern=r"^\d+[smhd]$")


class Alerts(_Strict):
    runbook_base_url: str = Field(alias="runbookBaseUrl")
    model_not_loaded: NotLoaded = Field(alias="modelNotLoaded")
    model_load_failures: Window = Field(alias="modelLoadFailures")
    no_predictions: ForDuration = Field(alias="noPredictions")
    class_mix: ClassMix = Field(alias="classMix")
    canary: Canary
    rollouts: Rollouts
    training: Training


class MonitoringValues(_Strict):
    slo: Slo
    alerts: Alerts


def load_raw(path: Path = VALUES_FILE) -> dict:
    values = yaml.safe_load(path.read_text()) or {}
    missing = [key for key in KEYS if key not in values]
    if missing:
        raise ValueError(f"{path}: no {' / '.join(missing)} values; the rule generator needs both")
    return {key: values[key] for key in KEYS}


def load(path: Path = VALUES_FILE) -> MonitoringValues:
    return MonitoringValues.model_validate(load_raw(path))
