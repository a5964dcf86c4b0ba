"""The Prometheus collectors, built from the names in ``metric_names`` (never retyped here)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from . import metric_names as m

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AT_CAPACITY = ""  # the model label of requests shed before their body (and model) was read
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    def __init__(self, variant: str, revision: str = "", registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.variant = variant
        self.revision = revision
        r = self.registry
        self.requests = Counter(m.REQUESTS_TOTAL, "Requests answered", m.SERVING_LABELS, registry=r)
        self.latency = Histogram(
            m.REQUEST_DURATION_SECONDS, "Request latency", m.SERVING_LABELS, buckets=LATENCY_BUCKETS, registry=r
        )
        self.inflight = Gauge(m.INFLIGHT_REQUESTS, "Requests in flight", (m.MODEL, m.VARIANT), registry=r)
        self.shed = Counter(
            m.REQUESTS_SHED_TOTAL,
            'Requests refused (503): the model\'s queue was full, or (model="") the process was at capacity',
            (m.MODEL, m.VARIANT),
            registry=r,
        )
        self.predictions = Counter(
            m.PREDICTIONS_TOTAL,
            "Predictions made (rows) by predicted class",
            (m.MODEL, m.VERSION, m.VARIANT, m.REVISION, m.PREDICTED_CLASS),
            registry=r,
        )
        self.batch_size = Histogram(
            m.BATCH_SIZE, "Rows per vectorised predict call", (m.MODEL, m.VERSION), buckets=BATCH_BUCKETS, registry=r
        )
        self.model_loaded = Gauge(
            m.MODEL_LOADED, "1 while a model version is serving", (m.MODEL, m.VERSION, m.ALIAS, m.REVISION), registry=r
        )
        self.models_pending = Gauge(
            m.MODELS_PENDING, "Configured models still pending or loading", (m.REVISION,), registry=r
        )
        self.load_seconds = Gauge(
            m.MODEL_LOAD_DURATION_SECONDS, "Seconds the last load took", (m.MODEL, m.VERSION), registry=r
        )
        self.load_failures = Counter(m.MODEL_LOAD_FAILURES_TOTAL, "Failed model loads", (m.MODEL,), registry=r)
        self.shadow_comparisons = Counter(
            m.SHADOW_COMPARISONS_TOTAL,
            "Shadow traffic: rows agreeing / disagreeing with the candidate, copies failed or dropped",
            (m.MODEL, m.VERSION, m.REVISION, m.CANDIDATE_VERSION, m.CANDIDATE_REVISION, m.OUTCOME),
            registry=r,
        )

    def observe_request(self, model: str, version: str, protocol: str, code: int, seconds: float) -> None:
        labels = (model, version, self.variant, self.revision, protocol, str(code))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_predictions(self, model: str, version: str, classes: list[str], probabilities: np.ndarray) -> None:
        if len(probabilities) == 0:
            return
        for index, count in Tally(probabilities.argmax(axis=1).tolist()).items():
            self.predictions.labels(model, version, self.variant, self.revision, classes[index]).inc(count)

    def track_pending(self, count: Callable[[], int]) -> None:
        """The pending-models gauge reads `count` at each scrape, so it cannot drift from the repository."""
        self.models_pending.labels(self.revision).set_function(count)

    def loaded(self, model: str, version: str, alias: str | None, seconds: float, classes: list[str]) -> None:
        self.model_loaded.labels(model, version, alias or "", self.revision).set(1)
        self.load_seconds.labels(model, version).set(seconds)
        # Every class's series exists at 0 before the first prediction, so the scrape right after a canary's
        # first answers already gives rate() its increase: the rollout analysis judges one scrape sooner.
        for cls in classes:
            self.predictions.labels(model, version, self.variant, self.revision, cls)
        self.shed.labels(model, self.variant)  # at 0 too: the first shed request shows as an increase

    def sheds_at_capacity(self) -> None:
        """The process-wide bound's series (model="") exists at 0 from the start, as each model's does."""
        self.shed.labels(AT_CAPACITY, self.variant)

    def request_shed(self, model: str) -> None:
        self.shed.labels(model, self.variant).inc()

    def unloaded(self, model: str, version: str, alias: str | None) -> None:
        try:
            self.model_loaded.remove(model, version, alias or "", self.revision)
        except KeyError:
            pass

    def shadow_outcome(
        self, model: str, version: str, candidate: tuple[str, str], outcome: str, count: int = 1
    ) -> None:
        """`candidate`: the (version, revision) that answered the copy, ("", "") when none did."""
        self.shadow_comparisons.labels(model, version, self.revision, *candidate, outcome).inc(count)
