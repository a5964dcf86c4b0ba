"""MLflow authenticates every caller, and each platform pod holds the credentials of its own role only.

The roles' permissions themselves are proven against a real basic-auth server in
tests/training/test_mlflow_users.py; here: who gets which credentials, in every profile and strategy.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from chart_helpers import ALL_SCENARIOS, PLATFORM, RELEASE, Scenario, containers, find, pod_templates, render, scenario

AUTH_SECRET = f"{RELEASE}-mlflow-auth"
ROLES = ("admin", "trainer", "rollout", "server")


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _secret_key(env: dict[str, dict[str, Any]], name: str) -> tuple[str, str] | None:
    ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
    return (ref["name"], ref["key"]) if ref else None


def _mlflow_server(objects) -> dict[str, Any]:
    [deployment] = [d for d in find(objects, "Deployment") if d["metadata"]["name"] == f"{RELEASE}-mlflow"]
    return deployment


def test_the_server_runs_the_basic_auth_app_with_the_users_applied_first() -> None:
    objects = render(scenario("mlflow"))
    spec = _mlflow_server(objects)["spec"]["template"]["spec"]
    [server] = spec["containers"]
    assert "--app-name=basic-auth" in server["args"]
    env = _env(server)
    assert _secret_key(env, "MLFLOW_AUTH_ADMIN_PASSWORD") == (AUTH_SECRET, "admin-password")
    assert _secret_key(env, "MLFLOW_FLASK_SERVER_SECRET_KEY") == (AUTH_SECRET, "flask-secret-key")
    [users] = [c for c in spec["initContainers"] if c["name"] == "users"]
    assert users["command"] == ["python3", "-m", "mlkube_train.mlflow_users"]
    users_env = _env(users)
    assert users_env["MLKUBE_AUTH_CONFIG_PATH"]["value"] == env["MLFLOW_AUTH_CONFIG_PATH"]["value"]
    assert users_env["MLKUBE_AUTH_DATABASE_URI"]["value"] == "sqlite:////mlflow/basic_auth.db"  # on the PVC
    for role in ROLES:
        assert _secret_key(users_env, f"MLKUBE_AUTH_{role.upper()}_PASSWORD") == (AUTH_SECRET, f"{role}-password")
    assert users_env["MLKUBE_AUTH_CACHE_SECONDS"]["value"] == "60"


def test_the_credential_cache_can_be_turned_off() -> None:
    spec = _mlflow_server(render(Scenario("mlflow", sets=("auth.cacheSeconds=0",))))["spec"]["template"]["spec"]
    [users] = [c for c in spec["initContainers"] if c["name"] == "users"]
    assert _env(users)["MLKUBE_AUTH_CACHE_SECONDS"]["value"] == "0"


def test_with_postgresql_the_users_live_in_the_same_database() -> None:
    objects = render(scenario("mlflow", "ci/postgres-values.yaml"))
    spec = _mlflow_server(objects)["spec"]["template"]["spec"]
    names = [c["name"] for c in spec["initContainers"]]
    assert names == ["wait-for-postgres", "users"]  # the users need the database up
    users_env = _env(spec["initContainers"][1])
    assert users_env["MLKUBE_AUTH_DATABASE_URI"]["value"] == "$(MLFLOW_BACKEND_STORE_URI)"
    assert list(users_env).index("MLFLOW_BACKEND_STORE_URI") < list(users_env).index("MLKUBE_AUTH_DATABASE_URI")


def test_the_generated_secret_has_every_role_and_is_kept_on_uninstall() -> None:
    [secret] = find(render(scenario("mlflow")), "Secret", AUTH_SECRET)
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    expected = {f"{role}-{key}" for role in ROLES for key in ("username", "password")} | {"flask-secret-key"}
    assert set(secret["data"]) == expected


def test_auth_off_or_an_existing_secret() -> None:
    off = render(Scenario("mlflow", sets=("auth.enabled=false",)))
    assert not find(off, "Secret", AUTH_SECRET)
    assert "--app-name=basic-auth" not in _mlflow_server(off)["spec"]["template"]["spec"]["containers"][0]["args"]
    own = render(Scenario("mlflow", sets=("auth.existingSecret=my-mlflow-users",)))
    assert not find(own, "Secret", AUTH_SECRET)
    server = _mlflow_server(own)["spec"]["template"]["spec"]["containers"][0]
    assert _secret_key(_env(server), "MLFLOW_AUTH_ADMIN_PASSWORD") == ("my-mlflow-users", "admin-password")


def _mlflow_clients(objects) -> list[tuple[str, str, dict[str, dict[str, Any]]]]:
    """(workload/container, its role by the password key it reads, env) of every container that talks to MLflow."""
    found = []
    for obj in objects:
        for _, spec in pod_templates(obj, objects):
            for container in containers(spec):
                env = _env(container)
                if "MLFLOW_TRACKING_URI" in env or "MLFLOW_URL" in env:
                    key = _secret_key(env, "MLFLOW_TRACKING_PASSWORD") or _secret_key(env, "PASSWORD")
                    where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
                    found.append((where, key[1].removesuffix("-password") if key else "", env))
    return found


UMBRELLA = [s for s in ALL_SCENARIOS if s.chart == "mlkube"]


@pytest.mark.parametrize("profile", UMBRELLA, ids=lambda s: s.id)
def test_every_mlflow_client_of_the_platform_has_its_own_roles_credentials(profile) -> None:
    clients = _mlflow_clients(render(profile))
    assert clients
    for where, role, env in clients:
        expected = ("trainer" if "training" in where or "Job/" in where or "CronJob/" in where
                    else "admin" if where.endswith("/register-webhook")
                    else "rollout" if "rollout-trigger" in where else "server")  # fmt: skip
        assert role == expected, f"{where} reads the {role or 'no'} credentials, not the {expected}'s"
        ref = env.get("MLFLOW_TRACKING_USERNAME", env.get("USERNAME"))["valueFrom"]["secretKeyRef"]
        assert ref["name"] == AUTH_SECRET and ref["key"] == f"{role}-username", where


def test_the_admin_password_reaches_only_mlflow_and_the_webhook_registration() -> None:
    progressive = ("model-server.strategy=progressiveCanary", "model-server.rolloutTrigger.enabled=true")
    objects = render(Scenario("mlkube", ("profiles/local.yaml",), progressive))
    holders = set()
    for obj in objects:
        for _, spec in pod_templates(obj, objects):
            for container in containers(spec):
                for entry in container.get("env", []):
                    ref = entry.get("valueFrom", {}).get("secretKeyRef", {})
                    if ref.get("name") == AUTH_SECRET and ref.get("key") == "admin-password":
                        holders.add(f"{obj['metadata']['name']}/{container['name']}")
    assert holders == {f"{RELEASE}-mlflow/users", f"{RELEASE}-mlflow/mlflow",
                       f"{RELEASE}-model-server-rollout-trigger/register-webhook"}, holders  # fmt: skip


SIGNING_SECRET = f"{RELEASE}-mlflow-signing"


def test_the_signing_key_is_generated_once_and_kept() -> None:
    [secret] = find(render(scenario("mlflow")), "Secret", SIGNING_SECRET)
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert set(secret["data"]) == {"private-key.pem", "certificate.pem"}


@pytest.mark.parametrize("profile", UMBRELLA, ids=lambda s: s.id)
def test_only_training_jobs_hold_the_signing_key_and_every_server_checks_signatures(profile) -> None:
    holders, checkers, servers = set(), set(), set()
    objects = render(profile)
    for obj in objects:
        for labels, spec in pod_templates(obj, objects):
            for container in containers(spec):
                env = _env(container)
                where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
                if _secret_key(env, "MLKUBE_TRAIN_SIGNING_KEY") == (SIGNING_SECRET, "private-key.pem"):
                    holders.add(where)
                if _secret_key(env, "MLKUBE_SERVER_SIGNING_CERTIFICATE") == (SIGNING_SECRET, "certificate.pem"):
                    checkers.add(where)
                if labels.get("app.kubernetes.io/name") == "model-server" and "MLKUBE_VARIANT" in env:
                    servers.add(where)  # the serving containers (not the helm test, not the trigger)
    assert holders and all("training-job" in h for h in holders), holders
    assert servers and servers <= checkers, servers - checkers


def test_a_server_can_be_told_to_load_unsigned_models() -> None:
    objects = render(Scenario("model-server", sets=("server.requireSignedModels=false",)))
    for obj in objects:
        for _, spec in pod_templates(obj, objects):
            for container in containers(spec):
                assert "MLKUBE_SERVER_SIGNING_CERTIFICATE" not in _env(container)


@pytest.mark.parametrize("profile", UMBRELLA, ids=lambda s: s.id)
def test_mlflow_admits_only_the_pods_that_call_it(profile) -> None:
    """The policy's pod selector (platform.env LABEL_MLFLOW_CLIENT) and the pods that call MLflow agree: every
    container with MLflow's URL runs in a pod the policy admits, and nothing else in the release carries it."""
    objects = render(profile)
    [policy] = find(objects, "NetworkPolicy", f"{RELEASE}-mlflow")
    [rule] = policy["spec"]["ingress"]
    label = PLATFORM["LABEL_MLFLOW_CLIENT"]
    [clients] = [peer for peer in rule["from"] if label in peer.get("podSelector", {}).get("matchLabels", {})]
    assert clients["podSelector"]["matchLabels"] == {PLATFORM["LABEL_MLFLOW_CLIENT"]: "true"}
    # Beyond the clients: the nodes behind a NodePort (kind), or the Prometheus that scrapes /metrics (cloud).
    for peer in (peer for peer in rule["from"] if peer is not clients):
        if "ipBlock" in peer:
            assert not peer["ipBlock"]["cidr"].startswith("10."), peer  # never the pod network
        else:
            assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}, peer
    for obj in objects:
        for labels, spec in pod_templates(obj, objects):
            calls = any("MLFLOW_TRACKING_URI" in _env(c) or "MLFLOW_URL" in _env(c) for c in containers(spec))
            admitted = labels.get(PLATFORM["LABEL_MLFLOW_CLIENT"]) == "true"
            where = f"{obj['kind']}/{obj['metadata']['name']}"
            assert calls == admitted, f"{where}: calls MLflow {calls}, admitted {admitted}"


def test_the_cloud_profile_scrapes_mlflow_as_its_read_only_user() -> None:
    """MLflow's basic-auth guards /metrics too: kube-prometheus-stack's PodMonitor sends the server user."""
    [monitor] = find(render(scenario("mlkube", "profiles/cloud.yaml")), "PodMonitor", f"{RELEASE}-monitoring-mlflow")
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["basicAuth"] == {"username": {"name": AUTH_SECRET, "key": "server-username"},
                                     "password": {"name": AUTH_SECRET, "key": "server-password"}}  # fmt: skip


def test_a_self_contained_prometheus_reads_the_scrape_credentials_from_the_secret() -> None:
    sets = ("scrape.mlflow.enabled=true", f"scrape.mlflow.basicAuthSecret={AUTH_SECRET}")
    objects = render(Scenario("monitoring", sets=sets))
    [config] = find(objects, "ConfigMap", f"{RELEASE}-monitoring-prometheus")
    [job] = [j for j in yaml.safe_load(config["data"]["prometheus.yml"])["scrape_configs"] if j["job_name"] == "mlflow"]
    folder = f"/etc/prometheus/secrets/{AUTH_SECRET}"
    assert job["basic_auth"] == {"username": "mlkube-server", "password_file": f"{folder}/server-password"}
    [prometheus] = [
        d for d in find(objects, "Deployment") if d["metadata"]["name"] == f"{RELEASE}-monitoring-prometheus"
    ]
    spec = prometheus["spec"]["template"]["spec"]
    [volume] = [v for v in spec["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == AUTH_SECRET
    assert [i["key"] for i in volume["secret"]["items"]] == ["server-password"]  # not the other roles' passwords
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts[volume["name"]] == folder
