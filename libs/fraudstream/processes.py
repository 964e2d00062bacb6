"""Stopping what fraudstream starts: child processes, and services stopped with a block.

:func:`stop_process` asks a child process to stop (SIGTERM) and kills it when it takes
too long; :class:`StopOnExit` makes anything with a ``stop()`` a context manager.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Self


def stop_process(
    process: subprocess.Popen[bytes], timeout_s: float, *, group: bool = False
) -> None:
    """SIGTERM a child process, SIGKILL it if still running after ``timeout_s``.

    With ``group`` the signals go to its whole process group (a child started with
    ``start_new_session=True`` and whatever it started in turn).
    """
    if process.poll() is not None:
        return
    send = (lambda sig: os.killpg(process.pid, sig)) if group else process.send_signal
    send(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(10)


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
