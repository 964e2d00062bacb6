"""Stopping what fraudstream starts: child processes, and services stopped with a block.

:func:`stop_process` asks a child process to stop (SIGTERM) and kills it when it takes
too long; :class:`StopOnExit` makes anything with a ``stop()`` a context manager.
"""

from __future__ import annotations

import os
import signal
import subprocess
from multiprocessing.process import BaseProcess
from typing import Any, Self

#: A child process, started by :mod:`subprocess` or by :mod:`multiprocessing`.
Child = subprocess.Popen[Any] | BaseProcess


def stop_process(process: Child, timeout_s: float, *, group: bool = False) -> None:
    """SIGTERM a child process, SIGKILL it if still running after ``timeout_s``.

    ``process`` is a :class:`subprocess.Popen` or a started :mod:`multiprocessing`
    process. With ``group`` the signals go to a :class:`~subprocess.Popen`'s whole
    process group (a child started with ``start_new_session=True`` and whatever it
    started in turn).

    >>> child = subprocess.Popen(["sleep", "60"])
    >>> stop_process(child, 5.0)
    >>> child.returncode == -signal.SIGTERM
    True
    """
    running = process.is_alive() if isinstance(process, BaseProcess) else process.poll() is None
    if not running:
        return
    _send(process, signal.SIGTERM, group=group)
    try:
        _wait(process, timeout_s)
    except subprocess.TimeoutExpired:
        _send(process, signal.SIGKILL, group=group)
        _wait(process, 10)


def _send(process: Child, sig: signal.Signals, *, group: bool) -> None:
    if isinstance(process, BaseProcess):  # its own methods: they skip a reaped child
        if sig == signal.SIGKILL:
            process.kill()
        else:
            process.terminate()
    elif group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)


def _wait(process: Child, timeout_s: float) -> None:
    """Wait for ``process`` to exit; :class:`subprocess.TimeoutExpired` if it does not."""
    if not isinstance(process, BaseProcess):
        process.wait(timeout_s)
        return
    process.join(timeout_s)
    if process.exitcode is None:
        raise subprocess.TimeoutExpired(process.name, timeout_s)


class StopOnExit:
    """A context manager that is itself in the ``with`` block and calls :meth:`stop`
    when the block ends, however it ends.

    >>> class Service(StopOnExit):
    ...     def stop(self) -> None:
    ...         print("stopped")
    >>> with Service():
    ...     pass
    stopped
    """

    def stop(self) -> None:
        """Stop what this object started."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
