"""The queue's filters, read from the page's query string.

Empty fields mean no condition; a field that cannot be read is reported, not fatal.

>>> where, problems = parse_filter({"min_score": "0.8", "merchant": "m-1", "since": "bad"})
>>> where.min_score, where.merchant_id, where.since, problems
(0.8, 'm-1', None, ['since: not a date and time'])
>>> parse_filter({"until": "2024-04-01T12:30"})[0].until.isoformat()
'2024-04-01T12:30:00+00:00'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

from fraudstream.console.queue import AlertFilter


def parse_filter(query: Mapping[str, str]) -> tuple[AlertFilter, list[str]]:
    """The filter the query asks for, and what in it could not be read."""
    problems: list[str] = []
    min_score = None
    text = query.get("min_score", "").strip()
    if text:
        try:
            min_score = float(text)
        except ValueError:
            problems.append("min_score: not a number")
        else:
            if not math.isfinite(min_score):
                min_score = None
                problems.append("min_score: not a number")
    times: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        times[name] = None
        text = query.get(name, "").strip()
        if text:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                problems.append(f"{name}: not a date and time")
                continue
            times[name] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    merchant = query.get("merchant", "").strip() or None
    where = AlertFilter(
        min_score=min_score, merchant_id=merchant, since=times["since"], until=times["until"]
    )
    return where, problems
