"""CPU time spent during a benchmark run: the whole machine, this process, Redis.

On a machine whose cores also run the broker and Redis, a rate alone does not say
where the time went; CPU seconds per transaction do. Redis is measured when it runs
on this machine (its pid from ``INFO server``); the rest of the machine is mostly the
Kafka broker.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil
import redis

from fraudstream.config import RedisSettings
from fraudstream.redis_client import build_redis

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Busy fields of ``psutil.cpu_times()`` (on Linux ``guest`` is already in ``user``).
_BUSY = ("user", "nice", "system", "irq", "softirq", "steal")


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds used during a run."""

    machine: float
    process: float
    redis: float | None

    def per_transaction_us(self, transactions: float) -> dict[str, float]:
        """Microseconds of CPU per transaction, by part (``other``: the rest of the machine).

        >>> CpuUse(machine=3.0, process=1.5, redis=0.5).per_transaction_us(10_000)
        {'machine': 300.0, 'this process': 150.0, 'redis': 50.0, 'other': 100.0}
        """
        if transactions <= 0:
            return {}
        parts = {"machine": self.machine, "this process": self.process}
        if self.redis is not None:
            parts["redis"] = self.redis
        parts["other"] = self.machine - self.process - (self.redis or 0.0)
        return {name: seconds / transactions * 1e6 for name, seconds in parts.items()}


class CpuMeter:
    """Reads CPU counters at :meth:`start` and :meth:`stop`."""

    def __init__(self, redis_settings: RedisSettings | None = None) -> None:
        self._process = psutil.Process()
        self._redis = _local_redis(redis_settings) if redis_settings is not None else None
        self._start = self._read()

    def start(self) -> None:
        """Take the counters now as the start."""
        self._start = self._read()

    def stop(self) -> CpuUse:
        """CPU used since :meth:`start`."""
        machine, process, redis_cpu = self._read()
        start_machine, start_process, start_redis = self._start
        return CpuUse(
            machine=machine - start_machine,
            process=process - start_process,
            redis=None if redis_cpu is None or start_redis is None else redis_cpu - start_redis,
        )

    def _read(self) -> tuple[float, float, float | None]:
        times = psutil.cpu_times()
        machine = sum(getattr(times, name, 0.0) for name in _BUSY)
        own = self._process.cpu_times()
        return machine, own.user + own.system, _cpu(self._redis)


def _local_redis(settings: RedisSettings) -> psutil.Process | None:
    """The Redis server process, when it runs on this machine."""
    client = build_redis(settings)
    try:
        info = client.info("server")
        host = client.connection_pool.connection_kwargs.get("host", "")
    except redis.RedisError:
        return None
    finally:
        client.close()
    if host not in _LOOPBACK:
        return None
    try:
        return psutil.Process(int(info["process_id"]))
    except (psutil.Error, KeyError, ValueError):
        return None


def _cpu(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)
