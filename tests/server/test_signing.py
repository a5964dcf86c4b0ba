"""The server loads only versions the trainers signed (model-server signing.py, training-jobs signing.py).

The real trainer signs with a key of the test's own; a real server holding its certificate serves that version
and refuses, by name and reason, an unsigned version, a signature moved to another version, and a signature
made with another key, while the signed one serves.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from collections.abc import Iterator

import mlflow
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from mlflow import MlflowClient

from mlkube_server import model_tags, signing
from mlkube_server.kinds.base import ModelLoadError, Resolved
from mlkube_train import signing as trainer_signing
from tests.support.mlflow_server import MlflowServer, run_mlflow_server
from tests.support.training import PENGUINS_FAST_CONFIG, run_trainer

from .conftest import PENGUIN, SERVE, server_env, start_server
from .test_lifecycle import _states

MODEL = "penguins-logistic-regression"


def _key_and_certificate() -> tuple[str, str]:
    """What the mlflow chart generates: an Ed25519 key and a self-signed certificate of it."""
    key = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlkube-model-signing")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, None)
    )  # fmt: skip
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private, certificate.public_bytes(serialization.Encoding.PEM).decode()


KEY, CERTIFICATE = _key_and_certificate()
OTHER_KEY, _ = _key_and_certificate()


def test_both_sides_digest_and_sign_the_same_bytes(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    (tmp_path / "sub" / "model.skops").write_bytes(bytes(range(256)) * 100)
    assert trainer_signing.artifact_digest(tmp_path) == signing.artifact_digest(tmp_path)
    assert trainer_signing.signed_message("m", "3", "ab") == signing.signed_message("m", "3", "ab")


def _resolved(tags: dict[str, str], version: str = "3") -> Resolved:
    return Resolved("m", f"models:/m/{version}", f"models:/m/{version}", version, None, "run", tags)


def test_a_changed_file_a_missing_tag_and_another_source_are_refused(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    digest = signing.artifact_digest(tmp_path)
    signature = trainer_signing.Signer(KEY).sign("m", "3", digest)
    assert signing.verify(_resolved({model_tags.TAG_SIGNATURE: signature}), tmp_path, CERTIFICATE) == digest
    (tmp_path / "model.bin").write_bytes(b"weights of someone else")
    with pytest.raises(ModelLoadError, match="does not match its artifacts"):
        signing.verify(_resolved({model_tags.TAG_SIGNATURE: signature}), tmp_path, CERTIFICATE)
    with pytest.raises(ModelLoadError, match="not signed by the platform's trainers"):
        signing.verify(_resolved({}), tmp_path, CERTIFICATE)
    with pytest.raises(ModelLoadError, match="does not match"):
        signing.verify(_resolved({model_tags.TAG_SIGNATURE: "not base64 !"}), tmp_path, CERTIFICATE)
    logged = Resolved("m", "runs:/abc/model", "runs:/abc/model", "run-abc", None, "abc", {})
    with pytest.raises(ModelLoadError, match="not a registered model version"):
        signing.verify(logged, tmp_path, CERTIFICATE)
    own_folder = Resolved("m", str(tmp_path), str(tmp_path), "local", None, None, {})
    assert signing.verify(own_folder, tmp_path, CERTIFICATE) == ""  # the server's own disk


def test_a_wrong_key_or_certificate_is_one_line_at_start():
    with pytest.raises(ValueError, match="not a PEM certificate or public key"):
        signing.public_key("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="not a PEM private key"):
        trainer_signing.Signer("not a key")


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[MlflowServer]:
    with run_mlflow_server(tmp_path_factory.mktemp("mlflow-signing")) as server:
        yield server


@pytest.fixture(scope="module")
def versions(registry) -> dict[str, str]:
    """1: the trainer's, signed; 2: the same artifacts registered by hand, unsigned; 3: version 1's signature
    copied onto a new version; 4: signed with a key that is not the platform's."""
    result = run_trainer(["penguins", "--config", str(PENGUINS_FAST_CONFIG), "--model", "logistic_regression"],
                         registry.url, env={"MLKUBE_TRAIN_SIGNING_KEY": KEY})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(registry.url, registry.url)
    signed = client.get_model_version(MODEL, "1")
    assert signed.tags[model_tags.TAG_SIGNATURE] and signed.tags[model_tags.TAG_ARTIFACT_DIGEST]
    mlflow.set_tracking_uri(registry.url)
    mlflow.set_registry_uri(registry.url)
    try:
        unsigned = mlflow.register_model(signed.source, MODEL).version
        copied = mlflow.register_model(signed.source, MODEL, tags={
            model_tags.TAG_SIGNATURE: signed.tags[model_tags.TAG_SIGNATURE]}).version  # fmt: skip
        other = mlflow.register_model(signed.source, MODEL).version
        trainer_signing.Signer(OTHER_KEY).sign_version(client, MODEL, other)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    return {"signed": "1", "unsigned": unsigned, "copied": copied, "other key": other}


def test_the_server_serves_the_signed_version_and_names_why_it_refuses_the_others(tmp_path, registry, versions):
    models = [f"{label.replace(' ', '-')}=models:/{MODEL}/{v}" for label, v in versions.items()]
    with start_server(tmp_path, models, registry.url, wait="open",
                      MLKUBE_SERVER_SIGNING_CERTIFICATE=CERTIFICATE) as srv:  # fmt: skip
        states = _states(srv, {"signed", "unsigned", "copied", "other-key"})
        assert states["signed"]["state"] == "ready", states["signed"]
        assert "is not signed by the platform's trainers" in states["unsigned"]["reason"], states["unsigned"]
        for refused in ("copied", "other-key"):
            assert states[refused]["state"] == "failed"
            assert "signature does not match its artifacts" in states[refused]["reason"], states[refused]
        assert srv.client.post("/predict", params={"model": "signed"}, json=PENGUIN).status_code == 200
        metrics = srv.client.get("/metrics").text
        assert 'mlkube_model_load_failures_total{model="unsigned"} 1.0' in metrics


def test_without_a_certificate_the_server_loads_unsigned_versions(tmp_path, registry, versions):
    with start_server(tmp_path, [f"models:/{MODEL}/{versions['unsigned']}"], registry.url) as srv:
        assert srv.client.post("/predict", json=PENGUIN).status_code == 200
    shutil.rmtree(tmp_path / "model-cache", ignore_errors=True)


def test_a_certificate_that_is_not_one_stops_the_server_with_one_line(registry):
    env = server_env(registry.url, MLKUBE_SERVER_SIGNING_CERTIFICATE="garbage")
    done = subprocess.run([str(SERVE), "--model", f"models:/{MODEL}/1"], capture_output=True, text=True, timeout=60,
                          env=env, check=False)  # fmt: skip
    assert done.returncode != 0
    [line] = [line for line in done.stderr.splitlines() if "signing_certificate" in line]
    assert "not a PEM certificate or public key" in line and "Traceback" not in done.stderr, done.stderr[-2000:]
