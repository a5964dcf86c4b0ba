"""`promtool test rules` files: for every alert, input series where it must fire and where it must stay silent.

Expected annotations are the alert's own templates with the labels and the humanised value a responder
would read, so the test also proves that every template renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import rules
from .contracts import NAMESPACE, TRAINING_CLASS_LABEL
from .contracts import argo as A
from .contracts import serving as S
from .contracts import training as T
from .promql import le_value
from .settings import MonitoringValues

NS = "ml"
POD = {"pod": "model-server-0", "instance": "10.0.0.1:8080", "job": "model-server"}
RF, LR, DIGITS = "penguins-random-forest", "penguins-logistic-regression", "digits"


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


def _render(template: str, labels: dict[str, str], value: str) -> str:
    text = re.sub(r"\{\{[^}]*\$value[^}]*\}\}", value, template)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), "<no value>"), text)


def _expected(alert: rules.Alert, expect: Expect, values: MonitoringValues) -> dict:
    labels = {**expect.labels, "severity": alert.severity, **alert.labels}
    annotations = {
        "summary": _render(alert.summary, labels, expect.value),
        "description": _render(alert.description, labels, expect.value),
        "runbook_url": f"{values.alerts.runbook_base_url}#{rules.anchor(alert.name)}",
    }
    return {"exp_labels": labels, "exp_annotations": annotations}


def _test(case: Case, values: MonitoringValues) -> dict:
    by_severity = {}
    for alert in rules.all_alerts(values):
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
    le = le_value(values.slo.latency.threshold_seconds)
    bucket = f"{S.REQUEST_DURATION_SECONDS}_bucket"
    count = f"{S.REQUEST_DURATION_SECONDS}_count"
    ok, err, bad_input = (req_labels(RF, code=c) for c in ("200", "500", "422"))

    def latency(fast: int, total: int) -> list[dict]:
        lbl = {k: v for k, v in ok.items() if k != S.CODE}
        return [series(bucket, {**lbl, "le": le}, f"0+{fast}x80"), series(count, lbl, f"0+{total}x80")]

    return [
        Case(
            "availability: 10% server errors page and ticket",
            "MlkubeAvailabilityBudgetBurn",
            [series(S.REQUESTS_TOTAL, ok, "0+90x80"), series(S.REQUESTS_TOTAL, err, "0+10x80")],
            [("75m", [Expect(_model(RF, severity="page"), "10%"), Expect(_model(RF, severity="ticket"), "10%")])],
        ),
        Case(
            "availability: 2% server errors open a ticket only",
            "MlkubeAvailabilityBudgetBurn",
            [series(S.REQUESTS_TOTAL, ok, "0+98x80"), series(S.REQUESTS_TOTAL, err, "0+2x80")],
            [("10m", []), ("75m", [Expect(_model(RF, severity="ticket"), "2%")])],
        ),
        Case(
            "availability: client errors and 0.1% server errors stay silent",
            "MlkubeAvailabilityBudgetBurn",
            [
                series(S.REQUESTS_TOTAL, ok, "0+999x80"),
                series(S.REQUESTS_TOTAL, err, "0+1x80"),
                series(S.REQUESTS_TOTAL, bad_input, "0+500x80"),
            ],
            [("75m", [])],
        ),
        Case(
            "latency: 20% slow requests page and ticket",
            "MlkubeLatencyBudgetBurn",
            latency(80, 100),
            [("75m", [Expect(_model(RF, severity="page"), "20%"), Expect(_model(RF, severity="ticket"), "20%")])],
        ),
        Case(
            "latency: 4% slow requests open a ticket only",
            "MlkubeLatencyBudgetBurn",
            latency(96, 100),
            [("75m", [Expect(_model(RF, severity="ticket"), "4%")])],
        ),
        Case("latency: 0.1% slow requests stay silent", "MlkubeLatencyBudgetBurn", latency(999, 1000), [("75m", [])]),
    ]


def model_cases(values: MonitoringValues) -> list[Case]:
    loaded = {NAMESPACE: NS, **POD, S.MODEL: RF, S.VERSION: "3", S.ALIAS: "champion"}
    other = {**loaded, S.MODEL: LR}
    gone = {**loaded, "pod": "model-server-1", "instance": "10.0.0.2:8080"}
    failures = {NAMESPACE: NS, **POD, S.MODEL: DIGITS}
    preds = {NAMESPACE: NS, **POD, S.VERSION: "3", S.VARIANT: "stable"}

    def predicted(model: str, per_minute: dict[str, float]) -> list[dict]:
        return [
            series(S.PREDICTIONS_TOTAL, {**preds, S.MODEL: model, S.PREDICTED_CLASS: cls}, f"0+{n}x120")
            for cls, n in per_minute.items()
        ]

    trained = [
        series(
            T.TRAINING_CLASS_SHARE,
            {T.JOB: "mlkube-training-penguins", S.MODEL: model, TRAINING_CLASS_LABEL: cls},
            f"{share}x120",
        )
        for model in (RF, LR)
        for cls, share in (("Adelie", 0.44), ("Gentoo", 0.36), ("Chinstrap", 0.2))
    ]
    return [
        Case(
            "a model that stops being loaded fires; a loaded one, or one on a server that is down, does not",
            "MlkubeModelNotLoaded",
            [
                series(S.MODEL_LOADED, loaded, "1x5 stale"),
                series(S.MODEL_LOADED, other, "1x25"),
                series("up", {"instance": POD["instance"], "job": POD["job"]}, "1x25"),
                series(S.MODEL_LOADED, gone, "1x5 stale"),
                series("up", {"instance": gone["instance"], "job": POD["job"]}, "1x5 0x20"),
            ],
            [
                ("4m", []),
                ("8m", []),
                ("14m", [Expect({**_model(RF), "pod": POD["pod"], "instance": POD["instance"], "severity": "page"})]),
            ],
        ),
        Case(
            "new load failures fire, old ones go quiet",
            "MlkubeModelLoadFailures",
            [series(S.MODEL_LOAD_FAILURES_TOTAL, failures, "0x10 1x40")],
            [("5m", []), ("20m", [Expect({**failures, "severity": "ticket"}, "1")]), ("45m", [])],
        ),
        Case(
            "a failure counter that appears already above zero fires",
            "MlkubeModelLoadFailures",
            [series(S.MODEL_LOAD_FAILURES_TOTAL, failures, "_x10 2x30")],
            [("15m", [Expect({**failures, "severity": "ticket"}, "2")]), ("30m", [])],
        ),
        Case(
            "requests without predictions fire; predictions or client errors only stay silent",
            "MlkubeNoPredictions",
            [
                series(S.REQUESTS_TOTAL, req_labels(DIGITS), "0+60x30"),
                series(S.REQUESTS_TOTAL, req_labels(RF), "0+60x30"),
                series(S.REQUESTS_TOTAL, req_labels(LR, code="422"), "0+60x30"),
                series(S.REQUESTS_TOTAL, req_labels(""), "0+60x30"),
                *predicted(RF, {"Adelie": 60}),
            ],
            [("8m", []), ("25m", [Expect(_model(DIGITS, severity="page"), "1")])],
        ),
        Case(
            "a class mix far from training fires; one that matches stays silent",
            "MlkubeClassMixShift",
            [
                *trained,
                *predicted(RF, {"Adelie": 54, "Gentoo": 6, "Chinstrap": 0}),
                *predicted(LR, {"Adelie": 26.4, "Gentoo": 21.6, "Chinstrap": 12}),
            ],
            [("20m", []), ("100m", [Expect(_model(RF, severity="ticket"), "0.46")])],
        ),
    ]


def canary_cases(values: MonitoringValues) -> list[Case]:
    bucket = f"{S.REQUEST_DURATION_SECONDS}_bucket"

    def traffic(model: str, canary_ok: str, canary_err: str, stable_ok: str = "0+100x30") -> list[dict]:
        return [
            series(S.REQUESTS_TOTAL, req_labels(model, "stable", "3"), stable_ok),
            series(S.REQUESTS_TOTAL, req_labels(model, "canary", "4"), canary_ok),
            series(S.REQUESTS_TOTAL, req_labels(model, "canary", "4", "500"), canary_err),
        ]

    def histogram(model: str, variant: str, version: str, per_le: dict[str, int]) -> list[dict]:
        lbl = {k: v for k, v in req_labels(model, variant, version).items() if k != S.CODE}
        return [series(bucket, {**lbl, "le": le}, f"0+{n}x30") for le, n in per_le.items()]

    fast = {"0.05": 100, "0.1": 100, "0.5": 100, "1.0": 100, "+Inf": 100}
    slow = {"0.05": 0, "0.1": 0, "0.5": 100, "1.0": 100, "+Inf": 100}
    return [
        Case(
            "canary with 10% more server errors fires; a close one or one with too little traffic does not",
            "MlkubeCanaryErrorRatioWorse",
            [
                *traffic(RF, "0+90x30", "0+10x30"),
                *traffic(LR, "0+100x30", "0+1x30"),
                *traffic(DIGITS, "0+0.5x30", "0+0.5x30"),
            ],
            [("8m", []), ("25m", [Expect(_model(RF, severity="ticket"), "10%")])],
        ),
        Case(
            "canary p99 ten times stable's fires; an equal one stays silent",
            "MlkubeCanaryLatencyWorse",
            [
                *traffic(RF, "0+100x30", "0x30"),
                *traffic(LR, "0+100x30", "0x30"),
                *histogram(RF, "stable", "3", fast),
                *histogram(RF, "canary", "4", slow),
                *histogram(LR, "stable", "3", fast),
                *histogram(LR, "canary", "4", fast),
            ],
            [("8m", []), ("25m", [Expect(_model(RF, severity="ticket"), "10.02")])],
        ),
    ]


def rollout_controller_cases(values: MonitoringValues) -> list[Case]:
    r = values.alerts.rollouts
    window = rules.seconds(r.aborted_window) // 60
    paused = rules.seconds(r.paused_for) // 60
    down = rules.seconds(r.controller_down_for) // 60
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
            [(f"{hours - 1}h", []), (f"{hours + 1}h", [Expect({**stale_labels, "severity": "ticket"}, "8d 1h 0m 0s")])],
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
