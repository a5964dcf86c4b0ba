"""MLflow's basic-auth app with the platform's users (mlkube_train.mlflow_users, the mlflow chart's init container).

A real ``mlflow server --app-name basic-auth`` on loopback, its users applied the way the chart applies them, and
the real trainer registering through it: each role may do exactly what the platform needs of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.support.mlflow_server import MlflowServer, run_mlflow_server
from tests.support.training import run_trainer

from .conftest import mlflow_store
from .test_server_postgres import PENGUINS_FAST_CONFIG

PASSWORDS = {"admin": "admin-password-1", "trainer": "trainer-password-1", "rollout": "rollout-password-1",
             "server": "server-password-1"}  # fmt: skip
USERNAMES = {"admin": "admin", "trainer": "mlkube-trainer", "rollout": "mlkube-rollout", "server": "mlkube-server"}
MODEL = "penguins-svm"
CACHED = {"MLKUBE_AUTH_CACHE_SECONDS": "600"}  # as the chart sets it (auth.cacheSeconds), longer than the module


def _users_env(workdir: Path, passwords: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {"MLKUBE_AUTH_DATABASE_URI": f"sqlite:///{workdir / 'basic_auth.db'}",
            "MLKUBE_AUTH_CONFIG_PATH": str(workdir / "auth" / "basic_auth.ini")}  # fmt: skip
    for role, password in passwords.items():
        env[f"MLKUBE_AUTH_{role.upper()}_USERNAME"] = USERNAMES[role]
        env[f"MLKUBE_AUTH_{role.upper()}_PASSWORD"] = password
    return env


def _apply_users(workdir: Path, passwords: dict[str, str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlkube_train.mlflow_users"], env=_users_env(workdir, passwords) | env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[MlflowServer]:
    workdir = tmp_path_factory.mktemp("mlflow-auth")
    applied = _apply_users(workdir, PASSWORDS, **CACHED)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("created") == 4, applied.stdout
    with _basic_auth_server(workdir, workdir) as server:
        yield server


def _basic_auth_server(workdir: Path, users_dir: Path, backend_store_uri: str | None = None):
    """MLflow's basic-auth app with the ini and users that mlflow_users wrote into ``users_dir``."""
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(users_dir / "auth" / "basic_auth.ini"),
           "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORDS["admin"],
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "csrf-key-of-the-test"}  # fmt: skip
    return run_mlflow_server(workdir, backend_store_uri, extra_env=env, extra_args=("--app-name", "basic-auth"))


def _client(server: MlflowServer, role: str, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USERNAMES[role])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORDS[role])
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


@pytest.fixture(scope="module")
def registered(auth_server: MlflowServer) -> str:
    """The real trainer registers a version with the trainer's credentials; its champion rule sets @champion."""
    env = {"MLFLOW_TRACKING_USERNAME": USERNAMES["trainer"], "MLFLOW_TRACKING_PASSWORD": PASSWORDS["trainer"]}
    result = run_trainer(["penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "svm"], auth_server.url,
                         env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return MODEL


def test_the_config_file_is_private(auth_server):
    config = Path(auth_server.log_path).parent / "auth" / "basic_auth.ini"
    assert config.stat().st_mode & 0o077 == 0
    assert "database_uri = sqlite:///" in config.read_text()


def test_a_caller_without_credentials_is_refused(auth_server):
    response = httpx.get(f"{auth_server.url}/api/2.0/mlflow/registered-models/search", timeout=10)
    assert response.status_code == 401
    wrong = httpx.get(f"{auth_server.url}/api/2.0/mlflow/registered-models/search",
                      auth=(USERNAMES["server"], "not-the-password"), timeout=10)  # fmt: skip
    assert wrong.status_code == 401


def test_the_trainer_registers_and_names_its_champion(auth_server, registered, monkeypatch):
    client = _client(auth_server, "server", monkeypatch)
    champion = client.get_model_version_by_alias(registered, "champion")
    assert champion.version == "1"


def test_the_server_reads_and_downloads_but_cannot_move_an_alias(auth_server, registered, monkeypatch, tmp_path):
    client = _client(auth_server, "server", monkeypatch)
    with mlflow_store(auth_server.url):  # models:/ URIs are resolved by the registry
        local = mlflow.artifacts.download_artifacts(f"models:/{registered}@champion", dst_path=str(tmp_path))
    assert (Path(local) / "MLmodel").is_file()
    with pytest.raises(MlflowException) as refused:
        client.set_registered_model_alias(registered, "champion", "1")
    assert refused.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException):
        client.set_model_version_tag(registered, "1", "mlkube.rollout.outcome", "promoted")


def test_the_rollout_user_moves_aliases_and_tags_but_cannot_create_webhooks(auth_server, registered, monkeypatch):
    client = _client(auth_server, "rollout", monkeypatch)
    client.set_registered_model_alias(registered, "challenger", "1")
    client.set_model_version_tag(registered, "1", "mlkube.rollout.outcome", "promoted")
    with pytest.raises(MlflowException) as refused:
        client.create_webhook(name="w", url="https://example.invalid/hook", events=["model_version_alias.created"])
    assert refused.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as deleting:
        client.delete_registered_model(registered)  # EDIT, not MANAGE
    assert deleting.value.error_code == "PERMISSION_DENIED"


def test_a_new_secret_takes_effect_on_the_next_start(auth_server, registered, tmp_path):
    """The restart that applies a rotated Secret knows only the new password; until then the running server keeps
    the password it checked (its credential cache), also when the users were changed behind its back."""
    workdir = Path(auth_server.log_path).parent
    url = "/api/2.0/mlflow/registered-models/get"

    def status(server: MlflowServer, password: str) -> int:
        auth = (USERNAMES["server"], password)
        return httpx.get(f"{server.url}{url}", params={"name": registered}, auth=auth, timeout=10).status_code

    assert status(auth_server, PASSWORDS["server"]) == 200
    rotated = PASSWORDS | {"server": "server-password-2"}
    applied = _apply_users(workdir, rotated, **CACHED)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("updated") == 4, applied.stdout
    try:
        with _basic_auth_server(tmp_path, workdir, auth_server.backend_store_uri) as restarted:
            assert (status(restarted, PASSWORDS["server"]), status(restarted, rotated["server"])) == (401, 200)
        assert (status(auth_server, PASSWORDS["server"]), status(auth_server, rotated["server"])) == (200, 200)
    finally:
        assert _apply_users(workdir, PASSWORDS, **CACHED).returncode == 0  # back, for the other tests


def test_the_credential_cache_is_configured_or_off(tmp_path):
    config = tmp_path / "auth" / "basic_auth.ini"
    for env, line in (
        ({}, "auth_cache_ttl_seconds = 0"),
        ({"MLKUBE_AUTH_CACHE_SECONDS": "60"}, "auth_cache_ttl_seconds = 60"),
    ):
        applied = _apply_users(tmp_path, PASSWORDS, **env)
        assert applied.returncode == 0, applied.stderr
        assert line in config.read_text().splitlines()
    wrong = _apply_users(tmp_path, PASSWORDS, MLKUBE_AUTH_CACHE_SECONDS="1m")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "mlflow-users: MLKUBE_AUTH_CACHE_SECONDS: '1m' is not a whole number of seconds (0: no cache)"
    )


def test_a_missing_setting_is_one_line(tmp_path):
    applied = _apply_users(tmp_path, {k: v for k, v in PASSWORDS.items() if k != "rollout"})
    assert applied.returncode == 2
    assert applied.stderr.strip() == "mlflow-users: MLKUBE_AUTH_ROLLOUT_USERNAME is not set"
    short = _apply_users(tmp_path, PASSWORDS | {"server": "short"})
    assert short.stderr.strip() == "mlflow-users: MLKUBE_AUTH_SERVER_PASSWORD: at least 12 characters"
