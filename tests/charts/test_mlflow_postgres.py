"""The internal PostgreSQL's password Secret outlives `helm uninstall`, as its data volume (the StatefulSet's
volumeClaimTemplates, which Helm never deletes) does."""

from __future__ import annotations

from chart_helpers import find, render, scenario


def test_the_generated_database_password_is_kept_on_uninstall() -> None:
    objects = render(scenario("mlflow", "ci/postgres-values.yaml"))
    secrets = find(objects, "Secret")
    [secret] = [s for s in secrets if s["metadata"]["labels"]["app.kubernetes.io/component"] == "database"]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
