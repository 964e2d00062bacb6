"""Readiness of a process, as the services it depends on report it.

>>> health = Health(["kafka", "redis"])
>>> health.ready
False
>>> health.up("kafka")
>>> health.up("redis")
>>> health.ready
True
>>> health.down("redis", "timeout")
>>> health.status()
{'ready': False, 'checks': {'kafka': 'ok', 'redis': 'timeout'}}
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class Health:
    """Thread-safe map of dependency -> ``"ok"`` or the reason it is not."""

    def __init__(self, dependencies: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._checks = dict.fromkeys(dependencies, "not checked yet")

    def up(self, name: str) -> None:
        """Mark ``name`` as answering."""
        with self._lock:
            self._checks[name] = "ok"

    def down(self, name: str, reason: str) -> None:
        """Mark ``name`` as failing, with the reason."""
        with self._lock:
            self._checks[name] = reason

    @property
    def ready(self) -> bool:
        """True when every dependency answers."""
        with self._lock:
            return all(state == "ok" for state in self._checks.values())

    def status(self) -> dict[str, object]:
        """``{"ready": bool, "checks": {...}}`` for the health endpoint."""
        with self._lock:
            checks = dict(self._checks)
        return {"ready": all(s == "ok" for s in checks.values()), "checks": checks}
