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
from prometheus_client.parser import text_string_to_metric_families


def percentiles_ms(histogram: HdrHistogram, percentiles: Sequence[float]) -> dict[str, float]:
    """``p50``-style figures for ``percentiles`` and ``max``, in ms, of a histogram of
    microseconds."""
    figures = {f"p{q:g}": histogram.get_value_at_percentile(q) / 1000 for q in percentiles}
    figures["max"] = histogram.get_max_value() / 1000
    return figures


def bucket_quantiles(
    text: str, name: str, label: str, quantiles: Sequence[float] = (0.5, 0.99)
) -> dict[str, dict[str, float]]:
    """Quantiles (ms) of the Prometheus histogram ``name`` per value of ``label``, from
    its cumulative buckets in the exposition ``text``, interpolated inside a bucket
    the way PromQL's ``histogram_quantile`` does; with ``count``.

    An estimate, as fine as the buckets: a quantile in the last finite bucket or beyond
    is that bucket's upper bound.

    >>> text = "\\n".join(
    ...     [
    ...         'x_bucket{phase="a",le="0.001"} 50.0',
    ...         'x_bucket{phase="a",le="0.01"} 100.0',
    ...         'x_bucket{phase="a",le="+Inf"} 100.0',
    ...         'x_count{phase="a"} 100.0',
    ...         'x_sum{phase="a"} 0.3',
    ...         "",
    ...     ]
    ... )
    >>> bucket_quantiles(text, "x", "phase")
    {'a': {'p50': 1.0, 'p99': 9.82, 'count': 100.0}}
    """
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket" and label in sample.labels:
                bound = float(sample.labels["le"])
                buckets.setdefault(sample.labels[label], []).append((bound, sample.value))
    figures: dict[str, dict[str, float]] = {}
    for value, counts in buckets.items():
        counts.sort()
        total = counts[-1][1]
        row = {f"p{q * 100:g}": round(_quantile(counts, q * total) * 1000, 3) for q in quantiles}
        figures[value] = {**row, "count": total} if total else {"count": 0.0}
    return figures


def _quantile(counts: list[tuple[float, float]], rank: float) -> float:
    """The value of ``rank`` in cumulative ``(upper bound, count)`` buckets."""
    lower, below = 0.0, 0.0
    finite = [c for c in counts if c[0] != float("inf")]
    for bound, cumulative in finite:
        if cumulative >= rank:
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower
