"""MLflow webhook signatures (MLflow 3, ``mlflow/webhooks/delivery.py``; Standard Webhooks style).

MLflow signs ``f"{delivery_id}.{timestamp}.{body}"`` with HMAC-SHA256 over the webhook's secret and sends
``X-MLflow-Signature: v1,<base64 digest>``, ``X-MLflow-Delivery-Id`` and ``X-MLflow-Timestamp`` (Unix seconds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from .errors import SignatureError

SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_ID_HEADER = "x-mlflow-delivery-id"
VERSION = "v1"


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    signed = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float, max_skew_seconds: float) -> str:
    """Return the delivery id of a correctly signed, fresh delivery; raise ``SignatureError`` otherwise.

    ``headers`` must be looked up case-insensitively (Starlette's are). A stale timestamp is refused even with a
    good signature, so a captured delivery cannot be replayed later.
    """
    signature = headers.get(SIGNATURE_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    delivery_id = headers.get(DELIVERY_ID_HEADER)
    if not signature or not timestamp or not delivery_id:
        raise SignatureError("missing X-MLflow-Signature, X-MLflow-Timestamp or X-MLflow-Delivery-Id header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("X-MLflow-Timestamp is not a Unix time in seconds") from None
    if abs(now - sent_at) > max_skew_seconds:
        raise SignatureError(f"X-MLflow-Timestamp is {now - sent_at:+.0f}s off (more than {max_skew_seconds:.0f}s)")
    expected = sign(secret, delivery_id, timestamp, body)
    # A header may carry several space-separated signatures (secret rotation in Standard Webhooks).
    if not any(hmac.compare_digest(expected.encode(), given.encode()) for given in signature.split()):
        raise SignatureError("X-MLflow-Signature does not match the shared secret")
    return delivery_id
