"""Registry contract: the aliases and model-version tags the platform reads and writes.

The trainer (training-jobs/src/mlkube_train/registry.py) writes the same alias names and its own promotion tags;
it ships in another image, so the strings are repeated there and must stay equal to these.
"""

from __future__ import annotations

ALIAS_CHAMPION = "champion"  # the version live traffic is served from
ALIAS_CHALLENGER = "challenger"  # setting it starts a progressive rollout (mlkube-rollout-trigger)

# Written by mlkube-rollout-trigger when a rollout of the version ends.
TAG_ROLLOUT_OUTCOME = "rollout_outcome"  # OUTCOME_PROMOTED | OUTCOME_ABORTED
TAG_ROLLOUT_REASON = "rollout_reason"  # one line: why the rollout was aborted (Argo's message, failed metric)
TAG_ROLLOUT_NAME = "rollout_name"  # namespace/name of the Argo Rollout that judged the version
OUTCOME_PROMOTED = "promoted"
OUTCOME_ABORTED = "aborted"

# Written by the trainers at registration (training-jobs' registry.py holds the same strings): the training
# profile the server validates inputs against, and how to read a model's answers.
TAG_FEATURE_RANGES = "feature_ranges"  # JSON {feature: [min, max]}: numbers outside are refused (validate_ranges)
TAG_FEATURE_CATEGORIES = "feature_categories"  # JSON {feature: [values]}: the strings seen in training
TAG_CLASS_SHARE = "training_class_share"  # JSON {class: share}: what the class-mix alert compares live traffic with
# JSON list (or comma list) of the class name of each label index, for models that answer indexes; the other two
# names are accepted from models registered by other tools.
CLASS_NAME_TAGS = ("classes", "mlkube.classes", "class_names")
# Input scaling of an image model: raw pixel maximum, then (x - mean) / std.
TAG_INPUT_PIXEL_MAX = "input_pixel_max"
TAG_INPUT_MEAN = "input_mean"
TAG_INPUT_STD = "input_std"

# Written by the trainers when they register a version (training-jobs' signing.py holds the same strings): an
# Ed25519 signature of the version's artifacts, which servers that require signatures check before loading.
TAG_SIGNATURE = "mlkube.signature"
TAG_ARTIFACT_DIGEST = "mlkube.artifact_sha256"
