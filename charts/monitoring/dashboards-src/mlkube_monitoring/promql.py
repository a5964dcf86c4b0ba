"""Recording-rule names and the PromQL they stand for, shared by the rules, their tests and the dashboards."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from .contracts import NAMESPACE, TRAINING_CLASS_LABEL, serving, training

S = serving
T = training

# Aggregation levels. Version is dropped where canary and stable are compared, as they run different versions.
RED_LABELS = (NAMESPACE, S.MODEL, S.VERSION, S.VARIANT, S.PROTOCOL)
VARIANT_LABELS = (NAMESPACE, S.MODEL, S.VARIANT)
MODEL_LABELS = (NAMESPACE, S.MODEL)
CLASS_LABELS = (NAMESPACE, S.MODEL, S.VERSION, S.VARIANT, S.PREDICTED_CLASS)

SERVER_ERROR = "5.."  # regexes over the `code` label
CLIENT_ERROR = "4.."
SUCCESS = "2.."
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
# The SRE workbook's windows for a 30-day SLO (see RUNBOOK.md, "Burn-rate alerts").
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def by(*labels: str) -> str:
    return "by (" + ", ".join(labels) + ")"


def on(*labels: str) -> str:
    return "on (" + ", ".join(labels) + ")"


def le_value(seconds: float) -> str:
    """The `le` label value the Python client writes for a bucket boundary."""
    return floatToGoString(seconds)


@dataclass(frozen=True)
class Record:
    name: str
    expr: str


def request_rate(labels: tuple[str, ...], window: str, selector: str = "") -> str:
    return f"sum {by(*labels)} (rate({S.REQUESTS_TOTAL}{selector}[{window}]))"


def ratio_of_codes(code_regex: str, labels: tuple[str, ...], window: str) -> str:
    """Share of requests whose code matches; 0 (not "no data") when none match but requests exist."""
    total = request_rate(labels, window)
    matching = request_rate(labels, window, f'{{{S.CODE}=~"{code_regex}"}}')
    return f"({matching} or {total} * 0)\n/\n{total}"


def counter_increased(metric: str, matchers: str, window: str, by_labels: str) -> str:
    """Series of a counter that grew within `window`, summed `by_labels`: its increase, and the series that did
    not exist `window` ago (a counter created by its first increment shows no increase)."""
    series = f"{metric}{{{matchers}}}"
    return (
        f"sum {by_labels} (increase({series}[{window}])) > 0\nor\n"
        f"sum {by_labels} ({series} unless {series} offset {window}) > 0"
    )


def latency_quantile(q: float, labels: tuple[str, ...], window: str) -> str:
    bucket = f"{S.REQUEST_DURATION_SECONDS}_bucket"
    return f"histogram_quantile({q}, sum {by(*labels, 'le')} (rate({bucket}[{window}])))"


# --- serving RED, per model x version x variant x protocol -------------------------------------------
REQUESTS_RATE = "mlkube:requests:rate5m"  # keeps `code`
ERROR_RATIO = "mlkube:request_errors:ratio_rate5m"
CLIENT_ERROR_RATIO = "mlkube:request_client_errors:ratio_rate5m"
LATENCY = {name: f"mlkube:request_duration_seconds:{name}_rate5m" for name in QUANTILES}
PREDICTIONS_RATE = "mlkube:predictions:rate5m"
# --- per variant (canary vs stable) ------------------------------------------------------------------
VARIANT_REQUESTS_RATE = "mlkube_variant:requests:rate5m"
VARIANT_ERROR_RATIO = "mlkube_variant:request_errors:ratio_rate5m"
VARIANT_P99 = "mlkube_variant:request_duration_seconds:p99_rate5m"
# --- class mix ------------------------------------------------------------------------------------------
CLASS_SHARE_LIVE = "mlkube_model:predicted_class:share_rate{window}"
CLASS_SHARE_TRAINING = "mlkube_model:training_class:share"
CLASS_MIX_DISTANCE = "mlkube_model:class_mix_distance:rate{window}"
# --- SLO error ratios per model and window -------------------------------------------------------------
AVAILABILITY_ERRORS = "mlkube_model:slo_availability_errors:ratio_rate{window}"
LATENCY_ERRORS = "mlkube_model:slo_latency_errors:ratio_rate{window}"


def red_records() -> list[Record]:
    records = [
        Record(REQUESTS_RATE, request_rate((*RED_LABELS, S.CODE), "5m")),
        Record(ERROR_RATIO, ratio_of_codes(SERVER_ERROR, RED_LABELS, "5m")),
        Record(CLIENT_ERROR_RATIO, ratio_of_codes(CLIENT_ERROR, RED_LABELS, "5m")),
    ]
    records += [Record(LATENCY[name], latency_quantile(q, RED_LABELS, "5m")) for name, q in QUANTILES.items()]
    records.append(Record(PREDICTIONS_RATE, f"sum {by(*CLASS_LABELS)} (rate({S.PREDICTIONS_TOTAL}[5m]))"))
    records += [
        Record(VARIANT_REQUESTS_RATE, request_rate(VARIANT_LABELS, "5m")),
        Record(VARIANT_ERROR_RATIO, ratio_of_codes(SERVER_ERROR, VARIANT_LABELS, "5m")),
        Record(VARIANT_P99, latency_quantile(0.99, VARIANT_LABELS, "5m")),
    ]
    return records


def class_mix_records(window: str) -> list[Record]:
    per_class = f"sum {by(*MODEL_LABELS, S.PREDICTED_CLASS)} (rate({S.PREDICTIONS_TOTAL}[{window}]))"
    per_model = f"sum {by(*MODEL_LABELS)} (rate({S.PREDICTIONS_TOTAL}[{window}]))"
    live = CLASS_SHARE_LIVE.format(window=window)
    # Trainers push the class shares of their training data under label `class`; rename it to the server's.
    training_share = (
        f"max {by(S.MODEL, S.PREDICTED_CLASS)} (label_replace({T.TRAINING_CLASS_SHARE}, "
        f'"{S.PREDICTED_CLASS}", "$1", "{TRAINING_CLASS_LABEL}", "(.+)"))'
    )
    # Total variation distance = sum over classes of max(0, live - training): classes never predicted add 0
    # on the live side and are accounted for by the excess of the others, since both shares sum to 1.
    distance = (
        f"sum {by(*MODEL_LABELS)} (clamp_min({live} - {on(S.MODEL, S.PREDICTED_CLASS)} group_left "
        f"{CLASS_SHARE_TRAINING}, 0))"
    )
    return [
        Record(live, f"{per_class}\n/ {on(*MODEL_LABELS)} group_left\n{per_model}"),
        Record(CLASS_SHARE_TRAINING, training_share),
        Record(CLASS_MIX_DISTANCE.format(window=window), distance),
    ]


def slo_records(le: str) -> list[Record]:
    """`le`: the latency threshold, as the label value of its bucket."""
    bucket = f"{S.REQUEST_DURATION_SECONDS}_bucket"
    count = f"{S.REQUEST_DURATION_SECONDS}_count"
    records = []
    for window in SLO_WINDOWS:
        records.append(
            Record(AVAILABILITY_ERRORS.format(window=window), ratio_of_codes(SERVER_ERROR, MODEL_LABELS, window))
        )
        fast = f'sum {by(*MODEL_LABELS)} (rate({bucket}{{le="{le}"}}[{window}]))'
        total = f"sum {by(*MODEL_LABELS)} (rate({count}[{window}]))"
        records.append(Record(LATENCY_ERRORS.format(window=window), f"1 - (\n{fast}\n/\n{total}\n)"))
    return records
