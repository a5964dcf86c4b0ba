"""Registry contract: every alias and model-version tag name the platform writes or reads.

Writers: the trainers (at registration and promotion), `mlkube-train promote/sign`, mlkube-rollout-trigger.
Readers: the model server (input checks, class names, signatures), batch scoring, the dashboards.
The trainers and the server ship in different images, so this file exists twice, byte for byte:
training-jobs/src/mlkube_train/model_tags.py and model-server/src/mlkube_server/model_tags.py
(tests/server/test_model_tags.py fails when they differ). Edit one, copy it over the other.
"""

from __future__ import annotations

ALIAS_CHAMPION = "champion"  # the version live traffic is served from
ALIAS_CHALLENGER = "challenger"  # setting it starts a progressive rollout (mlkube-rollout-trigger)

# Provenance, written on every version at registration (and as tags of the run that logged it).
TAG_TRAINER = "trainer"
TAG_ALGORITHM = "algorithm"
TAG_CODE_VERSION = "code_version"
TAG_DATA_SHA256 = "data_sha256"
TAG_DEVICE = "device"  # run tag of the network trainers: cpu | cuda
RUN_TAG_FAILURE = "mlkube.failure"  # one-line reason on a FAILED run

# The training profile (JSON): the server refuses inputs outside the feature ranges/categories (validate_ranges),
# batch scoring flags them, and the class-mix alert compares live traffic with the training class shares.
TAG_FEATURE_RANGES = "feature_ranges"  # {feature: {min, max}}
TAG_FEATURE_CATEGORIES = "feature_categories"  # {feature: [values]}: the strings seen in training
TAG_CLASS_SHARE = "training_class_share"  # {class: share}
# JSON list (or comma list) of the class name of each label index, for models that answer indexes; the other two
# names are accepted from models registered by other tools.
TAG_CLASSES = "classes"
CLASS_NAME_TAGS = (TAG_CLASSES, "mlkube.classes", "class_names")

# Tensor models: the input in words, its scaling (raw pixel maximum, then (x - mean) / std), and the ONNX export.
TAG_INPUT_FORMAT = "input_format"
TAG_INPUT_PIXEL_MAX = "input_pixel_max"
TAG_INPUT_MEAN = "input_mean"
TAG_INPUT_STD = "input_std"
TAG_PYTORCH_MODEL_URI = "pytorch_model_uri"  # a network version is its ONNX export; the eager model lives here
TAG_ONNX_MAX_ABS_DIFF = "onnx_max_abs_diff"  # checked agreement of the export with PyTorch (probabilities)

# The trainer's champion rule (mlkube_train.registry.decide_champion).
TAG_PROMOTION_DECISION = "promotion_decision"  # one of the DECISION_* values
DECISION_FIRST_CHAMPION = "first_champion"
DECISION_PROMOTED = "promoted"
DECISION_KEPT_CHAMPION = "kept_champion"
DECISION_CHALLENGER = "challenger"  # beat the champion; the rollout trigger decides the rest
TAG_PROMOTION_METRIC = "promotion_metric"
TAG_CHALLENGER_SCORE = "promotion_challenger_score"
TAG_CHAMPION_SCORE = "promotion_champion_score"  # "none" when there was no champion
TAG_CHAMPION_VERSION = "promotion_previous_champion_version"
TAG_MANUAL_ALIASES = "manually_set_aliases"  # comma list of aliases `mlkube-train promote` pointed at this version

# Written by mlkube-rollout-trigger when a rollout of the version ends.
TAG_ROLLOUT_OUTCOME = "rollout_outcome"  # OUTCOME_PROMOTED | OUTCOME_ABORTED
TAG_ROLLOUT_REASON = "rollout_reason"  # one line: why the rollout was aborted (Argo's message, failed metric)
TAG_ROLLOUT_NAME = "rollout_name"  # namespace/name of the Argo Rollout that judged the version
OUTCOME_PROMOTED = "promoted"
OUTCOME_ABORTED = "aborted"

# An Ed25519 signature of the version's artifacts (trainers and `mlkube-train sign` write it), which servers that
# require signatures check before loading.
TAG_SIGNATURE = "mlkube.signature"  # base64 signature of the signed message
TAG_ARTIFACT_DIGEST = "mlkube.artifact_sha256"  # the digest that was signed
