"""Typed SLO targets and alert thresholds: the `slo:` and `alerts:` values of the monitoring chart's values.yaml,
the one place those numbers are written. The generated files hold placeholders for them (placeholders.py), filled
in at install time; these types check the values the promtool tests are written for."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

SOURCE_DIR = Path(__file__).resolve().parent.parent
CHART_DIR = SOURCE_DIR.parent
CHARTS_DIR = CHART_DIR.parent
VALUES_FILE = CHART_DIR / "values.yaml"
KEYS = ("slo", "alerts")
_SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
# A Prometheus duration and a runbook URL, as the chart's values.schema.json accepts them (read from it: written
# once). The URL has no quote, space, brace, `#` or `@`: it goes into YAML strings, JSON and Prometheus templates.
DURATION = _SCHEMA["definitions"]["duration"]["pattern"]
RUNBOOK_URL = _SCHEMA["properties"]["alerts"]["properties"]["runbookBaseUrl"]["pattern"]
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


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
    for_: str = Field(alias="for", pattern=DURATION)


class NotLoaded(_Strict):
    lookback: str = Field(pattern=DURATION)
    for_: str = Field(alias="for", pattern=DURATION)


class Window(_Strict):
    window: str = Field(pattern=DURATION)


class ClassMix(_Strict):
    max_distance: float = Field(alias="maxDistance", gt=0, le=1)
    window: str = Field(pattern=DURATION)
    for_: str = Field(alias="for", pattern=DURATION)
    min_predictions_per_second: float = Field(alias="minPredictionsPerSecond", ge=0)


class Canary(_Strict):
    max_error_ratio_increase: float = Field(alias="maxErrorRatioIncrease", gt=0, lt=1)
    max_p99_ratio: float = Field(alias="maxP99Ratio", gt=1)
    min_requests_per_second: float = Field(alias="minRequestsPerSecond", ge=0)
    for_: str = Field(alias="for", pattern=DURATION)


class Training(_Strict):
    max_hours_without_success: int = Field(alias="maxHoursWithoutSuccess", gt=0)


class Rollouts(_Strict):
    aborted_window: str = Field(alias="abortedWindow", pattern=DURATION)
    paused_for: str = Field(alias="pausedFor", pattern=DURATION)
    controller_down_for: str = Field(alias="controllerDownFor", pattern=DURATION)


class Alerts(_Strict):
    runbook_base_url: str = Field(alias="runbookBaseUrl", pattern=RUNBOOK_URL)
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


def seconds(duration: str) -> float:
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", duration))


def merged(base: dict, override: dict) -> dict:
    """`override` laid over `base` key by key, as Helm merges a values file over the chart's."""
    result = dict(base)
    for key, value in override.items():
        result[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return result


def load_raw(path: Path = VALUES_FILE) -> dict:
    """The `slo:` and `alerts:` values of the chart's values.yaml, with those of `path` laid over them."""
    defaults = yaml.safe_load(VALUES_FILE.read_text()) or {}
    missing = [key for key in KEYS if key not in defaults]
    if missing:
        raise ValueError(f"{VALUES_FILE}: no {' / '.join(missing)} values; the rule generator needs both")
    values = merged(defaults, yaml.safe_load(path.read_text()) or {}) if path != VALUES_FILE else defaults
    return {key: values[key] for key in KEYS}


def load(path: Path = VALUES_FILE) -> MonitoringValues:
    return MonitoringValues.model_validate(load_raw(path))
