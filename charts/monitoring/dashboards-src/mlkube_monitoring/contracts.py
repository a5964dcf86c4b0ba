"""The metric contracts this content is built on, imported from the server's and trainer's single definitions.

Nothing here spells a metric name: a rename in those modules changes every rule, test and dashboard.
"""

from mlkube_server import metric_names as serving
from mlkube_train import metric_names as training

__all__ = ["serving", "training", "KSM_POD_READY", "KSM_POD_LABELS", "KSM_VARIANT_LABEL",
           "DCGM_GPU_UTIL", "DCGM_FB_USED", "TRAINING_CLASS_LABEL", "NAMESPACE", "KSM_DEPLOYMENT_GENERATION"]

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
