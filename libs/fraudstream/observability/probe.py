"""A container health check: ask a service's ``/healthz`` and exit 0 when it is ready.

Images have no curl; this is what their ``HEALTHCHECK`` runs::

    python -m fraudstream.observability.probe http://127.0.0.1:8001/healthz

Without an argument it asks ``$HEALTHCHECK_URL``, else the scorer's default port.

>>> healthy("http://127.0.0.1:1/healthz", timeout_s=0.5)
False
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Final

DEFAULT_URL: Final = "http://127.0.0.1:8001/healthz"


def healthy(url: str, timeout_s: float = 3.0) -> bool:
    """True when ``url`` answers 2xx within ``timeout_s`` (503 means not ready)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Exit code for a health check: 0 ready, 1 not ready or not answering, 2 bad usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        sys.stderr.write("usage: python -m fraudstream.observability.probe [URL]\n")
        return 2
    url = args[0] if args else os.environ.get("HEALTHCHECK_URL", DEFAULT_URL)
    try:
        ok = healthy(url)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    if not ok:
        sys.stderr.write(f"not ready: {url}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
