"""The API-key scheme of fraudstream's HTTP services, written once.

A service is given a key in its settings (``API_KEY``, ``CONSOLE_KEY``) and refuses to
start without one (:func:`required_key`). A request proves it knows the key in the
``X-API-Key`` header (:func:`require_api_key`, a FastAPI dependency); the comparison
takes constant time (:func:`key_matches`).

>>> secret = required_key(SecretStr("s3cret"), "API_KEY", "the scoring API")
>>> key_matches("s3cret", secret), key_matches("guess", secret), key_matches(None, secret)
(True, False, False)
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Final

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from fraudstream.errors import ConfigError

#: The header that carries the key.
API_KEY_HEADER: Final = "X-API-Key"

key_header: Final = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The API key.")


def required_key(key: SecretStr | None, variable: str, service: str) -> bytes:
    """The key's bytes; :class:`~fraudstream.errors.ConfigError` when it is unset or empty."""
    if key is None or not key.get_secret_value():
        raise ConfigError(f"{variable} is not set: {service} refuses to start without one")
    return key.get_secret_value().encode()


def key_matches(given: str | None, expected: bytes) -> bool:
    """Whether ``given`` is the key (compared in constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), expected)


def missing_key() -> HTTPException:
    """The 401 answer to a request without the right key."""
    return HTTPException(
        401, f"missing or wrong {API_KEY_HEADER}", headers={"WWW-Authenticate": "APIKey"}
    )


def require_api_key(expected: bytes) -> Callable[[str | None], Awaitable[None]]:
    """A FastAPI dependency: 401 unless ``X-API-Key`` is ``expected``."""

    async def require_key(key: Annotated[str | None, Security(key_header)]) -> None:
        """401 unless X-API-Key matches.

        ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency on
        its thread pool, a thread hop per request for a comparison of a few bytes.
        """
        if not key_matches(key, expected):
            raise missing_key()

    return require_key
