"""Training: runs, durations, final metrics per algorithm, promotions, and GPU use when DCGM metrics exist."""

from __future__ import annotations

from ..contracts import DCGM_FB_USED, DCGM_GPU_UTIL, NAMESPACE, TRAINING_CLASS_LABEL
from ..contracts import training as T
from ..placeholders import ref
from .common import NEEDS_DCGM, Layout, base, graph, matchers, query, single, tabular, to_dict, variable

UID = "mlkube-training"
RUN = "{{job}} {{algorithm}}"


def runs_in_range(timestamp_metric: str, selector: str, by_run: str) -> str:
    """Runs whose pushed timestamp falls in the range: each change of the gauge is a run, plus the first one
    seen if it happened inside the range."""
    series = f"{timestamp_metric}{selector}"
    return (
        f"sum {by_run} (\n  changes({series}[$__range])\n"
        f"  + (min_over_time({series}[$__range]) >= bool (time() - $__range_s))\n)"
    )


def build() -> dict:
    sel = "{" + matchers(NAMESPACE, T.JOB, T.MODEL) + "}"
    jobs = "{" + matchers(NAMESPACE, T.JOB) + "}"  # failures carry no model label
    by_run = f"by ({T.JOB}, {T.ALGORITHM})"
    hours = ref("alerts.training.maxHoursWithoutSuccess")
    layout = Layout(
        base(
            UID,
            "mlkube / Training",
            "Training jobs as their pushed metrics report them: runs, durations, "
            "final metrics per algorithm, promotions, and GPU use where the DCGM exporter runs.",
        )
        .with_variable(variable(NAMESPACE, "Namespace", T.LAST_SUCCESS_TIMESTAMP))
        .with_variable(variable(T.JOB, "Training job", T.LAST_SUCCESS_TIMESTAMP, matchers(NAMESPACE)))
        .with_variable(variable(T.MODEL, "Model", T.LAST_SUCCESS_TIMESTAMP, matchers(NAMESPACE, T.JOB)))
        .with_variable(variable(T.VERSION, "Version", T.FINAL_METRIC, matchers(NAMESPACE, T.JOB, T.MODEL)))
    )
    layout.row("Runs").add(
        single(
            "Successful runs",
            "Successful runs in the selected time range.",
            "short",
            query(runs_in_range(T.LAST_SUCCESS_TIMESTAMP, sel, by_run), RUN),
            width=8,
        ),
        single(
            "Failed runs",
            "Failed runs in the selected time range.",
            "short",
            query(runs_in_range(T.LAST_FAILURE_TIMESTAMP, jobs, by_run), RUN),
            width=8,
        ),
        tabular(
            "Time since last success",
            f"MlkubeTrainingStale fires after {hours}h without a successful run.",
            "s",
            query(f"time() - max by ({T.JOB}, {T.ALGORITHM}, {T.MODEL}) ({T.LAST_SUCCESS_TIMESTAMP}{sel})", ""),
            width=8,
        ),
        graph(
            "Run duration",
            "Wall-clock seconds of the last run per job and algorithm.",
            "s",
            query(
                f"max by ({T.JOB}, {T.ALGORITHM}, {T.MODEL}) ({T.DURATION_SECONDS}{sel})",
                "{{job}} {{algorithm}} {{model}}",
            ),
        ),
        graph(
            "Promoted to champion",
            "1 when the last run beat the champion and took its alias.",
            "short",
            query(f"max by ({T.JOB}, {T.ALGORITHM}, {T.MODEL}) ({T.PROMOTED}{sel})", "{{job}} {{algorithm}} {{model}}"),
            max_value=1,
        ),
    )
    version_sel = "{" + matchers(NAMESPACE, T.JOB, T.MODEL, T.VERSION) + "}"
    layout.row("Model quality").add(
        tabular(
            "Final metrics per algorithm",
            "Evaluation metrics of the last run of each algorithm.",
            "short",
            query(
                f"max by ({T.JOB}, {T.ALGORITHM}, {T.MODEL}, {T.VERSION}, {T.METRIC}) ({T.FINAL_METRIC}{version_sel})",
                "",
            ),
            width=24,
        ),
        graph(
            "Final metrics over time",
            "Each metric of the last run, as runs come in.",
            "short",
            query(f"max by ({T.ALGORITHM}, {T.METRIC}) ({T.FINAL_METRIC}{version_sel})", "{{algorithm}} {{metric}}"),
        ),
        graph(
            "Training class shares",
            "Share of each class in the training data; the class-mix alert compares live predictions against it.",
            "percentunit",
            query(
                f"max by ({T.MODEL}, {TRAINING_CLASS_LABEL}) ({T.TRAINING_CLASS_SHARE}{sel})",
                f"{{{{model}}}} {{{{{TRAINING_CLASS_LABEL}}}}}",
            ),
            max_value=1,
        ),
    )
    layout.row("GPU").add(
        graph(
            "GPU utilisation",
            NEEDS_DCGM,
            "percent",
            query(f"avg by (Hostname, gpu) ({DCGM_GPU_UTIL})", "{{Hostname}} GPU {{gpu}}"),
            max_value=100,
        ),
        graph(
            "GPU memory used",
            NEEDS_DCGM,
            "decmbytes",
            query(f"max by (Hostname, gpu) ({DCGM_FB_USED})", "{{Hostname}} GPU {{gpu}}"),
        ),
    )
    return to_dict(layout.dashboard)
