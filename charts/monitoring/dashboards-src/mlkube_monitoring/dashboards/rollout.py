"""Rollout: the variants of a model side by side (canary vs stable, blue vs green), with deployment events."""

from __future__ import annotations

from .. import promql as q
from ..contracts import KSM_DEPLOYMENT_GENERATION, KSM_VARIANT_LABEL, NAMESPACE
from ..contracts import serving as S
from ..settings import MonitoringValues
from .common import NEEDS_KSM, Layout, annotation, base, graph, matchers, query, tabular, to_dict, variable
from .serving import pods_ready_per_variant

UID = "mlkube-rollout"
RATE = "$__rate_interval"
BY_VARIANT = (S.MODEL, S.VARIANT)
LEGEND = "{{model}} {{variant}}"


def selector(**fixed: str) -> str:
    return "{" + matchers(NAMESPACE, S.MODEL, S.VERSION, **fixed) + "}"


def rate_of(metric: str, by: tuple[str, ...], **fixed: str) -> str:
    return f"sum {q.by(*by)} (rate({metric}{selector(**fixed)}[{RATE}]))"


def share(metric: str, by: tuple[str, ...], of: tuple[str, ...]) -> str:
    return f"{rate_of(metric, by)}\n/ {q.on(*of)} group_left\n{rate_of(metric, of)}"


def code_ratio(code_regex: str) -> str:
    total = rate_of(S.REQUESTS_TOTAL, BY_VARIANT)
    return f"({rate_of(S.REQUESTS_TOTAL, BY_VARIANT, **{S.CODE: code_regex})} or {total} * 0) / {total}"


def build(values: MonitoringValues) -> dict:
    c = values.alerts.canary
    model_sel = matchers(NAMESPACE, S.MODEL)
    by_combo = q.by(S.MODEL, S.VARIANT, S.VERSION)
    new_version = (
        f"count {by_combo} ({S.REQUESTS_TOTAL}{{{model_sel}}})\n"
        f"unless\ncount {by_combo} ({S.REQUESTS_TOTAL}{{{model_sel}}} offset 2m)"
    )
    rollout_event = (
        f'changes({KSM_DEPLOYMENT_GENERATION}{{{NAMESPACE}=~"${NAMESPACE}"}}[2m]) > 0'
    )
    layout = Layout(
        base(UID, "mlkube / Rollout", "Canary vs stable (or blue vs green) of one model side by side: traffic "
             "share, errors, p99 latency and class mix, with deployment events as annotations.")
        .with_variable(variable(NAMESPACE, "Namespace", S.REQUESTS_TOTAL))
        .with_variable(variable(S.MODEL, "Model", S.REQUESTS_TOTAL, matchers(NAMESPACE)))
        .with_variable(variable(S.VERSION, "Version", S.REQUESTS_TOTAL, matchers(NAMESPACE, S.MODEL)))
        .annotation(annotation("New version serving", new_version, "blue"))
        .annotation(annotation("Deployment changed (kube-state-metrics)", rollout_event, "orange"))
    )
    layout.row("Variants side by side").add(
        graph("Traffic share", "Share of each model's requests that each variant answers.", "percentunit",
              query(share(S.REQUESTS_TOTAL, BY_VARIANT, (S.MODEL,)), LEGEND), stacked=True, max_value=1),
        tabular("Versions per variant", "Which model version each variant serves, with its request rate.",
                "reqps", query(rate_of(S.REQUESTS_TOTAL, (S.MODEL, S.VARIANT, S.VERSION)), "")),
        graph("Server error ratio (5xx)", "Share of requests answered with a 5xx, per variant.", "percentunit",
              query(code_ratio(q.SERVER_ERROR), LEGEND)),
        graph("Client error ratio (4xx)", "Share of requests rejected as invalid input, per variant.",
              "percentunit", query(code_ratio(q.CLIENT_ERROR), LEGEND)),
        graph("Latency p99", "99th percentile request latency per variant.", "s",
              query(f"histogram_quantile(0.99, {rate_of(S.REQUEST_DURATION_SECONDS + '_bucket', (*BY_VARIANT, 'le'))})",
                    LEGEND)),
        graph("Class mix per variant", "Share of each predicted class, per variant.", "percentunit",
              query(share(S.PREDICTIONS_TOTAL, (*BY_VARIANT, S.PREDICTED_CLASS), BY_VARIANT),
                    "{{model}} {{variant}} {{predicted_class}}"), max_value=1),
    )
    canary, stable = f'{S.VARIANT}="canary"', f'{S.VARIANT}="stable"'
    layout.row("Canary verdict").add(
        graph("Canary minus stable: server error ratio",
              f"MlkubeCanaryErrorRatioWorse fires above {c.max_error_ratio_increase} for {c.for_}.", "percentunit",
              query(f"{q.VARIANT_ERROR_RATIO}{{{model_sel}, {canary}}}\n- {q.on(NAMESPACE, S.MODEL)}\n"
                    f"{q.VARIANT_ERROR_RATIO}{{{model_sel}, {stable}}}", "{{model}}")),
        graph("Canary / stable: p99 latency",
              f"MlkubeCanaryLatencyWorse fires above {c.max_p99_ratio}x for {c.for_}.", "short",
              query(f"{q.VARIANT_P99}{{{model_sel}, {canary}}}\n/ {q.on(NAMESPACE, S.MODEL)}\n"
                    f"{q.VARIANT_P99}{{{model_sel}, {stable}}}", "{{model}}")),
        graph("Pods ready per variant", NEEDS_KSM, "short",
              query(pods_ready_per_variant(f'{NAMESPACE}=~"${NAMESPACE}"'), f"{{{{{KSM_VARIANT_LABEL}}}}}"),
              width=24),
    )
    return to_dict(layout.dashboard)
