"""Grafana dashboard panels drawn with matplotlib from Prometheus range queries.

For docs/monitoring.md (figures of a real run's panels) and anywhere Grafana is not
running: each panel becomes one PNG with one line per returned series, named by the
target's ``legendFormat``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

#: ``(expr, start, end, step_s) -> result matrix`` (Prometheus' /api/v1/query_range).
RangeQuery = Callable[[str, float, float, float], list[dict[str, Any]]]

_SCALES = {"percentunit": (100.0, "%"), "s": (1000.0, "ms"), "reqps": (1.0, "per second")}


def legend(template: str, labels: dict[str, str]) -> str:
    """Fill ``{{label}}`` placeholders like Grafana does.

    >>> legend("{{job}} {{instance}}", {"job": "scorer", "instance": "h:8001"})
    'scorer h:8001'
    """
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def slug(title: str) -> str:
    """A file name for a panel title.

    >>> slug("End-to-end latency (p99)")
    'end-to-end-latency-p99'
    """
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render_panel(
    panel: dict[str, Any], query: RangeQuery, start: float, end: float, step_s: float
) -> Figure:
    """One panel over ``[start, end]`` as a figure."""
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    scale, label = _SCALES.get(unit, (1.0, ""))
    figure = Figure(figsize=(6.4, 3.0))
    axes = figure.subplots()
    if panel.get("type") == "bargauge":
        return _bars(figure, panel, query, start, end, step_s)
    for target in panel["targets"]:
        for series in query(target["expr"], start, end, step_s):
            points = [(float(t), float(v)) for t, v in series["values"]]
            if not points:
                continue
            times = np.array([round(t * 1000) for t, _ in points], dtype="datetime64[ms]")
            values = [v * scale for _, v in points]
            name = legend(target.get("legendFormat", ""), series["metric"]) or target["expr"]
            axes.plot(times, values, label=name[:40])
    axes.set_title(panel["title"], fontsize=10)
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    if axes.get_lines():
        axes.legend(fontsize=7, loc="best")
    figure.autofmt_xdate()
    return figure


def render_dashboard(
    board: dict[str, Any],
    query: RangeQuery,
    start: float,
    end: float,
    folder: Path,
    *,
    step_s: float = 2.0,
) -> list[Path]:
    """Every panel of ``board`` as ``<folder>/<dashboard uid>--<panel>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for panel in board["panels"]:
        path = folder / f"{board['uid']}--{slug(panel['title'])}.png"
        render_panel(panel, query, start, end, step_s).savefig(path, dpi=80, bbox_inches="tight")
        written.append(path)
    return written


def _bars(
    figure: Figure,
    panel: dict[str, Any],
    query: RangeQuery,
    start: float,
    end: float,
    step_s: float,
) -> Figure:
    """A bar gauge: the last value of each series."""
    axes = figure.axes[0]
    names: list[str] = []
    values: list[float] = []
    for target in panel["targets"]:
        for series in query(target["expr"], start, end, step_s):
            if series["values"]:
                names.append(legend(target.get("legendFormat", ""), series["metric"]))
                values.append(float(series["values"][-1][1]))
    axes.barh(names, values)
    axes.set_title(panel["title"], fontsize=10)
    axes.tick_params(axis="y", labelsize=7)
    return figure
