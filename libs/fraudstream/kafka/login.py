"""One SASL login to a broker, to learn for certain why a secured client could not start.

kafka-python reads a broker's answer and the connection's close in one go and, when
both come together (as they do after a refused login), drops the answer: the refusal
then looks like a broken connection. :func:`try_login` logs in once over a blocking
socket of its own (TLS with the client's CA bundle when the protocol says so) and reads
every answer to the end, so a refused password or an untrusted certificate is always
told apart from a broker that is away. It speaks the two requests a login takes
(SaslHandshake v1, SaslAuthenticate v1) and lets kafka-python's mechanism compute the
tokens.
"""

from __future__ import annotations

import socket
import ssl
import struct
from typing import Any, Final

from kafka.errors import UnsupportedSaslMechanismError
from kafka.net.sasl import get_sasl_mechanism

from fraudstream.config import KafkaSettings

_SASL_HANDSHAKE: Final = 17
_SASL_AUTHENTICATE: Final = 36


class LoginRefusedError(Exception):
    """The broker answered the login with an error (its message is the text)."""


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def raw(self, size: int) -> bytes:
        data = self.data[self.pos : self.pos + max(size, 0)]
        self.pos += max(size, 0)
        return data


class _Channel:
    """Requests and their whole answers over one blocking socket."""

    def __init__(self, sock: socket.socket, client_id: str) -> None:
        self.sock, self.client_id, self.correlation = sock, client_id, 0

    def call(self, api_key: int, body: bytes) -> _Reader:
        self.correlation += 1
        header = struct.pack(">hhi", api_key, 1, self.correlation) + _string(self.client_id)
        message = header + body
        self.sock.sendall(struct.pack(">i", len(message)) + message)
        (size,) = struct.unpack(">i", self._exactly(4))
        answer = _Reader(self._exactly(size))
        answer.take(">i")  # correlation id
        return answer

    def _exactly(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self.sock.recv(left)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def _authenticate(channel: _Channel, mechanism_name: str, kwargs: dict[str, Any]) -> None:
    answer = channel.call(_SASL_HANDSHAKE, _string(mechanism_name))
    if answer.take(">h"):
        offered = [answer.raw(answer.take(">h")).decode() for _ in range(answer.take(">i"))]
        raise UnsupportedSaslMechanismError(
            f"the broker offers {', '.join(offered) or 'no mechanism'}, not {mechanism_name}"
        )
    mechanism = get_sasl_mechanism(mechanism_name)(**kwargs)
    while not mechanism.is_done():
        token = mechanism.auth_bytes()
        answer = channel.call(_SASL_AUTHENTICATE, struct.pack(">i", len(token)) + token)
        error = answer.take(">h")
        length = answer.take(">h")
        message = answer.raw(length).decode(errors="replace") if length >= 0 else ""
        if error:
            raise LoginRefusedError(message or f"error {error}")
        mechanism.receive(answer.raw(answer.take(">i")))


def try_login(settings: KafkaSettings, kwargs: dict[str, Any], timeout_s: float) -> None:
    """Log in once to the first bootstrap server with the client arguments ``kwargs``
    (:func:`~fraudstream.kafka.security.kafka_client_kwargs`).

    Raises :class:`ssl.SSLCertVerificationError` when the broker's certificate is not
    trusted, ``UnsupportedSaslMechanismError`` when it does not offer the mechanism,
    :class:`LoginRefusedError` when it refuses the login, ``OSError`` when it cannot be
    reached; returns when the login succeeds.
    """
    host, _, port = settings.servers[0].rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as raw:
        sock: socket.socket = raw
        if settings.security_protocol.endswith("SSL"):
            context = ssl.create_default_context(cafile=kwargs.get("ssl_cafile"))
            sock = context.wrap_socket(raw, server_hostname=host)
        try:
            if settings.security_protocol.startswith("SASL_"):
                _authenticate(_Channel(sock, kwargs["client_id"]), kwargs["sasl_mechanism"], kwargs)
        finally:
            if sock is not raw:
                sock.close()
