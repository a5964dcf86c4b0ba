"""Per-request bookkeeping shared by the middleware and the handlers, and the app-wide state."""

from __future__ import annotations

from dataclasses import dataclass, field

from .batching import ArrivalGate, QueueBound
from .metrics import ServerMetrics
from .repository import ModelRepository
from .settings import ServerSettings
from .shadow import Shadow


@dataclass
class RequestInfo:
    request_id: str
    protocol: str | None  # seed / v1 / v2 / mlflow; None for health, metrics and docs
    model: str = ""
    version: str = ""
    arriving: bool = False  # counted in ArrivalGate.pending until queued or finished

    def arrived(self, gate: ArrivalGate) -> None:
        if self.arriving:
            self.arriving = False
            gate.pending -= 1


@dataclass
class AppState:
    settings: ServerSettings
    metrics: ServerMetrics
    repository: ModelRepository
    gate: ArrivalGate
    shadow: Shadow | None = None  # None unless shadow traffic is on: the prediction path tests only this
    shutting_down: bool = False
    in_progress: int = 0  # prediction requests between their headers and their answer: max_concurrent_requests
    queues: QueueBound = field(init=False)  # load shedding: settings.max_queued_requests per model

    def __post_init__(self) -> None:
        self.queues = QueueBound(self.settings.max_queued_requests)

    def ready(self) -> bool:
        return not self.shutting_down and self.repository.ready()
