"""Push a job's final metrics to a Prometheus Pushgateway (optional; failures only warn)."""

from __future__ import annotations

import logging
import time

from . import metric_names as m
from .results import ModelResult

CLASS_LABEL = "class"  # label of TRAINING_CLASS_SHARE, see metric_names.py
log = logging.getLogger(__name__)


def push_job_key(trainer: str) -> str:
    return f"{m.PUSH_JOB_PREFIX}/{trainer}"


def _push(url: str, trainer: str, algorithm: str, registry) -> None:
    from prometheus_client import pushadd_to_gateway

    try:
        # One group per trainer and algorithm, so Jobs for different algorithms keep their series; POST
        # (pushadd) replaces only the metrics pushed now, so a failure keeps the last success visible.
        pushadd_to_gateway(
            url, job=push_job_key(trainer), registry=registry, grouping_key={m.ALGORITHM: algorithm}, timeout=10
        )
    except Exception as exc:  # monitoring must never fail a training that succeeded
        log.warning("could not push metrics to Pushgateway %s: %s", url, exc)


def push_success(url: str | None, result: ModelResult) -> None:
    if not url:
        return
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    labels = (m.MODEL, m.VERSION)
    values = (result.model_name, result.version)
    Gauge(m.LAST_SUCCESS_TIMESTAMP, "Unix time of the last successful run", labels, registry=registry).labels(
        *values
    ).set(time.time())
    Gauge(m.DURATION_SECONDS, "Wall-clock seconds of the last run", labels, registry=registry).labels(*values).set(
        result.duration_s
    )
    final = Gauge(m.FINAL_METRIC, "Final evaluation metrics of the last run", (*labels, m.METRIC), registry=registry)
    for name, value in result.metrics.items():
        final.labels(*values, name).set(value)
    Gauge(m.PROMOTED, "1 when the last run became champion", labels, registry=registry).labels(*values).set(
        1 if result.promotion.promoted else 0
    )
    if result.class_share:
        share = Gauge(
            m.TRAINING_CLASS_SHARE,
            "Share of each class in the training data",
            (m.MODEL, CLASS_LABEL),
            registry=registry,
        )
        for label, value in result.class_share.items():
            share.labels(result.model_name, label).set(value)
    _push(url, result.trainer, result.algorithm, registry)


def push_failure(url: str | None, trainer: str, algorithm: str) -> None:
    if not url:
        return
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    Gauge(m.LAST_FAILURE_TIMESTAMP, "Unix time of the last failed run", registry=registry).set(time.time())
    _push(url, trainer, algorithm, registry)
