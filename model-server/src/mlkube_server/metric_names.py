"""Every Prometheus metric the model server exports, defined once.

Dashboards, recording rules, alerts and tests import these names; a rename here breaks the
tests that evaluate them, never a dashboard silently. This module has no dependencies so that
the dashboard generator can import it without the server's runtime.
"""

# Label keys carried by the serving metrics.
MODEL = "model"
VERSION = "version"
VARIANT = "variant"  # stable / canary / blue / green, from the pod's environment
PROTOCOL = "protocol"  # seed / v1 / v2 / mlflow
CODE = "code"  # HTTP status code
PREDICTED_CLASS = "predicted_class"
ALIAS = "alias"
# The pod template hash of the pod's ReplicaSet (`rollouts-pod-template-hash` under an Argo Rollout,
# `pod-template-hash` under a Deployment), from the pod's environment: what tells an Argo Rollouts canary
# from its stable pods, since both run one pod template. AnalysisTemplates receive it as an argument
# (`valueFrom.podTemplateHashValue: Latest|Stable`).
REVISION = "revision"
# Shadow traffic: the version that answered the copied request (the candidate's X-Model-Version).
CANDIDATE_VERSION = "candidate_version"
# Shadow traffic: the candidate pod's revision (its X-Mlkube-Revision), so an analysis counts only the comparisons
# with the candidate it judges, not with an earlier one still behind the candidate Service.
CANDIDATE_REVISION = "candidate_revision"
# Shadow traffic: agree / disagree (per row), error / dropped (per copied request).
OUTCOME = "outcome"

SERVING_LABELS = (MODEL, VERSION, VARIANT, REVISION, PROTOCOL, CODE)

# Counter: requests answered, by model, version, variant, protocol and status code.
REQUESTS_TOTAL = "mlkube_requests_total"
# Histogram: request latency in seconds, same labels as REQUESTS_TOTAL.
REQUEST_DURATION_SECONDS = "mlkube_request_duration_seconds"
# Gauge: requests in flight (waiting for or inside a predict call), by model and variant: what the server's
# `max_queued_requests` bounds.
INFLIGHT_REQUESTS = "mlkube_inflight_requests"
# Counter: requests refused with 503 + Retry-After because the model already had `max_queued_requests` requests
# waiting for or inside a predict call (load shedding), by model and variant. They count in REQUESTS_TOTAL
# (code 503) too; this one tells them from other 503s. Every loaded model has its series at 0.
REQUESTS_SHED_TOTAL = "mlkube_requests_shed_total"
# Counter: predictions made (rows, not requests), by model, version, variant and predicted class.
PREDICTIONS_TOTAL = "mlkube_predictions_total"
# Histogram: rows per vectorised predict call after adaptive batching, by model and version.
BATCH_SIZE = "mlkube_batch_size"
# Gauge: 1 while a model version is loaded and serving, by model, version and alias.
MODEL_LOADED = "mlkube_model_loaded"
# Gauge: configured models whose load has not settled yet (pending, loading, or failed on an unreachable MLflow
# and waiting for a retry), by revision; read from the repository at each scrape. The rollout analysis counts a
# canary pod's loaded models only once this is 0, so a pod that has loaded 2 of its 3 models (they load in
# parallel), or lost a race with an MLflow restart, is not judged as one that cannot load a version.
MODELS_PENDING = "mlkube_models_pending"
# Gauge: seconds the last load of a model version took, by model and version.
MODEL_LOAD_DURATION_SECONDS = "mlkube_model_load_duration_seconds"
# Counter: failed model loads, by model.
MODEL_LOAD_FAILURES_TOTAL = "mlkube_model_load_failures_total"
# Counter: shadow comparisons made by the serving (stable) pod, by model, version (its own), revision,
# candidate_version and outcome: rows whose predicted label agrees / disagrees with the candidate's answer,
# and copied requests that failed (error) or were not sent because the shadow queue was full (dropped).
# Agreement = agree / (agree + disagree) over a window.
SHADOW_COMPARISONS_TOTAL = "mlkube_shadow_comparisons_total"

ALL = (
    REQUESTS_TOTAL,
    REQUEST_DURATION_SECONDS,
    INFLIGHT_REQUESTS,
    REQUESTS_SHED_TOTAL,
    PREDICTIONS_TOTAL,
    BATCH_SIZE,
    MODEL_LOADED,
    MODELS_PENDING,
    MODEL_LOAD_DURATION_SECONDS,
    MODEL_LOAD_FAILURES_TOTAL,
    SHADOW_COMPARISONS_TOTAL,
)
