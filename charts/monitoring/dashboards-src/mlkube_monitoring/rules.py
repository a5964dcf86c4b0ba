"""Prometheus rule files: RED and SLO recording rules, then the alerts, all from MonitoringValues."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import promql as q
from .contracts import NAMESPACE
from .contracts import argo as A
from .contracts import serving as S
from .contracts import training as T
from .settings import MonitoringValues

# Target labels that identify one server process under Kubernetes service discovery.
POD_LABELS = (NAMESPACE, "pod", "instance")

# SRE workbook, 30-day SLO: (severity, long window, short window, burn factor, for).
BURN_RATE_PAIRS = {
    "page": (("1h", "5m", 14.4), ("6h", "30m", 6.0)),
    "ticket": (("1d", "2h", 3.0), ("3d", "6h", 1.0)),
}
BURN_FOR = {"page": "2m", "ticket": "15m"}


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str
    description: str
    for_: str = "0m"
    labels: dict[str, str] = field(default_factory=dict)


def number(value: float) -> str:
    return repr(round(value, 10))


def seconds(duration: str) -> int:
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[duration[-1]]
    return int(duration[:-1]) * unit


def anchor(alert_name: str) -> str:
    return alert_name.lower()


def _burn_rate_expr(record: str, budget: float, severity: str) -> str:
    clauses = []
    for long, short, factor in BURN_RATE_PAIRS[severity]:
        threshold = number(factor * budget)
        clauses.append(
            f"(\n  {record.format(window=short)} > {threshold}\n  and\n  {record.format(window=long)} > {threshold}\n)"
        )
    return "\nor\n".join(clauses)


def slo_alerts(values: MonitoringValues) -> list[Alert]:
    slo = values.slo
    alerts = []
    for severity in BURN_RATE_PAIRS:
        windows = ", ".join(f"{long}/{short} x{factor:g}" for long, short, factor in BURN_RATE_PAIRS[severity])
        alerts.append(
            Alert(
                name="MlkubeAvailabilityBudgetBurn",
                expr=_burn_rate_expr(q.AVAILABILITY_ERRORS, 1 - slo.availability, severity),
                severity=severity,
                for_=BURN_FOR[severity],
                summary="Model {{ $labels.model }} burns its availability error budget too fast.",
                description=(
                    "Model {{ $labels.model }} in namespace {{ $labels.namespace }} answers "
                    "{{ $value | humanizePercentage }} of requests with a server error (5xx); the SLO allows "
                    f"{number((1 - slo.availability) * 100)}% over {slo.period_days} days "
                    f"(burn-rate windows {windows})."
                ),
            )
        )
        alerts.append(
            Alert(
                name="MlkubeLatencyBudgetBurn",
                expr=_burn_rate_expr(q.LATENCY_ERRORS, 1 - slo.latency.objective, severity),
                severity=severity,
                for_=BURN_FOR[severity],
                summary="Model {{ $labels.model }} burns its latency error budget too fast.",
                description=(
                    "Model {{ $labels.model }} in namespace {{ $labels.namespace }}: "
                    "{{ $value | humanizePercentage }} of requests take longer than "
                    f"{slo.latency.threshold_seconds:g}s; the SLO allows {number((1 - slo.latency.objective) * 100)}% "
                    f"over {slo.period_days} days (burn-rate windows {windows})."
                ),
            )
        )
    return alerts


def model_alerts(values: MonitoringValues) -> list[Alert]:
    a = values.alerts
    failures_window = a.model_load_failures.window
    np_window = a.no_predictions.for_
    mix = a.class_mix
    lookback = a.model_not_loaded.lookback
    # Requests that name no model (listing models, server metadata) carry model="" and predict nothing.
    successful = f'{{{S.MODEL}!="", {S.CODE}=~"{q.SUCCESS}"}}'
    return [
        Alert(
            name="MlkubeModelNotLoaded",
            expr=(
                f"(\n  max {q.by(*POD_LABELS, S.MODEL)} (max_over_time({S.MODEL_LOADED}[{lookback}]))\n"
                f"  unless {q.on(*POD_LABELS, S.MODEL)} {S.MODEL_LOADED}\n)\n"
                f"and on (instance) up == 1\nor\n{S.MODEL_LOADED} < 1"
            ),
            for_=a.model_not_loaded.for_,
            severity="page",
            summary="Model {{ $labels.model }} is not loaded on {{ $labels.pod }}.",
            description=(
                "Server {{ $labels.instance }} (namespace {{ $labels.namespace }}, pod {{ $labels.pod }}) "
                f"served model {{{{ $labels.model }}}} within the last {lookback} and has no version of it "
                f"loaded for {a.model_not_loaded.for_}."
            ),
        ),
        Alert(
            name="MlkubeModelLoadFailures",
            expr=(
                f"increase({S.MODEL_LOAD_FAILURES_TOTAL}[{failures_window}]) > 0\n"
                f"or\n({S.MODEL_LOAD_FAILURES_TOTAL} unless {S.MODEL_LOAD_FAILURES_TOTAL} "
                f"offset {failures_window}) > 0"
            ),
            severity="ticket",
            summary="Model {{ $labels.model }} failed to load.",
            description=(
                "Server {{ $labels.instance }} (namespace {{ $labels.namespace }}, pod {{ $labels.pod }}) "
                f"failed to load model {{{{ $labels.model }}}} in the last {failures_window} "
                "({{ $value | humanize }} failures)."
            ),
        ),
        Alert(
            name="MlkubeNoPredictions",
            expr=(
                f"{q.request_rate(q.MODEL_LABELS, np_window, successful)} > 0\n"
                f"unless {q.on(*q.MODEL_LABELS)}\n"
                f"sum {q.by(*q.MODEL_LABELS)} (rate({S.PREDICTIONS_TOTAL}[{np_window}])) > 0"
            ),
            for_=np_window,
            severity="page",
            summary="Model {{ $labels.model }} answers requests but makes no predictions.",
            description=(
                "Model {{ $labels.model }} in namespace {{ $labels.namespace }} receives "
                "{{ $value | humanize }} successful requests/s yet counted no prediction for " + np_window + "."
            ),
        ),
        Alert(
            name="MlkubeClassMixShift",
            expr=(
                f"{q.CLASS_MIX_DISTANCE.format(window=mix.window)} > {number(mix.max_distance)}\n"
                f"and {q.on(*q.MODEL_LABELS)}\n"
                f"sum {q.by(*q.MODEL_LABELS)} (rate({S.PREDICTIONS_TOTAL}[{mix.window}])) "
                f"> {number(mix.min_predictions_per_second)}"
            ),
            for_=mix.for_,
            severity="ticket",
            summary="Predicted classes of model {{ $labels.model }} drifted from the training distribution.",
            description=(
                "Model {{ $labels.model }} in namespace {{ $labels.namespace }}: the class mix of its predictions "
                f'over {mix.window} is {{{{ printf "%.2f" $value }}}} away (total variation distance) from the '
                f"class shares of its training data; the threshold is {number(mix.max_distance)}."
            ),
        ),
    ]


def canary_alerts(values: MonitoringValues) -> list[Alert]:
    c = values.alerts.canary
    canary = f'{{{S.VARIANT}="canary"}}'
    stable = f'{{{S.VARIANT}="stable"}}'
    match = q.on(*q.MODEL_LABELS)
    enough_traffic = (
        f"and {match} {q.VARIANT_REQUESTS_RATE}{canary} > {number(c.min_requests_per_second)}\n"
        f"and {match} {q.VARIANT_REQUESTS_RATE}{stable} > {number(c.min_requests_per_second)}"
    )
    return [
        Alert(
            name="MlkubeCanaryErrorRatioWorse",
            expr=(
                f"(\n  {q.VARIANT_ERROR_RATIO}{canary}\n  - {match}\n  {q.VARIANT_ERROR_RATIO}{stable}\n)"
                f" > {number(c.max_error_ratio_increase)}\n{enough_traffic}"
            ),
            for_=c.for_,
            severity="ticket",
            labels={S.VARIANT: "canary"},
            summary="The canary of model {{ $labels.model }} fails more often than stable.",
            description=(
                "Model {{ $labels.model }} in namespace {{ $labels.namespace }}: the canary's 5xx ratio exceeds "
                "stable's by {{ $value | humanizePercentage }} (threshold "
                f"{number(c.max_error_ratio_increase * 100)} points) for {c.for_}. Consider aborting the rollout."
            ),
        ),
        Alert(
            name="MlkubeCanaryLatencyWorse",
            expr=(
                f"(\n  {q.VARIANT_P99}{canary}\n  / {match}\n  {q.VARIANT_P99}{stable}\n)"
                f" > {number(c.max_p99_ratio)}\n{enough_traffic}"
            ),
            for_=c.for_,
            severity="ticket",
            labels={S.VARIANT: "canary"},
            summary="The canary of model {{ $labels.model }} is slower than stable.",
            description=(
                "Model {{ $labels.model }} in namespace {{ $labels.namespace }}: the canary's p99 latency is "
                "{{ $value | humanize }}x stable's (threshold "
                f"{number(c.max_p99_ratio)}x) for {c.for_}. Consider aborting the rollout."
            ),
        ),
    ]


def rollout_controller_alerts(values: MonitoringValues) -> list[Alert]:
    """Argo Rollouts: a rollout aborted or left paused, and the controller itself unreachable."""
    r = values.alerts.rollouts
    rollout = q.by(NAMESPACE, A.NAME)
    aborts = q.counter_increased(A.ROLLOUT_EVENTS_TOTAL, f'{A.REASON}="{A.ROLLOUT_ABORTED}"', r.aborted_window, rollout)
    return [
        Alert(
            name="MlkubeRolloutAborted",
            # The rollout trigger reverts an aborted Rollout within seconds, so its Abort phase may never be
            # scraped: the abort events count too, including the first one (a series that did not exist before).
            expr=f'max {rollout} ({A.ROLLOUT_INFO}{{{A.PHASE}="{A.ABORTED}"}})\nor\n{aborts}',
            severity="ticket",
            summary="Rollout {{ $labels.name }} was aborted.",
            description=(
                "Argo Rollout {{ $labels.name }} in namespace {{ $labels.namespace }} aborted within the last "
                f"{r.aborted_window}: its analysis failed (or someone aborted it), and traffic went back to the stable "
                "pods. The AnalysisRun names the metric that failed; the rollout trigger tagged the model version."
            ),
        ),
        Alert(
            name="MlkubeRolloutPaused",
            expr=f'max {rollout} ({A.ROLLOUT_INFO}{{{A.PHASE}="{A.PAUSED}"}})',
            for_=r.paused_for,
            severity="ticket",
            summary="Rollout {{ $labels.name }} has been paused for " + f"{r.paused_for}.",
            description=(
                "Argo Rollout {{ $labels.name }} in namespace {{ $labels.namespace }} has been paused for "
                f"{r.paused_for}: an inconclusive analysis (a query without data) or a `pause: {{}}` step waits for "
                "`kubectl argo rollouts promote` or `abort`."
            ),
        ),
        Alert(
            name="MlkubeRolloutsControllerDown",
            expr=f'up{{job="{A.JOB}"}} == 0',
            for_=r.controller_down_for,
            severity="page",
            summary="The Argo Rollouts controller is unreachable.",
            description=(
                "Prometheus has not reached the metrics endpoint of job {{ $labels.job }} ({{ $labels.instance }}) "
                f"for {r.controller_down_for}: no rollout moves, and none aborts, while the controller is down."
            ),
        ),
    ]


def training_alerts(values: MonitoringValues) -> list[Alert]:
    hours = values.alerts.training.max_hours_without_success
    key = q.by(T.JOB, T.ALGORITHM)
    failure = f"max {key} ({T.LAST_FAILURE_TIMESTAMP})"
    success = f"max {key} ({T.LAST_SUCCESS_TIMESTAMP})"
    return [
        Alert(
            name="MlkubeTrainingJobFailed",
            expr=f"{failure} > {success}\nor\n{failure} unless {q.on(T.JOB, T.ALGORITHM)} {success}",
            severity="ticket",
            summary="The last training run of {{ $labels.job }} / {{ $labels.algorithm }} failed.",
            description=(
                "Training job {{ $labels.job }}, algorithm {{ $labels.algorithm }}, pushed a failure "
                "more recent than its last success (failure at {{ $value | humanizeTimestamp }})."
            ),
        ),
        Alert(
            name="MlkubeTrainingStale",
            expr=(f"time() - max {q.by(T.JOB, T.ALGORITHM, T.MODEL)} ({T.LAST_SUCCESS_TIMESTAMP}) > {hours * 3600}"),
            severity="ticket",
            summary="No successful training of {{ $labels.model }} for more than " + f"{hours}h.",
            description=(
                "Training job {{ $labels.job }}, algorithm {{ $labels.algorithm }}, last trained model "
                "{{ $labels.model }} successfully {{ $value | humanizeDuration }} ago; the limit is "
                f"{hours}h."
            ),
        ),
    ]


def all_alerts(values: MonitoringValues) -> list[Alert]:
    return (
        slo_alerts(values)
        + model_alerts(values)
        + canary_alerts(values)
        + rollout_controller_alerts(values)
        + training_alerts(values)
    )


def _alert_rule(alert: Alert, values: MonitoringValues) -> dict:
    rule: dict = {"alert": alert.name, "expr": alert.expr}
    if alert.for_ != "0m":
        rule["for"] = alert.for_
    rule["labels"] = {"severity": alert.severity, **alert.labels}
    rule["annotations"] = {
        "summary": alert.summary,
        "description": alert.description,
        "runbook_url": f"{values.alerts.runbook_base_url}#{anchor(alert.name)}",
    }
    return rule


def _records(records: list[q.Record]) -> list[dict]:
    return [{"record": r.name, "expr": r.expr} for r in records]


def rule_files(values: MonitoringValues) -> dict[str, dict]:
    """File name -> Prometheus rule file document."""
    alerts = all_alerts(values)
    groups_of = {
        "serving": [
            "Mlkube" + n
            for n in (
                "AvailabilityBudgetBurn",
                "LatencyBudgetBurn",
                "ModelNotLoaded",
                "ModelLoadFailures",
                "NoPredictions",
                "ClassMixShift",
            )
        ],
        "rollout": [
            "MlkubeCanaryErrorRatioWorse",
            "MlkubeCanaryLatencyWorse",
            "MlkubeRolloutAborted",
            "MlkubeRolloutPaused",
            "MlkubeRolloutsControllerDown",
        ],
        "training": ["MlkubeTrainingJobFailed", "MlkubeTrainingStale"],
    }

    def alerts_in(group: str) -> list[dict]:
        return [_alert_rule(a, values) for a in alerts if a.name in groups_of[group]]

    return {
        "recording.yaml": {
            "groups": [
                {"name": "mlkube-serving-red", "rules": _records(q.red_records())},
                {"name": "mlkube-class-mix", "rules": _records(q.class_mix_records(values.alerts.class_mix.window))},
                {"name": "mlkube-slo-sli", "rules": _records(q.slo_records(values.slo.latency.threshold_seconds))},
            ]
        },
        "serving-alerts.yaml": {"groups": [{"name": "mlkube-serving-alerts", "rules": alerts_in("serving")}]},
        "rollout-alerts.yaml": {"groups": [{"name": "mlkube-rollout-alerts", "rules": alerts_in("rollout")}]},
        "training-alerts.yaml": {"groups": [{"name": "mlkube-training-alerts", "rules": alerts_in("training")}]},
    }
