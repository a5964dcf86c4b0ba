"""Prometheus rule files: RED and SLO recording rules, then the alerts, with placeholders for the chart's `slo:` and
`alerts:` values (placeholders.py): the chart fills them in at install time."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import promql as q
from .contracts import NAMESPACE
from .contracts import argo as A
from .contracts import serving as S
from .contracts import training as T
from .placeholders import le, ref

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


def anchor(alert_name: str) -> str:
    return alert_name.lower()


def _burn_rate_expr(record: str, objective: str, severity: str) -> str:
    clauses = []
    for long, short, factor in BURN_RATE_PAIRS[severity]:
        threshold = f"{factor:g} * (1 - {objective})"
        clauses.append(
            f"(\n  {record.format(window=short)} > {threshold}\n  and\n  {record.format(window=long)} > {threshold}\n)"
        )
    return "\nor\n".join(clauses)


def slo_alerts() -> list[Alert]:
    availability, objective = ref("slo.availability"), ref("slo.latency.objective")
    period = ref("slo.periodDays")
    alerts = []
    for severity in BURN_RATE_PAIRS:
        windows = ", ".join(f"{long}/{short} x{factor:g}" for long, short, factor in BURN_RATE_PAIRS[severity])
        alerts.append(
            Alert(
                name="MlkubeAvailabilityBudgetBurn",
                expr=_burn_rate_expr(q.AVAILABILITY_ERRORS, availability, severity),
                severity=severity,
                for_=BURN_FOR[severity],
                summary="Model {{ $labels.model }} burns its availability error budget too fast.",
                description=(
                    "Model {{ $labels.model }} in namespace {{ $labels.namespace }} answers "
                    "{{ $value | humanizePercentage }} of requests with a server error (5xx); the SLO asks for "
                    f"{availability} of requests without one over {period} days (burn-rate windows {windows})."
                ),
            )
        )
        alerts.append(
            Alert(
                name="MlkubeLatencyBudgetBurn",
                expr=_burn_rate_expr(q.LATENCY_ERRORS, objective, severity),
                severity=severity,
                for_=BURN_FOR[severity],
                summary="Model {{ $labels.model }} burns its latency error budget too fast.",
                description=(
                    "Model {{ $labels.model }} in namespace {{ $labels.namespace }}: "
                    "{{ $value | humanizePercentage }} of requests take longer than "
                    f"{ref('slo.latency.thresholdSeconds')}s; the SLO asks for {objective} of requests within it "
                    f"over {period} days (burn-rate windows {windows})."
                ),
            )
        )
    return alerts


def model_alerts() -> list[Alert]:
    failures_window = ref("alerts.modelLoadFailures.window")
    np_window = ref("alerts.noPredictions.for")
    mix_window, mix_for = ref("alerts.classMix.window"), ref("alerts.classMix.for")
    max_distance = ref("alerts.classMix.maxDistance")
    lookback, not_loaded_for = ref("alerts.modelNotLoaded.lookback"), ref("alerts.modelNotLoaded.for")
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
            for_=not_loaded_for,
            severity="page",
            summary="Model {{ $labels.model }} is not loaded on {{ $labels.pod }}.",
            description=(
                "Server {{ $labels.instance }} (namespace {{ $labels.namespace }}, pod {{ $labels.pod }}) "
                f"served model {{{{ $labels.model }}}} within the last {lookback} and has no version of it "
                f"loaded for {not_loaded_for}."
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
                f"{q.CLASS_MIX_DISTANCE.format(window=mix_window)} > {max_distance}\n"
                f"and {q.on(*q.MODEL_LABELS)}\n"
                f"sum {q.by(*q.MODEL_LABELS)} (rate({S.PREDICTIONS_TOTAL}[{mix_window}])) "
                f"> {ref('alerts.classMix.minPredictionsPerSecond')}"
            ),
            for_=mix_for,
            severity="ticket",
            summary="Predicted classes of model {{ $labels.model }} drifted from the training distribution.",
            description=(
                "Model {{ $labels.model }} in namespace {{ $labels.namespace }}: the class mix of its predictions "
                f'over {mix_window} is {{{{ printf "%.2f" $value }}}} away (total variation distance) from the '
                f"class shares of its training data; the threshold is {max_distance}."
            ),
        ),
    ]


def canary_alerts() -> list[Alert]:
    min_rate, for_ = ref("alerts.canary.minRequestsPerSecond"), ref("alerts.canary.for")
    max_increase, max_p99_ratio = ref("alerts.canary.maxErrorRatioIncrease"), ref("alerts.canary.maxP99Ratio")
    canary = f'{{{S.VARIANT}="canary"}}'
    stable = f'{{{S.VARIANT}="stable"}}'
    match = q.on(*q.MODEL_LABELS)
    enough_traffic = (
        f"and {match} {q.VARIANT_REQUESTS_RATE}{canary} > {min_rate}\n"
        f"and {match} {q.VARIANT_REQUESTS_RATE}{stable} > {min_rate}"
    )
    return [
        Alert(
            name="MlkubeCanaryErrorRatioWorse",
            expr=(
                f"(\n  {q.VARIANT_ERROR_RATIO}{canary}\n  - {match}\n  {q.VARIANT_ERROR_RATIO}{stable}\n)"
                f" > {max_increase}\n{enough_traffic}"
            ),
            for_=for_,
            severity="ticket",
            labels={S.VARIANT: "canary"},
            summary="The canary of model {{ $labels.model }} fails more often than stable.",
            description=(
                "Model {{ $labels.model }} in namespace {{ $labels.namespace }}: the canary's 5xx ratio exceeds "
                "stable's by {{ $value | humanizePercentage }} (threshold "
                f"{max_increase}) for {for_}. Consider aborting the rollout."
            ),
        ),
        Alert(
            name="MlkubeCanaryLatencyWorse",
            expr=(
                f"(\n  {q.VARIANT_P99}{canary}\n  / {match}\n  {q.VARIANT_P99}{stable}\n)"
                f" > {max_p99_ratio}\n{enough_traffic}"
            ),
            for_=for_,
            severity="ticket",
            labels={S.VARIANT: "canary"},
            summary="The canary of model {{ $labels.model }} is slower than stable.",
            description=(
                "Model {{ $labels.model }} in namespace {{ $labels.namespace }}: the canary's p99 latency is "
                "{{ $value | humanize }}x stable's (threshold "
                f"{max_p99_ratio}x) for {for_}. Consider aborting the rollout."
            ),
        ),
    ]


def rollout_controller_alerts() -> list[Alert]:
    """Argo Rollouts: a rollout aborted or left paused, and the controller itself unreachable."""
    aborted_window, paused_for = ref("alerts.rollouts.abortedWindow"), ref("alerts.rollouts.pausedFor")
    down_for = ref("alerts.rollouts.controllerDownFor")
    rollout = q.by(NAMESPACE, A.NAME)
    aborts = q.counter_increased(A.ROLLOUT_EVENTS_TOTAL, f'{A.REASON}="{A.ROLLOUT_ABORTED}"', aborted_window, rollout)
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
                f"{aborted_window}: its analysis failed (or someone aborted it), and traffic went back to the stable "
                "pods. The AnalysisRun names the metric that failed; the rollout trigger tagged the model version."
            ),
        ),
        Alert(
            name="MlkubeRolloutPaused",
            expr=f'max {rollout} ({A.ROLLOUT_INFO}{{{A.PHASE}="{A.PAUSED}"}})',
            for_=paused_for,
            severity="ticket",
            summary="Rollout {{ $labels.name }} has been paused for " + f"{paused_for}.",
            description=(
                "Argo Rollout {{ $labels.name }} in namespace {{ $labels.namespace }} has been paused for "
                f"{paused_for}: an inconclusive analysis (a query without data) or a `pause: {{}}` step waits for "
                "`kubectl argo rollouts promote` or `abort`."
            ),
        ),
        Alert(
            name="MlkubeRolloutsControllerDown",
            expr=f'up{{job="{A.JOB}"}} == 0',
            for_=down_for,
            severity="page",
            summary="The Argo Rollouts controller is unreachable.",
            description=(
                "Prometheus has not reached the metrics endpoint of job {{ $labels.job }} ({{ $labels.instance }}) "
                f"for {down_for}: no rollout moves, and none aborts, while the controller is down."
            ),
        ),
    ]


def training_alerts() -> list[Alert]:
    hours = ref("alerts.training.maxHoursWithoutSuccess")
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
            expr=(f"time() - max {q.by(T.JOB, T.ALGORITHM, T.MODEL)} ({T.LAST_SUCCESS_TIMESTAMP}) > 3600 * {hours}"),
            severity="ticket",
            summary="No successful training of {{ $labels.model }} for more than " + f"{hours}h.",
            description=(
                "Training job {{ $labels.job }}, algorithm {{ $labels.algorithm }}, last trained model "
                "{{ $labels.model }} successfully {{ $value | humanizeDuration }} ago; the limit is "
                f"{hours}h."
            ),
        ),
    ]


def all_alerts() -> list[Alert]:
    return slo_alerts() + model_alerts() + canary_alerts() + rollout_controller_alerts() + training_alerts()


def runbook_url(alert_name: str) -> str:
    return f"{ref('alerts.runbookBaseUrl')}#{anchor(alert_name)}"


def _alert_rule(alert: Alert) -> dict:
    rule: dict = {"alert": alert.name, "expr": alert.expr}
    if alert.for_ != "0m":
        rule["for"] = alert.for_
    rule["labels"] = {"severity": alert.severity, **alert.labels}
    rule["annotations"] = {
        "summary": alert.summary,
        "description": alert.description,
        "runbook_url": runbook_url(alert.name),
    }
    return rule


def _records(records: list[q.Record]) -> list[dict]:
    return [{"record": r.name, "expr": r.expr} for r in records]


def rule_files() -> dict[str, dict]:
    """File name -> Prometheus rule file document."""
    alerts = all_alerts()
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
        return [_alert_rule(a) for a in alerts if a.name in groups_of[group]]

    return {
        "recording.yaml": {
            "groups": [
                {"name": "mlkube-serving-red", "rules": _records(q.red_records())},
                {"name": "mlkube-class-mix", "rules": _records(q.class_mix_records(ref("alerts.classMix.window")))},
                {"name": "mlkube-slo-sli", "rules": _records(q.slo_records(le("slo.latency.thresholdSeconds")))},
            ]
        },
        "serving-alerts.yaml": {"groups": [{"name": "mlkube-serving-alerts", "rules": alerts_in("serving")}]},
        "rollout-alerts.yaml": {"groups": [{"name": "mlkube-rollout-alerts", "rules": alerts_in("rollout")}]},
        "training-alerts.yaml": {"groups": [{"name": "mlkube-training-alerts", "rules": alerts_in("training")}]},
    }
