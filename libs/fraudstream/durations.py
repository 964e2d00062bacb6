"""Human durations on the command line: ``90s``, ``15m``, ``12h``, ``7d``, ``1w``.

>>> parse_duration("7d")
datetime.timedelta(days=7)
>>> parse_duration("1.5h")
datetime.timedelta(seconds=5400)
>>> parse_duration("0")
datetime.timedelta(0)
>>> parse_duration("soon")
Traceback (most recent call last):
...
ValueError: not a duration: 'soon' (use a number with s, m, h, d or w, e.g. 7d)
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PATTERN: Final = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([smhdw]?)\s*$")


def format_duration(delta: timedelta) -> str:
    """The shortest exact form of ``delta`` that :func:`parse_duration` reads.

    >>> format_duration(timedelta(days=7)), format_duration(timedelta(seconds=90))
    ('1w', '90s')
    """
    seconds = delta.total_seconds()
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def parse_duration(text: str) -> timedelta:
    """Parse a number with an optional unit (seconds when none)."""
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use a number with s, m, h, d or w, e.g. 7d)")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _UNITS[unit or "s"])
