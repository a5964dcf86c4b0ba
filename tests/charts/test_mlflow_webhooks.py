"""MLflow's webhook settings: the delivery policy as environment, and a Fernet key generated once and kept."""

from __future__ import annotations

import base64
import subprocess
import uuid
from typing import Any

import pytest
import yaml
from chart_helpers import CHARTS, RELEASE, Scenario, find, render, run, scenario, tool
from cryptography.fernet import Fernet

from tests.cluster.kube import ClusterPaths, Kubectl, KubectlError

FULL = f"{RELEASE}-mlflow"
KEY_SECRET = f"{FULL}-webhooks"
WEBHOOKS = scenario("mlflow", "ci/webhooks-values.yaml")
POLICY_ENV = (
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS",
)


def server_env(objects: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    [deployment] = find(objects, "Deployment", FULL)
    [server] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "mlflow"]
    return {e["name"]: e for e in server["env"]}


def key_of(rendered: str) -> str:
    [secret] = [
        o for o in yaml.safe_load_all(rendered) if o and o["kind"] == "Secret" and o["metadata"]["name"] == KEY_SECRET
    ]
    return base64.b64decode(secret["data"]["encryptionKey"]).decode()


def test_enabled_sets_the_delivery_policy_and_a_key_from_the_chart_secret() -> None:
    objects = render(WEBHOOKS)
    env = server_env(objects)
    assert env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"]["value"] == "http,https"
    assert env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"]["value"] == "true"
    ref = env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": KEY_SECRET, "key": "encryptionKey"}
    [secret] = find(objects, "Secret", KEY_SECRET)
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert env["MLFLOW_WEBHOOK_REQUEST_TIMEOUT"]["value"] == "10", "server.extraEnv reaches the container"


@pytest.mark.parametrize("source", [scenario("mlflow"), scenario("mlflow", "ci/postgres-values.yaml")],
                         ids=["sqlite", "postgres"])  # fmt: skip
def test_disabled_leaves_mlflow_defaults(source: Scenario) -> None:
    objects = render(source)
    assert not set(POLICY_ENV) & set(server_env(objects))
    assert not find(objects, "Secret", KEY_SECRET)


def test_generated_key_is_a_fresh_fernet_key(helm: str) -> None:
    """Without a cluster to look up, every render draws a new key (an upgrade reads the stored one back)."""
    first, second = (key_of(run([helm, "template", RELEASE, *WEBHOOKS.helm_args()]).stdout) for _ in range(2))
    assert first != second
    for key in (first, second):
        assert len(base64.urlsafe_b64decode(key)) == 32 and "+" not in key and "/" not in key
        assert Fernet(key).decrypt(Fernet(key).encrypt(b"webhook secret")) == b"webhook secret"


def test_existing_secret_is_used_as_it_is() -> None:
    objects = render(Scenario("mlflow", ("ci/webhooks-values.yaml",), ("webhooks.existingSecret=my-key",)))
    assert not find(objects, "Secret", KEY_SECRET)
    ref = server_env(objects)["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "my-key", "key": "encryptionKey"}


def test_sqlite_backend_takes_webhooks_too() -> None:
    env = server_env(render(Scenario("mlflow", (), ("webhooks.enabled=true",))))
    assert set(POLICY_ENV) <= set(env)
    assert env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"]["value"] == "https", "secure defaults: https only"
    assert env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"]["value"] == "false"


def test_local_profile_lets_mlflow_reach_the_trigger_but_leaves_the_trigger_off() -> None:
    profile = yaml.safe_load((CHARTS / "mlkube" / "profiles" / "local.yaml").read_text())
    assert profile["mlflow"]["webhooks"] == {
        "enabled": True,
        "allowPrivateIps": True,
        "allowedSchemes": ["http", "https"],
    }
    assert not profile["model-server"].get("rolloutTrigger", {}).get("enabled", False)
    objects = render(scenario("mlkube", "profiles/local.yaml"))
    assert server_env(objects)["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"]["value"] == "true"
    assert not find(objects, "Deployment", f"{RELEASE}-model-server-rollout-trigger")


@pytest.mark.cluster
def test_upgrade_keeps_the_key_stored_in_the_cluster() -> None:
    """`helm template --dry-run=server` runs the chart's lookup against the local cluster, as an upgrade does."""
    paths = ClusterPaths.discover()
    if not paths.kubeconfig.is_file():
        pytest.fail(f"local cluster not up ({paths.kubeconfig} missing): run `make cluster-up`", pytrace=False)
    namespace = f"chart-{uuid.uuid4().hex[:8]}"
    kubectl = Kubectl(paths)
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        stored = Fernet.generate_key().decode()
        kubectl.in_namespace(namespace).apply({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": {"encryptionKey": stored},
            "metadata": {  # as an earlier install of the release left it
                "name": KEY_SECRET, "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {"meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": namespace},
            },
        })  # fmt: skip
        args = [tool("helm"), "template", RELEASE, str(CHARTS / "mlflow"), "--namespace", namespace,
                "-f", str(CHARTS / "mlflow" / "ci" / "webhooks-values.yaml"), "--dry-run=server",
                "--kubeconfig", str(paths.kubeconfig)]  # fmt: skip
        assert [key_of(run(args).stdout) for _ in range(2)] == [stored, stored]
    finally:
        try:
            kubectl.run("delete", "namespace", namespace, "--wait=false")
        except (KubectlError, subprocess.TimeoutExpired) as exc:
            print(f"namespace {namespace} not deleted: {exc}")
