"""Rollout: the variants of a model side by side (canary vs stable, blue vs green), with deployment events; and
the progressive strategies as Argo Rollouts runs them: each Rollout's phase and steps, its AnalysisRuns and each
metric's verdict, the canary and stable pods compared by `revision` with the analysis' own queries, and the
controller's health."""

from __future__ import annotations

from .. import analysis
from .. import promql as q
from ..contracts import KSM_DEPLOYMENT_GENERATION, KSM_VARIANT_LABEL, NAMESPACE
from ..contracts import argo as A
from ..contracts import serving as S
from ..placeholders import ref
from .common import NEEDS_KSM, Layout, annotation, base, graph, matchers, query, single, tabular, to_dict, variable
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


ROLLOUT = "rollout"  # the template variable over the Rollouts' names
NEEDS_ARGO = (
    "From the Argo Rollouts controller's metrics (monitoring chart `scrape.argoRollouts`); no data "
    "without progressive strategies."
)
# Argo names a Rollout's AnalysisRuns <rollout>-<hash>-<revision>[-<step>|-pre|-post].
RUNS_OF_ROLLOUTS = f"(${ROLLOUT})-.+"


def rollout_matchers(**fixed: str) -> str:
    """Matchers of the controller's series about the selected Rollouts (label `name`)."""
    extra = "".join(f', {label}="{value}"' for label, value in fixed.items())
    return f'{NAMESPACE}=~"${NAMESPACE}", {A.NAME}=~"${ROLLOUT}"{extra}'


def rollouts(**fixed: str) -> str:
    return "{" + rollout_matchers(**fixed) + "}"


def runs() -> str:
    """Selector of the selected Rollouts' AnalysisRuns."""
    return f'{{{NAMESPACE}=~"${NAMESPACE}", {A.NAME}=~"{RUNS_OF_ROLLOUTS}"}}'


def controller(metric: str) -> str:
    return f'{metric}{{job="{A.JOB}"}}'


def analysis_runs_table() -> str:
    """Each AnalysisRun's phase, with the canary revision it judges taken from its name."""
    runs_by_phase = f"max {q.by(NAMESPACE, A.NAME, A.PHASE)} ({A.ANALYSIS_RUN_INFO}{runs()})"
    return f'label_replace({runs_by_phase}, "{S.REVISION}", "$1", "{A.NAME}", "{A.ANALYSIS_RUN_NAME_REVISION}")'


def metric_verdicts() -> str:
    """The phase of each AnalysisRun metric's latest measurement (the gauge is 1 for that phase only)."""
    return f"max {q.by(A.NAME, A.METRIC, A.PHASE)} ({A.ANALYSIS_RUN_METRIC_PHASE}{runs()} == 1)"


def by_revision(*by: str) -> analysis.Pods:
    """The model server pods of the selected namespace and model, one series per revision (pod template hash)."""
    return analysis.Pods(matchers(NAMESPACE, S.MODEL), RATE, by=by or (S.MODEL, S.REVISION))


def traffic_share_by_revision() -> str:
    per_revision, per_model = by_revision(), by_revision(S.MODEL)
    return f"{analysis.requests(per_revision)}\n/ {q.on(S.MODEL)} group_left\n{analysis.requests(per_model)}"


def event_annotation(name: str, reason: str, colour: str):
    moved = q.counter_increased(
        A.ROLLOUT_EVENTS_TOTAL, rollout_matchers(**{A.REASON: reason}), "2m", q.by(NAMESPACE, A.NAME)
    )
    return annotation(name, moved, colour)


def build() -> dict:
    canary_for = ref("alerts.canary.for")
    model_sel = matchers(NAMESPACE, S.MODEL)
    by_combo = q.by(S.MODEL, S.VARIANT, S.VERSION)
    new_version = (
        f"count {by_combo} ({S.REQUESTS_TOTAL}{{{model_sel}}})\n"
        f"unless\ncount {by_combo} ({S.REQUESTS_TOTAL}{{{model_sel}}} offset 2m)"
    )
    rollout_event = f'changes({KSM_DEPLOYMENT_GENERATION}{{{NAMESPACE}=~"${NAMESPACE}"}}[2m]) > 0'
    layout = Layout(
        base(
            UID,
            "mlkube / Rollout",
            "Canary vs stable (or blue vs green) of one model side by side: traffic "
            "share, errors, p99 latency and class mix, with deployment events as annotations; the progressive "
            "strategies' Argo Rollouts: phases, steps, analysis verdicts, and canary vs stable by revision.",
        )
        .with_variable(variable(NAMESPACE, "Namespace", S.REQUESTS_TOTAL))
        .with_variable(variable(S.MODEL, "Model", S.REQUESTS_TOTAL, matchers(NAMESPACE)))
        .with_variable(variable(S.VERSION, "Version", S.REQUESTS_TOTAL, matchers(NAMESPACE, S.MODEL)))
        .with_variable(variable(ROLLOUT, "Rollout", A.ROLLOUT_INFO, matchers(NAMESPACE), of=A.NAME))
        .annotation(annotation("New version serving", new_version, "blue"))
        .annotation(annotation("Deployment changed (kube-state-metrics)", rollout_event, "orange"))
        .annotation(event_annotation("Rollout step completed", A.STEP_COMPLETED, "green"))
        .annotation(event_annotation("Rollout aborted", A.ROLLOUT_ABORTED, "red"))
    )
    layout.row("Variants side by side").add(
        graph(
            "Traffic share",
            "Share of each model's requests that each variant answers.",
            "percentunit",
            query(share(S.REQUESTS_TOTAL, BY_VARIANT, (S.MODEL,)), LEGEND),
            stacked=True,
            max_value=1,
        ),
        tabular(
            "Versions per variant",
            "Which model version each variant serves, with its request rate.",
            "reqps",
            query(rate_of(S.REQUESTS_TOTAL, (S.MODEL, S.VARIANT, S.VERSION)), ""),
        ),
        graph(
            "Server error ratio (5xx)",
            "Share of requests answered with a 5xx, per variant.",
            "percentunit",
            query(code_ratio(q.SERVER_ERROR), LEGEND),
        ),
        graph(
            "Client error ratio (4xx)",
            "Share of requests rejected as invalid input, per variant.",
            "percentunit",
            query(code_ratio(q.CLIENT_ERROR), LEGEND),
        ),
        graph(
            "Latency p99",
            "99th percentile request latency per variant.",
            "s",
            query(
                f"histogram_quantile(0.99, {rate_of(S.REQUEST_DURATION_SECONDS + '_bucket', (*BY_VARIANT, 'le'))})",
                LEGEND,
            ),
        ),
        graph(
            "Class mix per variant",
            "Share of each predicted class, per variant.",
            "percentunit",
            query(
                share(S.PREDICTIONS_TOTAL, (*BY_VARIANT, S.PREDICTED_CLASS), BY_VARIANT),
                "{{model}} {{variant}} {{predicted_class}}",
            ),
            max_value=1,
        ),
    )
    canary, stable = f'{S.VARIANT}="canary"', f'{S.VARIANT}="stable"'
    layout.row("Canary verdict").add(
        graph(
            "Canary minus stable: server error ratio",
            f"MlkubeCanaryErrorRatioWorse fires above {ref('alerts.canary.maxErrorRatioIncrease')} for {canary_for}.",
            "percentunit",
            query(
                f"{q.VARIANT_ERROR_RATIO}{{{model_sel}, {canary}}}\n- {q.on(NAMESPACE, S.MODEL)}\n"
                f"{q.VARIANT_ERROR_RATIO}{{{model_sel}, {stable}}}",
                "{{model}}",
            ),
        ),
        graph(
            "Canary / stable: p99 latency",
            f"MlkubeCanaryLatencyWorse fires above {ref('alerts.canary.maxP99Ratio')}x for {canary_for}.",
            "short",
            query(
                f"{q.VARIANT_P99}{{{model_sel}, {canary}}}\n/ {q.on(NAMESPACE, S.MODEL)}\n"
                f"{q.VARIANT_P99}{{{model_sel}, {stable}}}",
                "{{model}}",
            ),
        ),
        graph(
            "Pods ready per variant",
            NEEDS_KSM,
            "short",
            query(pods_ready_per_variant(f'{NAMESPACE}=~"${NAMESPACE}"'), f"{{{{{KSM_VARIANT_LABEL}}}}}"),
            width=24,
        ),
    )
    layout.row("Progressive delivery: rollouts and steps").add(
        single(
            "Rollouts by phase",
            f"{NEEDS_ARGO} Progressing, Paused, Completed, Abort, Error, Timeout or "
            f"InvalidSpec; MlkubeRolloutPaused fires after {ref('alerts.rollouts.pausedFor')} paused.",
            "short",
            query(f"count {q.by(A.PHASE)} ({A.ROLLOUT_INFO}{rollouts()})", "{{phase}}"),
            width=6,
        ),
        tabular(
            "Rollouts",
            "Each Rollout's strategy, traffic router and phase.",
            "short",
            query(
                f"max {q.by(NAMESPACE, A.NAME, A.STRATEGY, A.TRAFFIC_ROUTER, A.PHASE)} ({A.ROLLOUT_INFO}{rollouts()})",
                "",
            ),
            width=18,
        ),
        graph(
            "Rollout events",
            "Argo Rollouts exports no current step or weight: it counts each completed step "
            f"({A.STEP_COMPLETED}), weight change ({A.WEIGHT_UPDATED}), AnalysisRun verdict (AnalysisRun<phase>) "
            f"and abort ({A.ROLLOUT_ABORTED}) as an event. The weight as served is the traffic share by revision "
            "below.",
            "short",
            query(
                f"sum {q.by(A.NAME, A.REASON)} (increase({A.ROLLOUT_EVENTS_TOTAL}{rollouts()}[{RATE}]))",
                "{{name}} {{reason}}",
            ),
            stacked=True,
        ),
        tabular(
            "Events in the time range",
            "Steps completed, weight changes, analysis verdicts and aborts per "
            "Rollout in the selected range (an event counter's first increment is not counted).",
            "short",
            query(f"sum {q.by(A.NAME, A.REASON)} (increase({A.ROLLOUT_EVENTS_TOTAL}{rollouts()}[$__range])) > 0", ""),
        ),
        graph(
            "Replicas",
            "Desired, updated (the new revision's), available and unavailable pods per Rollout.",
            "short",
            *[
                query(f"sum {q.by(A.NAME)} ({metric}{rollouts()})", f"{{{{name}}}} {kind}", ref)
                for (metric, kind), ref in zip(
                    (
                        (A.ROLLOUT_REPLICAS_DESIRED, "desired"),
                        (A.ROLLOUT_REPLICAS_UPDATED, "updated"),
                        (A.ROLLOUT_REPLICAS_AVAILABLE, "available"),
                        (A.ROLLOUT_REPLICAS_UNAVAILABLE, "unavailable"),
                    ),
                    "ABCD",
                    strict=True,
                )
            ],
            width=24,
        ),
    )
    layout.row("Progressive delivery: analysis").add(
        tabular(
            "Analysis runs",
            "Each AnalysisRun's phase, and the revision it judges: the canary's (preview's) pod "
            "template hash in its name, the `revision` of the panels below.",
            "short",
            query(analysis_runs_table(), ""),
        ),
        tabular(
            "Analysis metric verdicts",
            "The phase of each metric's latest measurement in each AnalysisRun: "
            "Successful, Failed, Inconclusive (no data: the rollout pauses), Error, Running. Thresholds: the "
            "model-server chart's `progressive.analysis.thresholds`.",
            "short",
            query(metric_verdicts(), ""),
        ),
        graph(
            "Analysis runs by phase",
            "AnalysisRuns the controller keeps, by phase.",
            "short",
            query(f"count {q.by(A.PHASE)} ({A.ANALYSIS_RUN_INFO}{runs()})", "{{phase}}"),
            stacked=True,
        ),
        graph(
            "Metric verdicts over time",
            "AnalysisRun metrics by the phase of their latest measurement.",
            "short",
            query(
                f"count {q.by(A.METRIC, A.PHASE)} ({A.ANALYSIS_RUN_METRIC_PHASE}{runs()} == 1)", "{{metric}} {{phase}}"
            ),
            stacked=True,
        ),
    )
    revisions = by_revision()
    layout.row("Progressive delivery: canary vs stable by revision").add(
        graph(
            "Traffic share by revision",
            "Share of each model's requests each revision (pod template hash) answers: the canary weight as served.",
            "percentunit",
            query(traffic_share_by_revision(), "{{model}} {{revision}}"),
            stacked=True,
            max_value=1,
        ),
        tabular(
            "Revisions",
            "The model versions each revision has loaded; the canary's hash also names its AnalysisRuns.",
            "short",
            query(f"max {q.by(S.REVISION, S.MODEL, S.VERSION)} ({S.MODEL_LOADED}{revisions.select()} == 1)", ""),
        ),
        graph(
            "Request rate by revision",
            "Requests answered per second by each revision.",
            "reqps",
            query(analysis.requests(revisions), "{{model}} {{revision}}"),
        ),
        graph(
            "Server error ratio (5xx) by revision",
            "The analysis' error-ratio-increase compares these two ratios.",
            "percentunit",
            query(analysis.error_ratio(revisions), "{{model}} {{revision}}"),
        ),
        graph(
            "Latency p99 by revision",
            "The analysis' p99-ratio compares these two latencies.",
            "s",
            query(analysis.p99(revisions), "{{model}} {{revision}}"),
        ),
        graph(
            "Predicted-class shares by revision",
            "The analysis' class-mix-divergence is the total variation "
            "distance between the canary's and the stable's shares.",
            "percentunit",
            query(analysis.class_shares(revisions), "{{model}} {{revision}} {{predicted_class}}"),
            max_value=1,
        ),
        graph(
            "Shadow agreement",
            "Rows of copied requests on which the candidate version answered as the serving "
            "pods did (the analysis' shadow-agreement).",
            "percentunit",
            query(
                analysis.shadow_agreement(by_revision(S.MODEL, S.VERSION, S.CANDIDATE_VERSION, S.CANDIDATE_REVISION)),
                "{{model}} v{{candidate_version}} ({{candidate_revision}}) vs v{{version}}",
            ),
            max_value=1,
            width=24,
        ),
    )
    layout.row("Argo Rollouts controller").add(
        single(
            "Controller up",
            f"MlkubeRolloutsControllerDown pages after {ref('alerts.rollouts.controllerDownFor')} down.",
            "short",
            query(controller("up"), "{{instance}}"),
        ),
        tabular(
            "Controller version",
            "The running Argo Rollouts version.",
            "short",
            query(controller(A.CONTROLLER_INFO), ""),
            width=6,
        ),
        graph(
            "Reconcile p99",
            "99th percentile time of one Rollout / AnalysisRun reconciliation.",
            "s",
            query(
                f'histogram_quantile(0.99, sum by (le) (rate({A.ROLLOUT_RECONCILE}_bucket{{job="{A.JOB}"}}[{RATE}])))',
                "rollouts",
                "A",
            ),
            query(
                f"histogram_quantile(0.99, sum by (le) (rate({A.ANALYSIS_RUN_RECONCILE}_bucket"
                f'{{job="{A.JOB}"}}[{RATE}])))',
                "analysis runs",
                "B",
            ),
        ),
        graph(
            "Reconcile errors",
            "Failed reconciliations per second.",
            "short",
            query(
                f"sum {q.by(A.NAME)} (rate({controller(A.ROLLOUT_RECONCILE_ERROR)}[{RATE}]))", "rollout {{name}}", "A"
            ),
            query(
                f"sum {q.by(A.NAME)} (rate({controller(A.ANALYSIS_RUN_RECONCILE_ERROR)}[{RATE}]))",
                "analysis run {{name}}",
                "B",
            ),
            width=8,
        ),
        graph(
            "Kubernetes API requests",
            "The controller's API requests per second by verb and status code.",
            "reqps",
            query(
                f"sum {q.by(A.VERB, A.STATUS_CODE)} (rate({controller(A.K8S_REQUESTS_TOTAL)}[{RATE}]))",
                "{{verb}} {{status_code}}",
            ),
            width=8,
        ),
        graph(
            "Workqueue depth",
            "Objects waiting in the controller's work queues.",
            "short",
            query(f"max {q.by(A.NAME)} ({controller(A.WORKQUEUE_DEPTH)})", "{{name}}"),
            width=8,
        ),
    )
    return to_dict(layout.dashboard)
