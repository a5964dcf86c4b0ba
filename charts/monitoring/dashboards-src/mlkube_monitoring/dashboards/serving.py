"""Serving: RED per model x version x variant x protocol, in-flight, batching, class mix, model loading, SLOs."""

from __future__ import annotations

from .. import promql as q
from ..contracts import KSM_POD_LABELS, KSM_POD_READY, KSM_VARIANT_LABEL, NAMESPACE
from ..contracts import serving as S
from ..placeholders import ref
from .common import NEEDS_KSM, Layout, base, graph, matchers, query, single, tabular, to_dict, variable

UID = "mlkube-serving"
RATE = "$__rate_interval"
SERIES = "{{model}} v{{version}} {{variant}} {{protocol}}"
RED_BY = (S.MODEL, S.VERSION, S.VARIANT, S.PROTOCOL)


def selector(**fixed: str) -> str:
    return "{" + matchers(NAMESPACE, S.MODEL, S.VERSION, **fixed) + "}"


def rate_of(metric: str, by: tuple[str, ...], **fixed: str) -> str:
    return f"sum {q.by(*by)} (rate({metric}{selector(**fixed)}[{RATE}]))"


def code_ratio(code_regex: str) -> str:
    total = rate_of(S.REQUESTS_TOTAL, RED_BY)
    matching = rate_of(S.REQUESTS_TOTAL, RED_BY, **{S.CODE: code_regex})
    return f"({matching} or {total} * 0) / {total}"


def quantile(metric: str, value: float, by: tuple[str, ...]) -> str:
    return f"histogram_quantile({value}, {rate_of(metric + '_bucket', (*by, 'le'))})"


def pods_ready_per_variant(ns_matcher: str) -> str:
    return (
        f'sum by ({KSM_VARIANT_LABEL}) ({KSM_POD_READY}{{condition="true", {ns_matcher}}}\n'
        f"* on (namespace, pod) group_left ({KSM_VARIANT_LABEL})\n"
        f'max by (namespace, pod, {KSM_VARIANT_LABEL}) ({KSM_POD_LABELS}{{{KSM_VARIANT_LABEL}!="", {ns_matcher}}}))'
    )


def build() -> dict:
    mix_window = ref("alerts.classMix.window")
    model_sel = "{" + matchers(NAMESPACE, S.MODEL) + "}"
    layout = Layout(
        base(
            UID,
            "mlkube / Serving",
            "Requests, errors, latency, batching and predictions of every served "
            "model, by model, version, variant and protocol.",
        )
        .with_variable(variable(NAMESPACE, "Namespace", S.REQUESTS_TOTAL))
        .with_variable(variable(S.MODEL, "Model", S.REQUESTS_TOTAL, matchers(NAMESPACE)))
        .with_variable(variable(S.VERSION, "Version", S.REQUESTS_TOTAL, matchers(NAMESPACE, S.MODEL)))
    )
    layout.row("Traffic and errors").add(
        graph(
            "Request rate", "Requests answered per second.", "reqps", query(rate_of(S.REQUESTS_TOTAL, RED_BY), SERIES)
        ),
        graph(
            "Requests by status code",
            "Requests per second by HTTP status code.",
            "reqps",
            query(rate_of(S.REQUESTS_TOTAL, (S.MODEL, S.CODE)), "{{model}} {{code}}"),
            stacked=True,
        ),
        graph(
            "Server error ratio (5xx)",
            "Share of requests answered with a 5xx; what the availability SLO counts.",
            "percentunit",
            query(code_ratio(q.SERVER_ERROR), SERIES),
        ),
        graph(
            "Client error ratio (4xx)",
            "Share of requests rejected as invalid input (4xx).",
            "percentunit",
            query(code_ratio(q.CLIENT_ERROR), SERIES),
        ),
    )
    layout.row("Latency and load").add(
        graph(
            "Latency p50 / p90 / p99",
            "Request latency quantiles from the server's histogram.",
            "s",
            *[
                query(quantile(S.REQUEST_DURATION_SECONDS, value, RED_BY), f"{name} {SERIES}", ref)
                for (name, value), ref in zip(q.QUANTILES.items(), "ABC", strict=True)
            ],
            width=24,
        ),
        graph(
            "Requests in flight",
            "Requests waiting for or inside a predict call, per model and variant (summed "
            "over pods); each pod refuses more than max_queued_requests per model.",
            "short",
            query(f"sum by ({S.MODEL}, {S.VARIANT}) ({S.INFLIGHT_REQUESTS}{model_sel})", "{{model}} {{variant}}"),
            width=6,
        ),
        graph(
            "Requests shed",
            "Requests refused with 503 and Retry-After because the model's queue on a pod was "
            "full (load shedding). They count as 5xx in the availability SLO; sustained shedding wants more "
            "replicas.",
            "reqps",
            query(
                f"sum by ({S.MODEL}, {S.VARIANT}) (rate({S.REQUESTS_SHED_TOTAL}{model_sel}[{RATE}]))",
                "{{model}} {{variant}}",
            ),
            width=6,
        ),
        graph(
            "Batch size p50 / p99",
            "Rows per vectorised predict call after adaptive batching.",
            "short",
            query(quantile(S.BATCH_SIZE, 0.5, (S.MODEL, S.VERSION)), "p50 {{model}} v{{version}}", "A"),
            query(quantile(S.BATCH_SIZE, 0.99, (S.MODEL, S.VERSION)), "p99 {{model}} v{{version}}", "B"),
            width=6,
        ),
        graph(
            "Mean batch size",
            "Average rows per predict call.",
            "short",
            query(
                f"{rate_of(S.BATCH_SIZE + '_sum', (S.MODEL, S.VERSION))}\n/\n"
                f"{rate_of(S.BATCH_SIZE + '_count', (S.MODEL, S.VERSION))}",
                "{{model}} v{{version}}",
            ),
            width=6,
        ),
    )
    live_share = q.CLASS_SHARE_LIVE.format(window=mix_window)
    distance = q.CLASS_MIX_DISTANCE.format(window=mix_window)
    layout.row("Predictions").add(
        graph(
            "Predictions by class",
            "Predicted rows per second by class: the class mix over time.",
            "short",
            query(rate_of(S.PREDICTIONS_TOTAL, (S.MODEL, S.PREDICTED_CLASS)), "{{model}} {{predicted_class}}"),
            stacked=True,
        ),
        graph(
            "Class share: live vs training",
            f"Share of each predicted class over {mix_window}, next to its share in the "
            "training data the trainer pushed.",
            "percentunit",
            query(f"{live_share}{model_sel}", "live {{model}} {{predicted_class}}", "A"),
            query(f"{q.CLASS_SHARE_TRAINING}{{{matchers(S.MODEL)}}}", "training {{model}} {{predicted_class}}", "B"),
            max_value=1,
        ),
        graph(
            "Class mix distance",
            "Total variation distance between live and training class shares; the "
            f"MlkubeClassMixShift alert fires above {ref('alerts.classMix.maxDistance')}.",
            "short",
            query(f"{distance}{model_sel}", "{{model}}"),
            max_value=1,
        ),
    )
    layout.row("Models and pods").add(
        tabular(
            "Loaded model versions",
            "Model versions each server has loaded (1 = serving).",
            "short",
            query(f"{S.MODEL_LOADED}{selector()}", ""),
        ),
        tabular(
            "Model load time",
            "Seconds the last load of each model version took.",
            "s",
            query(f"{S.MODEL_LOAD_DURATION_SECONDS}{selector()}", ""),
        ),
        single(
            "Model load failures",
            "Failed model loads in the selected time range.",
            "short",
            query(f"sum by ({S.MODEL}) (increase({S.MODEL_LOAD_FAILURES_TOTAL}{model_sel}[$__range]))", "{{model}}"),
        ),
        graph(
            "Pods ready per variant",
            NEEDS_KSM,
            "short",
            query(pods_ready_per_variant(f'{NAMESPACE}=~"${NAMESPACE}"'), f"{{{{{KSM_VARIANT_LABEL}}}}}"),
            width=18,
        ),
    )
    availability_budget = f"(1 - {ref('slo.availability')})"
    latency_budget = f"(1 - {ref('slo.latency.objective')})"
    layout.row("Service level objectives").add(
        graph(
            "Availability burn rate",
            f"Server-error ratio divided by the error budget {availability_budget}; 1 spends the budget "
            f"in exactly {ref('slo.periodDays')} days, 14.4 pages.",
            "short",
            *[
                query(
                    f"{q.AVAILABILITY_ERRORS.format(window=w)}{model_sel} / {availability_budget}",
                    f"{{{{model}}}} {w}",
                    ref,
                )
                for w, ref in (("5m", "A"), ("1h", "B"), ("6h", "C"))
            ],
        ),
        graph(
            "Latency burn rate",
            f"Share of requests slower than {ref('slo.latency.thresholdSeconds')}s divided by the error budget "
            f"{latency_budget}.",
            "short",
            *[
                query(f"{q.LATENCY_ERRORS.format(window=w)}{model_sel} / {latency_budget}", f"{{{{model}}}} {w}", ref)
                for w, ref in (("5m", "A"), ("1h", "B"), ("6h", "C"))
            ],
        ),
    )
    return to_dict(layout.dashboard)
