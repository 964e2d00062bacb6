"""Closes the socket of a failed Kafka connection attempt.

kafka-python 3.0.12 opens a socket for each connection attempt and, when the attempt
fails (refused, unreachable, timed out), drops it without closing it. While a broker
is down every client retries every few hundred milliseconds, so each retry leaves an
open file descriptor behind until the garbage collector finds it, and the collector
then warns "unclosed <socket.socket ...>" from whatever code happens to run (a test
under ``-W error`` fails at a random place). :func:`close_failed_connects` wraps the
one coroutine every attempt goes through, so a failed attempt closes its socket at
once. It is applied when :mod:`fraudstream.kafka` is imported, before any client is
built, and is harmless on a kafka-python that closes the socket itself.

>>> close_failed_connects()  # applied on import already: a second call wraps nothing
>>> hasattr(KafkaNetSocket.sock_connect.__wrapped__, "__wrapped__")
False
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final

from kafka.net.inet import KafkaNetSocket

#: Marks a ``sock_connect`` already wrapped by :func:`close_failed_connects`.
_WRAPPED: Final = "_fraudstream_closes_failed_sockets"

_SockConnect = Callable[..., Awaitable[socket.socket]]


def _closing_on_failure(sock_connect: _SockConnect) -> _SockConnect:
    """``sock_connect`` that closes its socket when the attempt raises."""

    @functools.wraps(sock_connect)
    async def wrapped(
        self: KafkaNetSocket, net: Any, sock: socket.socket, *args: Any, **kwargs: Any
    ) -> socket.socket:
        try:
            return await sock_connect(self, net, sock, *args, **kwargs)
        except BaseException:
            sock.close()
            raise

    setattr(wrapped, _WRAPPED, True)
    return wrapped


def close_failed_connects() -> None:
    """Make every kafka-python connection attempt close its socket when it fails."""
    if not getattr(KafkaNetSocket.sock_connect, _WRAPPED, False):
        KafkaNetSocket.sock_connect = _closing_on_failure(KafkaNetSocket.sock_connect)
