"""Readiness probe for the local Kafka broker (Python standard library only).

Usage: python kafka_probe.py HOST:PORT [TIMEOUT_SECONDS]

Exits 0 and prints one line (brokers, controller, cluster id) when the broker
answers a real Metadata request that lists at least one broker; exits 1 with
the reason on stderr otherwise. It speaks the Kafka wire protocol directly so
that it needs neither the project's virtualenv nor a JVM:

1. ApiVersions v0 (every broker answers it) to learn which Metadata versions
   the broker supports;
2. Metadata v4..v8 for all topics. These versions share one non-flexible
   layout up to the controller id, which is all this probe reads. Kafka 4.x
   supports Metadata v4 and later.
"""

from __future__ import annotations

import socket
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"fraudstream-local-probe"


class ProbeError(Exception):
    """The broker is not (yet) usable."""


class Reader:
    """Big-endian reader over a response body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = sock.recv(size)
        if not chunk:
            raise ProbeError("connection closed by the broker")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> Reader:
    """Send one request (header v1) and return a reader past the response header."""
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    message = header + body
    sock.sendall(struct.pack(">i", len(message)) + message)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    reader = Reader(_recv_exact(sock, size))
    if reader.int32() != corr:
        raise ProbeError("response correlation id mismatch")
    return reader


def _metadata_versions(sock: socket.socket) -> tuple[int, int]:
    reader = _call(sock, API_VERSIONS, 0, 1, b"")
    error = reader.int16()
    if error != 0:
        raise ProbeError(f"ApiVersions error code {error}")
    for _ in range(reader.int32()):
        key, low, high = reader.int16(), reader.int16(), reader.int16()
        if key == API_METADATA:
            return low, high
    raise ProbeError("broker does not list the Metadata API")


def probe(host: str, port: int, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        low, high = _metadata_versions(sock)
        version = max(4, low)
        if version > min(8, high):
            raise ProbeError(f"broker supports Metadata v{low}-v{high}; probe speaks v4-v8")
        # topics = null (all topics), allow_auto_topic_creation = false,
        # and from v8 on: include cluster/topic authorized operations = false.
        body = struct.pack(">ib", -1, 0)
        if version >= 8:
            body += struct.pack(">bb", 0, 0)
        reader = _call(sock, API_METADATA, version, 2, body)
        reader.int32()  # throttle_time_ms
        brokers = []
        for _ in range(reader.int32()):
            node_id, broker_host, broker_port = reader.int32(), reader.string(), reader.int32()
            reader.string()  # rack
            brokers.append(f"{node_id}@{broker_host}:{broker_port}")
        cluster_id = reader.string()
        controller_id = reader.int32()
    if not brokers:
        raise ProbeError("metadata lists no live broker yet")
    return f"brokers={','.join(brokers)} controller={controller_id} cluster_id={cluster_id}"


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    host, _, port = argv[1].rpartition(":")
    timeout = float(argv[2]) if len(argv) == 3 else 5.0
    try:
        print(probe(host, int(port), timeout))
    except (OSError, ProbeError, struct.error) as exc:
        print(f"kafka not ready: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
