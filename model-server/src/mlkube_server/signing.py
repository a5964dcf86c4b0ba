"""The server loads only model versions the platform's trainers signed.

Why it holds: a version's ``mlkube.signature`` tag is an Ed25519 signature, by the key only training Jobs hold
(the mlflow chart's ``<release>-mlflow-signing`` Secret; servers get its certificate, the public half), of the
registered model's name, the version number and the SHA-256 of every file the server downloaded and is about to
load. Whoever can write to MLflow (move ``@champion``, add a version, rewrite a tag, replace an artifact) without
that key produces a version whose signature is missing or does not match, and the load fails with the reason in
``/models``, ``/health`` and the load-failure metric; the version already serving goes on.

The trainer's side is training-jobs/src/mlkube_train/signing.py (another image): the digest and the message are
written there too, and tests/server/test_signing.py signs there and verifies here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import lru_cache
from pathlib import Path

from .kinds.base import ModelLoadError, Resolved
from .model_tags import TAG_SIGNATURE

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


@lru_cache(maxsize=4)
def public_key(pem: str):
    """The Ed25519 public key of a PEM certificate (what the chart generates) or a PEM public key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = (
            x509.load_pem_x509_certificate(pem.encode()).public_key()
            if "CERTIFICATE" in pem
            else load_pem_public_key(pem.encode())
        )
    except ValueError as exc:
        raise ValueError(f"the signing certificate is not a PEM certificate or public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"the signing certificate must hold an Ed25519 key, not {type(key).__name__}")
    return key


def verify(resolved: Resolved, local: Path, certificate_pem: str) -> str:
    """Raise ModelLoadError unless ``local`` is a registry version signed by the trainers; returns the digest.

    A folder on the server's own disk is the operator's and needs no signature; every other source (``runs:/``,
    a logged model ``models:/m-...``) has no version to sign and is refused.
    """
    from cryptography.exceptions import InvalidSignature

    if not resolved.download_uri.startswith(("models:/", "runs:/")):
        return ""
    registered, _, version = resolved.download_uri[len("models:/") :].partition("/")
    if not resolved.download_uri.startswith("models:/") or not version or resolved.version != version:
        raise ModelLoadError(
            f"model {resolved.name}: {resolved.uri} is not a registered model version, and this server loads "
            "only versions signed by the platform's trainers"
        )
    where = f"model {resolved.name}: version {version} of {registered}"
    signature = resolved.tags.get(TAG_SIGNATURE, "")
    if not signature:
        raise ModelLoadError(f"{where} is not signed by the platform's trainers (no {TAG_SIGNATURE} tag): refused")
    digest = artifact_digest(local)
    try:
        public_key(certificate_pem).verify(base64.b64decode(signature, validate=True),
                                           signed_message(registered, version, digest))  # fmt: skip
    except (InvalidSignature, binascii.Error, ValueError):
        raise ModelLoadError(
            f"{where}: its signature does not match its artifacts (sha256 {digest[:16]}) or was not made with the "
            "platform's signing key: refused"
        ) from None
    return digest
