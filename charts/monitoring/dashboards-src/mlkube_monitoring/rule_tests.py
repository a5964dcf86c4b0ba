"""`promtool test rules` files: for every alert, input series where it must fire and where it must stay silent.

Expected annotations are the alert's own templates with the labels and the humanised value a responder
would read, so the test also proves that every template renders.

The cases are written for the values they are given, not for the defaults: error shares are multiples of the error
budget, times follow the alert's windows and `for` durations, so the same cases check the rules at any setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import placeholders, rules
from .contracts import NAMESPACE, TRAINING_CLASS_LABEL
from .contracts import argo as A
from .contracts import serving as S
from .contracts import training as T
from .promql import le_value
from .settings import MonitoringValues, seconds

NS = "ml"
POD = {"pod": "model-server-0", "instance": "10.0.0.1:8080", "job": "model-server"}
RF, LR, DIGITS = "penguins-random-forest", "penguins-logistic-regression", "digits"
TRAINING_SHARES = {"Adelie": 0.44, "Gentoo": 0.36, "Chinstrap": 0.2}


def series(name: str, labels: dict[str, str], values: str) -> dict:
    body = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def req_labels(model: str, variant: str = "stable", version: str = "3", code: str = "200") -> dict[str, str]:
    return {
        NAMESPACE: NS,
        **POD,
        S.MODEL: model,
        S.VERSION: version,
        S.VARIANT: variant,
        S.PROTOCOL: "v2",
        S.CODE: code,
    }


@dataclass
class Expect:
    labels: dict[str, str]
    value: str = ""  # the humanised $value as Prometheus renders it in the description


@dataclass
class Case:
    name: str
    alert: str
    input_series: list[dict]
    checks: list[tuple[str, list[Expect]]]  # (eval_time, alerts expected then; [] = silent)
    interval: str = "1m"
    extra_labels: dict[str, str] = field(default_factory=dict)


def number(value: float) -> str:
    return repr(round(value, 10))


def _minutes(duration: str) -> int:
    return int(seconds(duration) // 60)


def humanize(value: float) -> str:
    """Prometheus' `humanize` template function."""
    if value == 0:
        return f"{value:.4g}"
    prefix = ""
    if abs(value) >= 1:
        for candidate in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix, value = candidate, value / 1000
    else:
        for candidate in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(value) >= 1:
                break
            prefix, value = candidate, value * 1000
    return f"{value:.4g}{prefix}"


def humanize_percentage(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"


def _hours(hours: int) -> str:
    """Prometheus' `humanizeDuration` of a whole number of hours (over a day)."""
    return f"{hours // 24}d {hours % 24}h 0m 0s" if hours >= 24 else f"{hours}h 0m 0s"


def _render(template: str, labels: dict[str, str], value: str) -> str:
    text = re.sub(r"\{\{[^}]*\$value[^}]*\}\}", value, template)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), "<no value>"), text)


def _expected(alert: rules.Alert, expect: Expect, values: MonitoringValues) -> dict:
    labels = {**expect.labels, "severity": alert.severity, **alert.labels}
    raw = values.model_dump(by_alias=True)
    annotations = {
        "summary": _render(placeholders.render(alert.summary, raw), labels, expect.value),
        "description": _render(placeholders.render(alert.description, raw), labels, expect.value),
        "runbook_url": placeholders.render(rules.runbook_url(alert.name), raw),
    }
    return {"exp_labels": labels, "exp_annotations": annotations}


def _test(case: Case, values: MonitoringValues) -> dict:
    by_severity = {}
    for alert in rules.all_alerts():
        if alert.name == case.alert:
            by_severity[alert.severity] = alert
    checks = []
    for eval_time, expects in case.checks:
        exp = [_expected(by_severity[e.labels.pop("severity")], e, values) for e in expects]
        checks.append({"eval_time": eval_time, "alertname": case.alert, "exp_alerts": exp})
    return {"name": case.name, "interval": case.interval, "input_series": case.input_series, "alert_rule_test": checks}


def _model(model: str, **extra: str) -> dict[str, str]:
    return {NAMESPACE: NS, S.MODEL: model, **extra}


def slo_cases(values: MonitoringValues) -> list[Case]:
    """Error shares as multiples of the error budget: 20x burns it fast enough to page (14.4x over 1h), 4x to
    open a ticket only (3x over a day, under 6x over 6h), 0.2x stays silent."""
    le = le_value(values.slo.latency.threshold_seconds)
    bucket = f"{S.REQUEST_DURATION_SECONDS}_bucket"
    count = f"{S.REQUEST_DURATION_SECONDS}_count"
    ok, err, bad_input = (req_labels(RF, code=c) for c in ("200", "500", "422"))
    availability_budget = 1 - values.slo.availability
    latency_budget = 1 - values.slo.latency.objective
    if max(availability_budget, latency_budget) >= 0.05:
        raise ValueError("the SLO cases need objectives above 0.95: 20x the error budget must be under 100%")

    def requests(burn: float, total: int = 100) -> list[dict]:
        errors = burn * availability_budget * total
        return [
            series(S.REQUESTS_TOTAL, ok, f"0+{number(total - errors)}x80"),
            series(S.REQUESTS_TOTAL, err, f"0+{number(errors)}x80"),
        ]

    def latency(burn: float, total: int = 100) -> list[dict]:
        lbl = {k: v for k, v in ok.items() if k != S.CODE}
        fast = total - burn * latency_budget * total
        return [series(bucket, {**lbl, "le": le}, f"0+{number(fast)}x80"), series(count, lbl, f"0+{total}x80")]

    def share(budget: float, burn: float) -> str:
        return humanize_percentage(burn * budget)

    page, ticket = (share(availability_budget, b) for b in (20, 4))
    return [
        Case(
            f"availability: {page} server errors (20x the budget) page and ticket",
            "MlkubeAvailabilityBudgetBurn",
            requests(20),
            [("75m", [Expect(_model(RF, severity="page"), page), Expect(_model(RF, severity="ticket"), page)])],
        ),
        Case(
            f"availability: {ticket} server errors (4x the budget) open a ticket only",
            "MlkubeAvailabilityBudgetBurn",
            requests(4),
            [("10m", []), ("75m", [Expect(_model(RF, severity="ticket"), ticket)])],
        ),
        Case(
            "availability: client errors and server errors at 0.2x the budget stay silent",
            "MlkubeAvailabilityBudgetBurn",
            [*requests(0.2, 1000), series(S.REQUESTS_TOTAL, bad_input, "0+500x80")],
            [("75m", [])],
        ),
        Case(
            "latency: slow requests at 20x the budget page and ticket",
            "MlkubeLatencyBudgetBurn",
            latency(20),
            [
                (
                    "75m",
                    [
                        Expect(_model(RF, severity="page"), share(latency_budget, 20)),
                        Expect(_model(RF, severity="ticket"), share(latency_budget, 20)),
                    ],
                )
            ],
        ),
        Case(
            "latency: slow requests at 4x the budget open a ticket only",
            "MlkubeLatencyBudgetBurn",
            latency(4),
            [("75m", [Expect(_model(RF, severity="ticket"), share(latency_budget, 4))])],
        ),
        Case(
            "latency: slow requests at 0.1x the budget stay silent",
            "MlkubeLatencyBudgetBurn",
            latency(0.1, 1000),
            [("75m", [])],
        ),
    ]


def model_cases(values: MonitoringValues) -> list[Case]:
    a = values.alerts
    not_loaded_for = _minutes(a.model_not_loaded.for_)
    failures_window = _minutes(a.model_load_failures.window)
    no_predictions_for = _minutes(a.no_predictions.for_)
    mix = a.class_mix
    mix_minutes = _minutes(mix.window) + _minutes(mix.for_) + 20
    length = max(mix_minutes, no_predictions_for + 20)
    if mix.max_distance >= 1 - TRAINING_SHARES["Adelie"]:
        raise ValueError(f"the class-mix case needs alerts.classMix.maxDistance under {1 - TRAINING_SHARES['Adelie']}")
    loaded = {NAMESPACE: NS, **POD, S.MODEL: RF, S.VERSION: "3", S.ALIAS: "champion"}
    other = {**loaded, S.MODEL: LR}
    gone = {**loaded, "pod": "model-server-1", "instance": "10.0.0.2:8080"}
    failures = {NAMESPACE: NS, **POD, S.MODEL: DIGITS}
    preds = {NAMESPACE: NS, **POD, S.VERSION: "3", S.VARIANT: "stable"}

    def predicted(model: str, per_minute: dict[str, float]) -> list[dict]:
        return [
            series(S.PREDICTIONS_TOTAL, {**preds, S.MODEL: model, S.PREDICTED_CLASS: cls}, f"0+{number(n)}x{length}")
            for cls, n in per_minute.items()
        ]

    trained = [
        series(
            T.TRAINING_CLASS_SHARE,
            {T.JOB: "mlkube-training-penguins", S.MODEL: model, TRAINING_CLASS_LABEL: cls},
            f"{share}x{mix_minutes}",
        )
        for model in (RF, LR)
        for cls, share in TRAINING_SHARES.items()
    ]
    # Live shares at a distance halfway between the threshold and the farthest from training that moving Adelie's
    # share alone can go (all predictions Adelie).
    distance = round((mix.max_distance + 1 - TRAINING_SHARES["Adelie"]) / 2, 2)
    shifted = {
        cls: 60 * (share + distance if cls == "Adelie" else share * (1 - distance / (1 - TRAINING_SHARES["Adelie"])))
        for cls, share in TRAINING_SHARES.items()
    }
    not_loaded = not_loaded_for + 20
    return [
        Case(
            "a model that stops being loaded fires; a loaded one, or one on a server that is down, does not",
            "MlkubeModelNotLoaded",
            [
                series(S.MODEL_LOADED, loaded, "1x5 stale"),
                series(S.MODEL_LOADED, other, f"1x{not_loaded}"),
                series("up", {"instance": POD["instance"], "job": POD["job"]}, f"1x{not_loaded}"),
                series(S.MODEL_LOADED, gone, "1x5 stale"),
                series("up", {"instance": gone["instance"], "job": POD["job"]}, f"1x5 0x{not_loaded - 5}"),
            ],
            [
                ("4m", []),
                (f"{4 + not_loaded_for}m", []),
                (
                    f"{8 + not_loaded_for}m",
                    [Expect({**_model(RF), "pod": POD["pod"], "instance": POD["instance"], "severity": "page"})],
                ),
            ],
        ),
        Case(
            "new load failures fire, old ones go quiet",
            "MlkubeModelLoadFailures",
            [series(S.MODEL_LOAD_FAILURES_TOTAL, failures, f"0x10 1x{failures_window + 20}")],
            [
                ("5m", []),
                (f"{10 + failures_window // 2}m", [Expect({**failures, "severity": "ticket"}, "1")]),
                (f"{15 + failures_window}m", []),
            ],
        ),
        Case(
            "a failure counter that appears already above zero fires",
            "MlkubeModelLoadFailures",
            [series(S.MODEL_LOAD_FAILURES_TOTAL, failures, f"_x10 2x{failures_window + 20}")],
            [
                (f"{10 + failures_window // 2}m", [Expect({**failures, "severity": "ticket"}, "2")]),
                (f"{15 + failures_window}m", []),
            ],
        ),
        Case(
            "requests without predictions fire; predictions or client errors only stay silent",
            "MlkubeNoPredictions",
            [
                *[
                    series(S.REQUESTS_TOTAL, labels, f"0+60x{no_predictions_for + 20}")
                    for labels in (req_labels(DIGITS), req_labels(RF), req_labels(LR, code="422"), req_labels(""))
                ],
                *predicted(RF, {"Adelie": 60}),
            ],
            [
                (f"{no_predictions_for - 2}m", []),
                (f"{no_predictions_for + 15}m", [Expect(_model(DIGITS, severity="page"), "1")]),
            ],
        ),
        Case(
            "a class mix far from training fires; one that matches stays silent",
            "MlkubeClassMixShift",
            [
                *trained,
                *predicted(RF, shifted),
                *predicted(LR, {cls: 60 * share for cls, share in TRAINING_SHARES.items()}),
            ],
            [
                (f"{_minutes(mix.for_) // 2}m", []),
                (f"{mix_minutes - 10}m", [Expect(_model(RF, severity="ticket"), f"{distance:.2f}")]),
            ],
        ),
    ]


def canary_cases(values: MonitoringValues) -> list[Case]:
    c = values.alerts.canary
    bucket = f"{S.REQUEST_DURATION_SECONDS}_bucket"
    length = _minutes(c.for_) + 20
    worse = min(5 * c.max_error_ratio_increase, (1 + c.max_error_ratio_increase) / 2)

    def traffic(model: str, canary_errors: float, per_minute: float = 100) -> list[dict]:
        errors = canary_errors * per_minute
        return [
            series(S.REQUESTS_TOTAL, req_labels(model, "stable", "3"), f"0+100x{length}"),
            series(S.REQUESTS_TOTAL, req_labels(model, "canary", "4"), f"0+{number(per_minute - errors)}x{length}"),
            series(S.REQUESTS_TOTAL, req_labels(model, "canary", "4", "500"), f"0+{number(errors)}x{length}"),
        ]

    def histogram(model: str, variant: str, version: str, per_le: dict[str, int]) -> list[dict]:
        lbl = {k: v for k, v in req_labels(model, variant, version).items() if k != S.CODE}
        return [series(bucket, {**lbl, "le": le}, f"0+{n}x{length}") for le, n in per_le.items()]

    # Stable answers within 50 ms (p99 0.0495 s), the slow canary between 100 ms and the first bound that puts its
    # p99 above maxP99Ratio times stable's.
    stable_p99 = 0.05 * 0.99

    def p99_ratio(upper: float) -> float:  # all canary requests between 0.1 s and `upper`
        return (0.1 + 0.99 * (upper - 0.1)) / stable_p99

    upper = next(b for b in (0.5, 1, 2.5, 5, 10, 25, 50, 100, 1000) if p99_ratio(b) > c.max_p99_ratio)
    bounds = ("0.05", "0.1", le_value(upper), "+Inf")
    fast = dict.fromkeys(bounds, 100)
    slow = {bound: 0 if bound in ("0.05", "0.1") else 100 for bound in bounds}
    ratio = p99_ratio(upper)
    return [
        Case(
            "a canary with more server errors than allowed fires; a close one or one with too little traffic does not",
            "MlkubeCanaryErrorRatioWorse",
            [
                *traffic(RF, worse),
                *traffic(LR, c.max_error_ratio_increase / 2),
                # half the least request rate compared, per second
                *traffic(DIGITS, 0.5, per_minute=30 * c.min_requests_per_second),
            ],
            [
                (f"{_minutes(c.for_) // 2}m", []),
                (f"{_minutes(c.for_) + 15}m", [Expect(_model(RF, severity="ticket"), humanize_percentage(worse))]),
            ],
        ),
        Case(
            "a canary p99 above the allowed ratio of stable's fires; an equal one stays silent",
            "MlkubeCanaryLatencyWorse",
            [
                *traffic(RF, 0),
                *traffic(LR, 0),
                *histogram(RF, "stable", "3", fast),
                *histogram(RF, "canary", "4", slow),
                *histogram(LR, "stable", "3", fast),
                *histogram(LR, "canary", "4", fast),
            ],
            [
                (f"{_minutes(c.for_) // 2}m", []),
                (f"{_minutes(c.for_) + 15}m", [Expect(_model(RF, severity="ticket"), humanize(ratio))]),
            ],
        ),
    ]


def rollout_controller_cases(values: MonitoringValues) -> list[Case]:
    r = values.alerts.rollouts
    window = _minutes(r.aborted_window)
    paused = _minutes(r.paused_for)
    down = _minutes(r.controller_down_for)
    controller = {"job": A.JOB, "instance": "10.96.0.20:8090"}
    good, bad, quick = "mlkube-model-server", "penguins-server", "digits-server"

    def info(name: str, phase: str, values_: str) -> dict:
        return series(
            A.ROLLOUT_INFO,
            {**controller, NAMESPACE: NS, A.NAME: name, A.STRATEGY: "canary", A.TRAFFIC_ROUTER: "", A.PHASE: phase},
            values_,
        )

    def events(name: str, reason: str, values_: str) -> dict:
        return series(
            A.ROLLOUT_EVENTS_TOTAL,
            {**controller, NAMESPACE: NS, A.NAME: name, A.METRIC_TYPE: "Warning", A.REASON: reason},
            values_,
        )

    def rollout(name: str) -> dict[str, str]:
        return {NAMESPACE: NS, A.NAME: name, "severity": "ticket"}

    end = 3 * window + 10
    return [
        Case(
            "an aborted rollout fires while aborted and for the window after; a promoted one stays silent",
            "MlkubeRolloutAborted",
            [
                info(bad, "Progressing", f"1x9 _x{end - 9}"),
                info(bad, "Abort", f"_x10 1x4 _x{end - 14}"),
                info(bad, "Completed", f"_x15 1x{end - 15}"),
                events(bad, A.ROLLOUT_ABORTED, f"_x10 1x{end - 10}"),
                info(good, "Progressing", f"1x9 _x{end - 9}"),
                info(good, "Completed", f"_x10 1x{end - 10}"),
                events(good, A.STEP_COMPLETED, f"0+1x{end}"),
            ],
            [
                ("5m", []),
                ("12m", [Expect(rollout(bad))]),
                (f"{10 + window - 2}m", [Expect(rollout(bad))]),
                (f"{10 + window + 5}m", []),
            ],
        ),
        Case(
            "an abort reverted before any scrape saw it fires from its event",
            "MlkubeRolloutAborted",
            [info(quick, "Completed", f"1x{end}"), events(quick, A.ROLLOUT_ABORTED, f"1x{window + 5} 2x{window + 5}")],
            [(f"{window}m", []), (f"{window + 10}m", [Expect(rollout(quick))]), (f"{2 * window + 8}m", [])],
        ),
        Case(
            "a rollout paused longer than the limit fires; a short pause does not",
            "MlkubeRolloutPaused",
            [
                info(bad, "Paused", f"1x{paused + 10}"),
                info(good, "Paused", f"1x{paused // 2} _x{paused + 10 - paused // 2}"),
                info(good, "Progressing", f"_x{paused // 2 + 1} 1x{paused + 9 - paused // 2}"),
            ],
            [(f"{paused - 2}m", []), (f"{paused + 2}m", [Expect(rollout(bad))])],
        ),
        Case(
            "the controller's metrics endpoint down fires; the model server's does not count",
            "MlkubeRolloutsControllerDown",
            [
                series("up", controller, f"1x5 0x{down + 10}"),
                series("up", {"job": "model-server", "instance": POD["instance"]}, f"0x{down + 15}"),
            ],
            [("4m", []), (f"{5 + down - 2}m", []), (f"{5 + down + 2}m", [Expect({**controller, "severity": "page"})])],
        ),
    ]


def training_cases(values: MonitoringValues) -> list[Case]:
    job = {T.JOB: "mlkube-training-penguins", "instance": ""}
    hours = values.alerts.training.max_hours_without_success

    def run(metric: str, algorithm: str, at: int, model: str | None = None) -> dict:
        labels = {**job, T.ALGORITHM: algorithm, **({T.MODEL: model} if model else {})}
        return series(metric, labels, f"{at}x20")

    failed = {T.JOB: job[T.JOB], T.ALGORITHM: "svm"}
    never = {T.JOB: job[T.JOB], T.ALGORITHM: "logistic_regression"}
    stale_labels = {T.JOB: job[T.JOB], T.ALGORITHM: "random_forest", T.MODEL: RF}
    return [
        Case(
            "a failure after the last success fires, as does a failure with no success ever; "
            "a success after the failure is silent",
            "MlkubeTrainingJobFailed",
            [
                run(T.LAST_FAILURE_TIMESTAMP, "svm", 1700000000),
                run(T.LAST_SUCCESS_TIMESTAMP, "svm", 1690000000, "penguins-svm"),
                run(T.LAST_FAILURE_TIMESTAMP, "logistic_regression", 1700000000),
                run(T.LAST_FAILURE_TIMESTAMP, "random_forest", 1700000000),
                run(T.LAST_SUCCESS_TIMESTAMP, "random_forest", 1700000500, RF),
            ],
            [
                (
                    "5m",
                    [
                        Expect({**failed, "severity": "ticket"}, "2023-11-14 22:13:20 +0000 UTC"),
                        Expect({**never, "severity": "ticket"}, "2023-11-14 22:13:20 +0000 UTC"),
                    ],
                )
            ],
        ),
        Case(
            "a success after the last failure stays silent",
            "MlkubeTrainingJobFailed",
            [
                run(T.LAST_FAILURE_TIMESTAMP, "random_forest", 1700000000),
                run(T.LAST_SUCCESS_TIMESTAMP, "random_forest", 1700000500, RF),
            ],
            [("5m", [])],
        ),
        Case(
            "no success for longer than the limit fires",
            "MlkubeTrainingStale",
            [series(T.LAST_SUCCESS_TIMESTAMP, {**job, T.ALGORITHM: "random_forest", T.MODEL: RF}, f"0x{hours + 10}")],
            [
                (f"{hours - 1}h", []),
                (f"{hours + 1}h", [Expect({**stale_labels, "severity": "ticket"}, _hours(hours + 1))]),
            ],
            interval="1h",
        ),
    ]


def test_files(values: MonitoringValues) -> dict[str, dict]:
    groups = {
        "serving-alerts.test.yaml": (
            ["serving-alerts.yaml", "recording.yaml"],
            slo_cases(values) + model_cases(values),
        ),
        "rollout-alerts.test.yaml": (
            ["rollout-alerts.yaml", "recording.yaml"],
            canary_cases(values) + rollout_controller_cases(values),
        ),
        "training-alerts.test.yaml": (["training-alerts.yaml"], training_cases(values)),
    }
    return {
        name: {
            "rule_files": [f"../rules/{f}" for f in files],
            "evaluation_interval": "1m",
            "tests": [_test(case, values) for case in cases],
        }
        for name, (files, cases) in groups.items()
    }
