"""Who is asking: the API-key scheme of the scoring API, or HTTP basic auth for people.

A request is let in when its ``X-API-Key`` header is ``CONSOLE_KEY`` (a program; its
analyst name comes from ``X-Analyst``, else ``api-key``), or when it brings HTTP basic
credentials whose password is ``CONSOLE_KEY`` (a person in a browser; the user name is
the analyst recorded with each verdict). Anything else gets a 401 that makes a browser
ask for a name and password. Started with ``--insecure-local``, the console has no key
and lets everyone in as ``local``.

A verdict form carries a token bound to the analyst and the alert, so a page elsewhere
cannot make a browser that knows the password post verdicts (basic credentials are sent
with any request to the console).

>>> auth = ConsoleAuth(b"k")
>>> token = auth.token("ann", "alert:tx-1")
>>> auth.token_ok(token, "ann", "alert:tx-1"), auth.token_ok(token, "bob", "alert:tx-1")
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated, Final

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from fraudstream.httpauth import API_KEY_HEADER, key_header, key_matches

#: Realm of the basic-auth prompt.
REALM: Final = "fraudstream console"
#: Longest analyst name kept.
MAX_NAME: Final = 64

_basic: Final = HTTPBasic(auto_error=False, realm=REALM)


class ConsoleAuth:
    """Checks requests against ``key`` (None: let everyone in, as ``local``)."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key
        self._signing = key if key is not None else secrets.token_bytes(32)

    @property
    def open(self) -> bool:
        """Whether the console runs without a key."""
        return self._key is None

    async def __call__(
        self,
        request: Request,
        key: Annotated[str | None, Security(key_header)],
        basic: Annotated[HTTPBasicCredentials | None, Security(_basic)],
    ) -> str:
        """The analyst's name; 401 unless the request knows the key."""
        if self._key is None:
            return _name(request.headers.get("X-Analyst")) or "local"
        if key is not None and key_matches(key, self._key):
            return _name(request.headers.get("X-Analyst")) or "api-key"
        if basic is not None and key_matches(basic.password, self._key) and _name(basic.username):
            return _name(basic.username)
        raise HTTPException(
            401,
            f"missing or wrong {API_KEY_HEADER}, or basic-auth password",
            headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )

    def token(self, analyst: str, alert_id: str) -> str:
        """The verdict form token of ``analyst`` for ``alert_id``."""
        message = f"{analyst}\n{alert_id}".encode()
        return hmac.new(self._signing, message, hashlib.sha256).hexdigest()

    def token_ok(self, token: str, analyst: str, alert_id: str) -> bool:
        """Whether ``token`` is that analyst's token for that alert."""
        return hmac.compare_digest(token, self.token(analyst, alert_id))


def _name(value: str | None) -> str:
    """An analyst name fit to record: printable, trimmed, at most :data:`MAX_NAME` long."""
    if value is None:
        return ""
    return "".join(ch for ch in value if ch.isprintable()).strip()[:MAX_NAME]
