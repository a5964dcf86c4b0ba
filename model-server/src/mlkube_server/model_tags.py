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
