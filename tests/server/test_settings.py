"""Settings: the environment, a YAML file and flags; the default port agrees with platform.env."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlkube_server.settings import ServerSettings, parse_model_spec

ROOT = Path(__file__).resolve().parents[2]


def _platform(key: str) -> str:
    for line in (ROOT / "platform.env").read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1].strip()
    raise KeyError(key)


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("MLKUBE_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_default_port_and_variant_match_the_platform_contract(clean_env):
    settings = ServerSettings()
    assert settings.port == int(_platform("MODEL_SERVER_PORT"))
    assert settings.metrics_port == int(_platform("MODEL_SERVER_METRICS_PORT"))
    assert settings.variant == "stable"
    clean_env.setenv(_platform("ENV_VARIANT"), "canary")
    clean_env.setenv(_platform("ENV_MODEL_VERSION"), "7")
    clean_env.setenv(_platform("ENV_REVISION"), "5f4d3c2b1")
    settings = ServerSettings()
    assert (settings.variant, settings.pod_model_version, settings.revision) == ("canary", "7", "5f4d3c2b1")


def test_shadow_traffic_is_off_unless_both_url_and_fraction_are_set(clean_env):
    assert not ServerSettings().shadow_enabled
    clean_env.setenv("MLKUBE_SERVER_SHADOW_URL", "http://model-server-canary:8080/")
    settings = ServerSettings()
    assert settings.shadow_url == "http://model-server-canary:8080" and not settings.shadow_enabled
    clean_env.setenv("MLKUBE_SERVER_SHADOW_FRACTION", "0.25")
    assert ServerSettings().shadow_enabled
    clean_env.delenv("MLKUBE_SERVER_SHADOW_URL")
    assert not ServerSettings().shadow_enabled


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [("SHADOW_FRACTION", "1.5", "shadow_fraction"), ("SHADOW_FRACTION", "-0.1", "shadow_fraction"),
     ("SHADOW_URL", "model-server-canary:8080", "shadow_url"), ("SHADOW_QUEUE_SIZE", "0", "shadow_queue_size"),
     ("METRICS_PORT", "8080", "metrics_port")],
)  # fmt: skip
def test_cli_rejects_bad_shadow_and_port_settings_in_one_line(clean_env, key, value, named):
    clean_env.setenv(f"MLKUBE_SERVER_{key}", value)
    result = subprocess.run(
        [sys.executable, "-m", "mlkube_server", "--model", "models:/a@champion"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("mlkube-serve: invalid settings:") and named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_models_from_json_pairs_and_bare_uris(clean_env):
    clean_env.setenv("MLKUBE_SERVER_MODELS", '{"a": "models:/x@champion"}')
    assert ServerSettings().models == {"a": "models:/x@champion"}
    clean_env.setenv("MLKUBE_SERVER_MODELS", "models:/penguins-svm@champion, digits=models:/digits-cnn/3")
    assert ServerSettings().models == {
        "penguins-svm": "models:/penguins-svm@champion",
        "digits": "models:/digits-cnn/3",
    }
    assert parse_model_spec("models:/m/4") == ("m", "models:/m/4")
    with pytest.raises(ValueError):
        parse_model_spec("/some/folder")


def test_yaml_file_and_nested_batching_settings(clean_env, tmp_path):
    config = tmp_path / "server.yaml"
    config.write_text(
        "models:\n  rf: models:/penguins-random-forest@champion\n"
        "default_model: rf\nmax_batch_rows: 50\nbatching:\n  max_batch_size: 64\n  max_wait_ms: 2\n"
    )
    clean_env.setenv("MLKUBE_SERVER_CONFIG", str(config))
    clean_env.setenv("MLKUBE_SERVER_BATCHING__MAX_WAIT_MS", "3")  # the environment wins over the file
    settings = ServerSettings()
    assert settings.default_model_name == "rf"
    assert settings.max_batch_rows == 50
    assert (settings.batching.max_batch_size, settings.batching.max_wait_ms) == (64, 3.0)


def test_cli_rejects_bad_settings_in_one_line(clean_env):
    result = subprocess.run(
        [sys.executable, "-m", "mlkube_server", "--model", "models:/a@champion", "--default-model", "b"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("mlkube-serve: invalid settings:")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_repository_api_token_comes_from_the_environment_or_a_file(clean_env, tmp_path):
    assert ServerSettings().repository_api_token is None  # off by default
    clean_env.setenv("MLKUBE_SERVER_REPOSITORY_API_TOKEN", "")
    assert ServerSettings().repository_api_token is None  # an empty variable leaves it off
    clean_env.setenv("MLKUBE_SERVER_REPOSITORY_API_TOKEN", "t" * 20)
    settings = ServerSettings()
    assert settings.repository_api_token.get_secret_value() == "t" * 20 and "t" * 20 not in repr(settings)
    clean_env.delenv("MLKUBE_SERVER_REPOSITORY_API_TOKEN")
    secret = tmp_path / "token"
    secret.write_text("from-a-mounted-secret-42\n")
    clean_env.setenv("MLKUBE_SERVER_REPOSITORY_API_TOKEN_FILE", str(secret))
    assert ServerSettings().repository_api_token.get_secret_value() == "from-a-mounted-secret-42"


@pytest.mark.parametrize(
    ("token", "token_file", "message"),
    [("short", None, "at least 16 characters"), ("t" * 20, "token", "not both"),
     (None, "missing", "repository_api_token_file"), (None, "empty", "is empty")],
)  # fmt: skip
def test_unusable_repository_tokens_stop_the_server_from_starting(clean_env, tmp_path, token, token_file, message):
    (tmp_path / "token").write_text("from-a-mounted-secret-42")
    (tmp_path / "empty").write_text("\n")
    if token is not None:
        clean_env.setenv("MLKUBE_SERVER_REPOSITORY_API_TOKEN", token)
    if token_file is not None:
        clean_env.setenv("MLKUBE_SERVER_REPOSITORY_API_TOKEN_FILE", str(tmp_path / token_file))
    with pytest.raises(ValueError, match=message):
        ServerSettings()


@pytest.mark.parametrize(("variables", "host"), [([], "127.0.0.1"), (["SERVE_HOST=0.0.0.0"], "0.0.0.0")])
def test_make_serve_listens_on_loopback_unless_told_otherwise(variables, host):
    result = subprocess.run(["make", "-n", "serve", *variables], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"mlkube-serve --host {host} " in result.stdout
