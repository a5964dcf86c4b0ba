"""``mlkube-rollout-trigger``: the model registry starts progressive rollouts.

MLflow delivers a signed ``model_version_alias.created`` webhook when ``@challenger`` moves; the trigger points the
release's Argo Rollout at that version. A reconcile loop reads the Rollout's status and records the outcome in the
registry: ``@champion`` moves on success, the version is tagged with the reason on abort. The Rollout and the
registry hold all the state, so the process can restart at any time.

Layers: ``signature``/``events``/``plan`` are pure (plain values in and out, ``TriggerError`` subclasses raised);
``kube``/``registry`` talk to the Kubernetes API and MLflow; ``service`` ties them together; ``app`` is the thin
HTTP layer.
"""
