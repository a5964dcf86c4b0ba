"""The repository API's bearer token: the API is off unless a token is configured, and the token presented is
compared in constant time."""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from .errors import repository_api_off, unauthorized


def check_bearer(presented: str | None, token: SecretStr | None) -> None:
    """``presented``: the credentials of an ``Authorization: Bearer <token>`` header, None without one."""
    if token is None:
        raise repository_api_off()
    if not presented:
        raise unauthorized("this call needs an 'Authorization: Bearer <token>' header")
    if not hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
        raise unauthorized("the bearer token is not valid")
