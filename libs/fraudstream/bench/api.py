"""``fraudstream bench api``: the scoring API under an open-loop load on loopback.

1. A ``fraudstream serve`` subprocess (one process, one uvicorn worker) starts on a
   free port over the configured Redis, under a fresh feature key prefix.
2. A load generator in this process sends single-transaction ``POST /v1/score``
   requests (recording, each a new transaction of one of a few thousand cards) at a
   fixed rate: request i is due at ``start + i / rate`` whatever happened to the
   earlier ones (open loop), and its latency counts from when it was due, so a
   stalled server shows up as latency instead of as a lower rate (no coordinated
   omission). Latencies go to an HDR histogram.
3. First the reference rate (500/s), then rates stepped up from 100/s (x1.5 each)
   until p99 reaches the latency goal (50 ms) or a request fails; the highest rate
   that met it is reported.

Why not wrk: wrk keeps a fixed number of connections busy (closed loop), so it cannot
hold a given rate and hides queueing behind lower throughput; wrk2 (which can) is not
packaged in Debian. The generator here speaks HTTP/1.1 over raw asyncio streams with
keep-alive connections (~50 µs of client work a request, against ~1 ms for httpx), so
it stays well below the server's cost at these rates.

The generator shares the machine with the server, so its own cost is measurement
error: it runs on uvloop, and one dispatcher sends each request when it is due (one
pending timer, not one per request of the run). A request the dispatcher sends late
still counts its latency from when it was due. Its own garbage collector is off while
a rate runs (a collection stalled it for 20-80 ms: every request due meanwhile would
count the pause as the server's latency). Like an HTTP client library, it does
not reuse a kept-alive connection the server has already closed (uvicorn closes idle
ones after 5 s), which would count as an error the server did not make.
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
import numpy as np
import uvloop
from hdrh.histogram import HdrHistogram

from fraudstream.bench.stats import percentiles_ms
from fraudstream.config import Settings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.features.redis_store import delete_prefix
from fraudstream.harness.embedded import free_port
from fraudstream.harness.scorer import wait_until
from fraudstream.processes import stop_process
from fraudstream.redis_client import build_redis
from fraudstream.schemas import Transaction, encode

#: The latency goal of the stepped run, ms.
P99_GOAL_MS: Final = 50.0
#: Connections the generator may open (a request waits for a free one).
MAX_CONNECTIONS: Final = 128
#: Seconds between two rates.
PAUSE_S: Final = 2.0
#: A request not answered within this long counts as an error.
REQUEST_TIMEOUT_S: Final = 5.0
#: Seconds an idle connection is reused (uvicorn closes them after 5 s).
KEEPALIVE_EXPIRY_S: Final = 4.0


@dataclass
class RateResult:
    """What one rate gave."""

    rate: float
    requests: int
    achieved_rate: float
    latency_ms: dict[str, float]
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No errors and p99 under the goal."""
        return not self.errors and self.latency_ms["p99"] < P99_GOAL_MS


@dataclass
class ApiBenchResult:
    """The reference rate, every step, and the best step."""

    reference: RateResult
    steps: list[RateResult]

    @property
    def best(self) -> RateResult | None:
        """The highest stepped rate that met the goal."""
        ok = [s for s in self.steps if s.ok]
        return max(ok, key=lambda s: s.rate) if ok else None


def bench_api(
    settings: Settings,
    *,
    rate: float = 500.0,
    duration_s: float = 20.0,
    step_duration_s: float = 10.0,
    start_rate: float = 100.0,
    max_rate: float = 5_000.0,
    step_factor: float = 1.5,
) -> ApiBenchResult:
    """Run the server, the reference rate, then the steps; clean up the keys."""
    key = secrets.token_urlsafe(24)
    prefix = f"bench-api-{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = {
        **os.environ,
        "API_KEY": key,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "REDIS_URL": settings.redis.url,
        "FEATURES_KEY_PREFIX": prefix,
        "FRAUDSTREAM_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "fraudstream.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_ready(server, port)
        bodies = _Bodies()
        reference = uvloop.run(_run_rate(port, key, bodies, rate, duration_s))
        steps: list[RateResult] = []
        current = start_rate
        while current <= max_rate:
            time.sleep(PAUSE_S)  # let a backlog of the previous rate drain
            step = uvloop.run(_run_rate(port, key, bodies, current, step_duration_s))
            steps.append(step)
            if not step.ok:
                break
            current = round(current * step_factor, -1)
        return ApiBenchResult(reference=reference, steps=steps)
    finally:
        stop_process(server, 15.0)
        client = build_redis(settings.redis)
        try:
            delete_prefix(client, prefix)
        finally:
            client.close()


def _wait_ready(server: subprocess.Popen[bytes], port: int, timeout_s: float = 60.0) -> None:
    def ready() -> bool:
        if server.poll() is not None:
            stderr = server.stderr.read().decode(errors="replace") if server.stderr else ""
            raise ServiceUnavailableError(f"fraudstream serve exited: {stderr[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_until(ready, timeout_s, interval_s=0.2):
        raise ServiceUnavailableError(f"fraudstream serve was not ready within {timeout_s} s")


class _Bodies:
    """Request bodies: a new transaction each, cards reused so they build a history."""

    def __init__(self, cards: int = 5_000, seed: int = 7) -> None:
        self._rng = np.random.default_rng(seed)
        self._cards = cards
        self._n = 0
        self._start = datetime(2024, 4, 1, tzinfo=UTC)

    def take(self, n: int) -> list[bytes]:
        cards = self._rng.integers(self._cards, size=n)
        amounts = np.round(self._rng.gamma(1.5, 40.0, size=n), 2)
        out = []
        for card, amount in zip(cards.tolist(), amounts.tolist(), strict=True):
            self._n += 1
            tx = Transaction(
                transaction_id=f"bench-{self._n:09d}",
                event_time=self._start + timedelta(seconds=self._n),
                amount=amount,
                card_id=f"card-{card}",
                merchant_id=f"m-{card % 300}",
            )
            out.append(encode(tx))
        return out


_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Connections:
    """Keep-alive HTTP/1.1 connections to the server, opened as needed.

    An idle connection is reused for up to :data:`KEEPALIVE_EXPIRY_S` (as httpx's
    ``keepalive_expiry`` does), so the generator never writes to one the server is
    closing for being idle.
    """

    def __init__(self, port: int) -> None:
        self._port = port
        self._idle: list[tuple[_Stream, float]] = []  # most recently used last
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def _connection(self) -> _Stream:
        """The most recently used idle connection that is still good, or a new one."""
        now = time.monotonic()
        while self._idle:
            (reader, writer), since = self._idle.pop()
            if now - since < KEEPALIVE_EXPIRY_S and not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_connection("127.0.0.1", self._port)

    async def request(self, message: bytes) -> int:
        """Send one request (head and body); return its status code."""
        async with self._slots:
            reader, writer = await self._connection()
            try:
                writer.write(message)
                status, keep = await _read_response(reader)
            except BaseException:
                writer.close()
                raise
            if keep:
                self._idle.append(((reader, writer), time.monotonic()))
            else:
                writer.close()
            return status

    def close(self) -> None:
        for (_, writer), _ in self._idle:
            writer.close()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() != "close"


async def _run_rate(
    port: int, key: str, bodies: _Bodies, rate: float, duration_s: float
) -> RateResult:
    n = max(1, int(rate * duration_s))
    head = (
        f"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    messages = [head + b"%d\r\n\r\n" % len(body) + body for body in bodies.take(n)]
    connections = _Connections(port)
    histogram = HdrHistogram(1, 60_000_000, 3)  # microseconds
    errors: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    clock = time.perf_counter  # not loop.time(): uvloop's is in whole ms, as of the loop's turn

    async def one(due: float, message: bytes) -> None:
        try:
            async with asyncio.timeout(due + REQUEST_TIMEOUT_S - clock()):
                status = await connections.request(message)
        except TimeoutError:
            errors["timeout"] += 1
            return
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors[type(exc).__name__] += 1
            return
        if status != 200:
            errors[f"HTTP {status}"] += 1
        histogram.record_value(max(1, round((clock() - due) * 1e6)))

    # The generator's own garbage collection would stall it for tens of ms (it holds
    # every task of the run) and count the pause as latency of every request due
    # meanwhile: off while it runs. The server's collector is untouched.
    gc.collect()
    gc.disable()
    try:
        began = clock()
        start = began + 0.1
        sent: list[asyncio.Task[None]] = []
        for i, message in enumerate(messages):
            due = start + i / rate  # open loop: when it is due, whatever came before
            while due > clock():  # uvloop sleeps whole ms, rounded down: <= 1 ms late
                await asyncio.sleep(max(due - clock(), 0.001))
            sent.append(loop.create_task(one(due, message)))
        await asyncio.gather(*sent)
        elapsed = clock() - began - 0.1
    finally:
        gc.enable()
    connections.close()
    return RateResult(
        rate=rate,
        requests=n,
        achieved_rate=n / max(elapsed, 1e-9),
        latency_ms=percentiles_ms(histogram, (50, 90, 99, 99.9)),
        errors=dict(errors),
    )
