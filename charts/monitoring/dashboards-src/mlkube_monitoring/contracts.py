"""The metric contracts this content is built on, imported from the server's and trainer's single definitions.

Nothing here spells a metric name of ours: a rename in those modules changes every rule, test and dashboard.
Third-party exporters' names (kube-state-metrics, DCGM, the Argo Rollouts controller) are spelled here, once.
"""

from mlkube_server import metric_names as serving
from mlkube_train import metric_names as training

__all__ = [
    "serving",
    "training",
    "argo",
    "KSM_POD_READY",
    "KSM_POD_LABELS",
    "KSM_VARIANT_LABEL",
    "DCGM_GPU_UTIL",
    "DCGM_FB_USED",
    "TRAINING_CLASS_LABEL",
    "NAMESPACE",
    "KSM_DEPLOYMENT_GENERATION",
]

# Metrics of third-party exporters; panels that use them show "no data" where those exporters are absent.
KSM_POD_READY = "kube_pod_status_ready"
KSM_POD_LABELS = "kube_pod_labels"
# kube-state-metrics turns the pod label mlkube.io/variant into this one (it must be allow-listed there).
KSM_VARIANT_LABEL = "label_mlkube_io_variant"
DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"

# The label that TRAINING_CLASS_SHARE carries the class in (see the trainer's metric_names comment).
TRAINING_CLASS_LABEL = "class"

# Target label that Kubernetes service discovery (and the chart's relabelling) puts on every scraped series.
NAMESPACE = "namespace"
KSM_DEPLOYMENT_GENERATION = "kube_deployment_status_observed_generation"


class ArgoRollouts:
    """What the Argo Rollouts controller (v1.10, ARGO_ROLLOUTS_VERSION in versions.env) serves on its /metrics:
    the names of controller/metrics/prommetrics.go and client.go in github.com/argoproj/argo-rollouts, the
    workqueue metrics of k8s.io/component-base it registers too, and the label values its collectors write.

    Rollout, AnalysisRun and event series carry the object's own `namespace` and `name`: the chart's scrape job
    keeps them (`honor_labels`), so `namespace` is the Rollout's namespace, as on the model server's series.
    The deprecated `rollout_phase`, `analysis_run_phase` and `experiment_phase` are left out. No metric
    carries a Rollout's current step index or canary weight; the step and weight events count them.
    """

    # The scrape job (`job` label) of the controller: the chart's job name and, in kube-prometheus-stack mode,
    # the value of the pod label app.kubernetes.io/name that its PodMonitor takes the job from.
    JOB = "argo-rollouts"

    # Label keys.
    NAME = "name"  # the Rollout's / AnalysisRun's / workqueue's name
    PHASE = "phase"
    STRATEGY = "strategy"  # canary / blueGreen
    TRAFFIC_ROUTER = "traffic_router"
    METRIC = "metric"  # an AnalysisRun's metric name (the AnalysisTemplate's)
    # analysis_run_metric_*: the provider (Prometheus, Job, ...); rollout_events_total: Normal / Warning.
    METRIC_TYPE = "type"
    DRY_RUN = "dry_run"
    REASON = "reason"  # rollout_events_total: the Kubernetes event's reason
    VERB = "verb"
    STATUS_CODE = "status_code"
    KIND = "kind"

    # Gauge 1 per Rollout, labels namespace, name, strategy, traffic_router, phase.
    ROLLOUT_INFO = "rollout_info"
    ROLLOUT_REPLICAS_AVAILABLE = "rollout_info_replicas_available"
    ROLLOUT_REPLICAS_UNAVAILABLE = "rollout_info_replicas_unavailable"
    ROLLOUT_REPLICAS_DESIRED = "rollout_info_replicas_desired"
    ROLLOUT_REPLICAS_UPDATED = "rollout_info_replicas_updated"
    # Counter: events the controller recorded on a Rollout, labels namespace, name, type, reason.
    ROLLOUT_EVENTS_TOTAL = "rollout_events_total"
    # Histogram (seconds) and counter (no `_total` suffix upstream) of the Rollout reconciliations.
    ROLLOUT_RECONCILE = "rollout_reconcile"
    ROLLOUT_RECONCILE_ERROR = "rollout_reconcile_error"
    # Gauge 1 per AnalysisRun, labels namespace, name, phase.
    ANALYSIS_RUN_INFO = "analysis_run_info"
    # Gauge per AnalysisRun metric and phase: 1 for the phase of the metric's latest result, 0 for the others;
    # labels namespace, name, metric, type, dry_run, phase.
    ANALYSIS_RUN_METRIC_PHASE = "analysis_run_metric_phase"
    ANALYSIS_RUN_METRIC_TYPE = "analysis_run_metric_type"
    ANALYSIS_RUN_RECONCILE = "analysis_run_reconcile"
    ANALYSIS_RUN_RECONCILE_ERROR = "analysis_run_reconcile_error"
    ANALYSIS_TEMPLATE_INFO = "analysis_template_info"
    ANALYSIS_TEMPLATE_METRIC_INFO = "analysis_template_metric_info"
    EXPERIMENT_INFO = "experiment_info"
    # Counter: Kubernetes API requests of the controller, labels kind, namespace, name, verb, status_code.
    K8S_REQUESTS_TOTAL = "controller_clientset_k8s_request_total"
    # Gauge 1, label version.
    CONTROLLER_INFO = "argo_rollouts_controller_info"
    # client-go workqueues (label name: rollouts, analysisruns, ...).
    WORKQUEUE_DEPTH = "workqueue_depth"
    WORKQUEUE_RETRIES_TOTAL = "workqueue_retries_total"

    HISTOGRAMS = (ROLLOUT_RECONCILE, ANALYSIS_RUN_RECONCILE)
    ALL = (
        ROLLOUT_INFO,
        ROLLOUT_REPLICAS_AVAILABLE,
        ROLLOUT_REPLICAS_UNAVAILABLE,
        ROLLOUT_REPLICAS_DESIRED,
        ROLLOUT_REPLICAS_UPDATED,
        ROLLOUT_EVENTS_TOTAL,
        ROLLOUT_RECONCILE,
        ROLLOUT_RECONCILE_ERROR,
        ANALYSIS_RUN_INFO,
        ANALYSIS_RUN_METRIC_PHASE,
        ANALYSIS_RUN_METRIC_TYPE,
        ANALYSIS_RUN_RECONCILE,
        ANALYSIS_RUN_RECONCILE_ERROR,
        ANALYSIS_TEMPLATE_INFO,
        ANALYSIS_TEMPLATE_METRIC_INFO,
        EXPERIMENT_INFO,
        K8S_REQUESTS_TOTAL,
        CONTROLLER_INFO,
        WORKQUEUE_DEPTH,
        WORKQUEUE_RETRIES_TOTAL,
    )

    # `phase` of rollout_info (controller/metrics/rollouts.go).
    ROLLOUT_PHASES = ("Progressing", "Paused", "Completed", "Abort", "Error", "Timeout", "InvalidSpec")
    ABORTED, PAUSED = "Abort", "Paused"
    # `phase` of analysis_run_info and analysis_run_metric_phase (AnalysisPhase in pkg/apis/rollouts/v1alpha1).
    ANALYSIS_PHASES = ("Pending", "Running", "Successful", "Failed", "Error", "Inconclusive")
    # `reason` of rollout_events_total (utils/conditions/conditions.go; "AnalysisRun" + phase in rollout/analysis.go).
    STEP_COMPLETED = "RolloutStepCompleted"
    WEIGHT_UPDATED = "TrafficWeightUpdated"
    ROLLOUT_ABORTED = "RolloutAborted"
    ROLLOUT_COMPLETED = "RolloutCompleted"
    ANALYSIS_RUN_FAILED = "AnalysisRunFailed"
    ANALYSIS_RUN_INCONCLUSIVE = "AnalysisRunInconclusive"
    # An AnalysisRun a Rollout creates is named <rollout>-<pod template hash of the new ReplicaSet>-<revision>
    # [-<step index> | -pre | -post] (rollout/analysis.go): this regex's group 1 is that hash, the `revision`
    # label of the canary's (preview's) serving metrics. Hashes are rand.SafeEncodeString output, which has
    # letters; the revision and the step index are plain numbers.
    ANALYSIS_RUN_NAME_REVISION = ".+-([a-z0-9]*[a-z][a-z0-9]*)-[0-9]+(?:-[0-9]+|-pre|-post)?"


argo = ArgoRollouts
