"""Each version a trainer registers is signed, so that model servers load only what the platform's trainers made.

The signature (Ed25519, by the key only training Jobs hold: the mlflow chart's `<release>-mlflow-signing` Secret)
covers the registered model's name, the version number and a SHA-256 digest of every file of the version's
artifacts as MLflow serves them. MLflow's own permissions decide who may write; the signature decides what a
server will run: someone who can set tags or aliases in MLflow (a leaked credential, a bug in a permission)
still cannot make a server load a model of theirs, because they cannot sign it.

The server checks it (model-server/src/mlkube_server/signing.py). It ships in another image, so the digest and
the signed message are written there again; tests/server/test_signing.py signs here and verifies there.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from pathlib import Path

from .model_tags import TAG_ARTIFACT_DIGEST, TAG_SIGNATURE

MESSAGE_PREFIX = b"mlkube-model-version-signature-v1"


def artifact_digest(folder: Path) -> str:
    """SHA-256 over every file under ``folder``: its path relative to the folder and its own SHA-256, sorted."""
    total = hashlib.sha256()
    for path in sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix()):
        content = hashlib.sha256()
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                content.update(chunk)
        total.update(f"{path.relative_to(folder).as_posix()}\0{content.hexdigest()}\n".encode())
    return total.hexdigest()


def signed_message(name: str, version: str, digest: str) -> bytes:
    return b"\n".join((MESSAGE_PREFIX, name.encode(), str(version).encode(), digest.encode()))


class Signer:
    def __init__(self, private_key_pem: str) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(private_key_pem.encode(), password=None)
        except ValueError as exc:
            raise ValueError(f"the signing key is not a PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"the signing key must be an Ed25519 key, not {type(key).__name__}")
        self._key = key

    def sign(self, name: str, version: str, digest: str) -> str:
        return base64.b64encode(self._key.sign(signed_message(name, version, digest))).decode()

    def sign_version(self, client, name: str, version: str) -> str:
        """Download the version's artifacts as a server will, sign their digest, tag the version; the digest."""
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="mlkube-sign-") as tmp:
            # through the registry this process is pointed at (mlflow.set_registry_uri / MLFLOW_REGISTRY_URI)
            local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=tmp)
            digest = artifact_digest(Path(local))
        client.set_model_version_tag(name, str(version), TAG_ARTIFACT_DIGEST, digest)
        client.set_model_version_tag(name, str(version), TAG_SIGNATURE, self.sign(name, str(version), digest))
        return digest
