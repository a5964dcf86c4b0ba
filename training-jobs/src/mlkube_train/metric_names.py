"""Metrics a training job pushes to a Prometheus Pushgateway, defined once.

Dashboards and alerts import these names. No dependencies, so generators can import it.
"""

# Grouping / label keys.
JOB = "job"  # Pushgateway grouping key: the trainer (penguins / digits)
ALGORITHM = "algorithm"
MODEL = "model"  # registered model name
VERSION = "version"  # registered model version
METRIC = "metric"

PUSH_JOB_PREFIX = "mlkube-training"

# Gauge: unix time of the last successful training run, by job, algorithm and model.
LAST_SUCCESS_TIMESTAMP = "mlkube_training_last_success_timestamp_seconds"
# Gauge: unix time of the last failed training run, by job and algorithm.
LAST_FAILURE_TIMESTAMP = "mlkube_training_last_failure_timestamp_seconds"
# Gauge: wall-clock seconds the last run took, by job, algorithm and model.
DURATION_SECONDS = "mlkube_training_duration_seconds"
# Gauge: final evaluation metrics of the last run (accuracy, f1_macro, ...), label `metric`.
FINAL_METRIC = "mlkube_training_final_metric"
# Gauge: 1 when the last run was promoted to champion, else 0.
PROMOTED = "mlkube_training_promoted"
# Gauge: share of each class in the training data, label `class`; the class-mix alert compares
# live predictions against it.
TRAINING_CLASS_SHARE = "mlkube_training_class_share"

ALL = (
    LAST_SUCCESS_TIMESTAMP,
    LAST_FAILURE_TIMESTAMP,
    DURATION_SECONDS,
    FINAL_METRIC,
    PROMOTED,
    TRAINING_CLASS_SHARE,
)
