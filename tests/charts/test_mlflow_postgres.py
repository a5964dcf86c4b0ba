"""The internal PostgreSQL's password Secret outlives `helm uninstall`, as its data volume (the StatefulSet's
volumeClaimTemplates, which Helm never deletes) does."""

from __future__ import annotations

from chart_helpers import Scenario, find, render, scenario


def test_the_generated_database_password_is_kept_on_uninstall() -> None:
    objects = render(scenario("mlflow", "ci/postgres-values.yaml"))
    secrets = find(objects, "Secret")
    [secret] = [s for s in secrets if s["metadata"]["labels"]["app.kubernetes.io/component"] == "database"]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_the_artifact_store_identity_is_an_annotation_of_the_service_account() -> None:
    """S3/GCS artifacts without keys: IRSA's or Workload Identity's annotation on MLflow's ServiceAccount."""
    role = "arn:aws:iam::123456789012:role/mlkube-mlflow"
    objects = render(Scenario("mlflow", sets=(f"serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={role}",)))
    [account] = find(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    [server] = [d for d in find(objects, "Deployment") if d["metadata"]["name"].endswith("-mlflow")]
    assert server["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
