"""The latency figures the benchmarks report, computed one way.

>>> from hdrh.histogram import HdrHistogram
>>> histogram = HdrHistogram(1, 60_000_000, 3)  # microseconds
>>> for us in (1_000, 2_000, 4_000):
...     _ = histogram.record_value(us)
>>> percentiles_ms(histogram, (50, 99))
{'p50': 2.0, 'p99': 4.001, 'max': 4.001}
"""

from __future__ import annotations

from collections.abc import Sequence

from hdrh.histogram import HdrHistogram


def percentiles_ms(histogram: HdrHistogram, percentiles: Sequence[float]) -> dict[str, float]:
    """``p50``-style figures for ``percentiles`` and ``max``, in ms, of a histogram of
    microseconds."""
    figures = {f"p{q:g}": histogram.get_value_at_percentile(q) / 1000 for q in percentiles}
    figures["max"] = histogram.get_max_value() / 1000
    return figures
