"""``fraudstream report``: one self-contained HTML page about a run or a time range.

Built from the served records and labels (:mod:`fraudstream.monitoring.report_data`):
fraud and alert rate over event time, latency percentiles and throughput over wall
time, the average precision of the served scores (the champion's, and the shadow
challenger's when records carry ``shadow_score``) over all labelled transactions, by
event day and over consecutive windows of labelled transactions, drift (PSI per feature
against a reference, else of the run's second half against its first), and the goals a
caller checked, if any. Figures are PNGs embedded as base64, so the page is one file to mail or
archive. Useful where Grafana is not running.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final

import jinja2
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fraudstream.evaluation.drift import ACT_PSI, SCORE, WATCH_PSI, Reference, build_reference, psi
from fraudstream.evaluation.measures import average_precision
from fraudstream.monitoring.report_data import ReportData

#: Labelled transactions per prequential window.
PREQUENTIAL_WINDOW: Final = 1_000
#: Points of the time series (buckets over the run).
BUCKETS: Final = 40
_TEMPLATE: Final = Path(__file__).with_name("report.html.j2")


@dataclass(frozen=True)
class Summary:
    """The numbers at the top of the report."""

    scored: int
    alerts: int
    alert_rate: float
    labelled: int
    fraud_rate: float
    alert_precision: float
    alert_recall: float
    #: Average precision of the served scores over every labelled transaction.
    champion_average_precision: float
    challenger_average_precision: float | None
    #: The same, per event-time day (UTC) with both classes labelled.
    daily_average_precision: dict[date, float]
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    throughput: float
    first_event: datetime
    last_event: datetime
    model_versions: list[str]


@dataclass(frozen=True)
class Goal:
    """A target a caller checked against the run (the demo's, for example)."""

    name: str
    target: str
    measured: str
    met: bool


@dataclass
class Report:
    """Everything the page shows."""

    title: str
    source: str
    summary: Summary
    drift: dict[str, float]
    drift_basis: str
    figures: dict[str, str] = field(default_factory=dict)  # title -> PNG base64
    goals: list[Goal] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def build_report(data: ReportData, reference: Reference | None = None, title: str = "") -> Report:
    """Compute the summary, drift and figures of ``data``."""
    scored, joined = data.scored, _joined(data)
    drift, basis = _drift(data, reference)
    report = Report(
        title=title or "fraudstream run report",
        source=data.source,
        summary=_summary(scored, joined),
        drift=drift,
        drift_basis=basis,
    )
    report.figures["Fraud and alert rate over event time"] = _png(_rates_figure(scored, joined))
    if "latency_s" in scored.columns:
        report.figures["Latency percentiles over wall time"] = _png(_latency_figure(scored))
    report.figures["Throughput over wall time"] = _png(_throughput_figure(scored))
    if not joined.empty:
        report.figures["Average precision of the served scores"] = _png(_prequential_figure(joined))
    if drift:
        report.figures["Drift (PSI per column)"] = _png(_drift_figure(drift))
    return report


def render_html(report: Report) -> str:
    """The page, self-contained (inline CSS, figures as data URIs)."""
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(_TEMPLATE.read_text())
    return template.render(report=report, watch=WATCH_PSI, act=ACT_PSI)


def write_report(report: Report, path: Path) -> Path:
    """Write the page (parent folders created); return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report))
    return path


def _joined(data: ReportData) -> pd.DataFrame:
    """Served records that have a label, in event-time order."""
    joined = data.scored.merge(data.labels, on="transaction_id", how="inner")
    return joined.sort_values("event_time", kind="stable").reset_index(drop=True)


def _summary(scored: pd.DataFrame, joined: pd.DataFrame) -> Summary:
    truth = joined["is_fraud"].to_numpy(dtype=bool)
    alerted = joined["alert"].to_numpy(dtype=bool)
    true_alerts = int((truth & alerted).sum())
    wall = (scored["scored_at"].max() - scored["scored_at"].min()).total_seconds()
    shadow = None
    if "shadow_score" in joined.columns and joined["shadow_score"].notna().any():
        rows = joined[joined["shadow_score"].notna()]
        shadow = average_precision(rows["is_fraud"].to_numpy(bool), rows["shadow_score"].to_numpy())
    versions = (
        scored["model_version"].astype(str).unique().tolist() if "model_version" in scored else []
    )
    return Summary(
        scored=len(scored),
        alerts=int(scored["alert"].sum()),
        alert_rate=float(scored["alert"].mean()),
        labelled=len(joined),
        fraud_rate=float(truth.mean()) if truth.size else 0.0,
        alert_precision=true_alerts / int(alerted.sum()) if alerted.any() else 0.0,
        alert_recall=true_alerts / int(truth.sum()) if truth.any() else 0.0,
        champion_average_precision=average_precision(truth, joined["score"].to_numpy())
        if truth.size
        else 0.0,
        challenger_average_precision=shadow,
        daily_average_precision=daily_average_precision(joined),
        latency_p50_ms=latency_ms(scored, 0.5),
        latency_p99_ms=latency_ms(scored, 0.99),
        throughput=len(scored) / wall if wall > 0 else float(len(scored)),
        first_event=scored["event_time"].min().to_pydatetime(),
        last_event=scored["event_time"].max().to_pydatetime(),
        model_versions=versions[:5]
        + ([f"... {len(versions)} in all"] if len(versions) > 5 else []),
    )


def latency_ms(scored: pd.DataFrame, quantile: float) -> float | None:
    """A quantile of ``latency_s`` in milliseconds; None without any latency."""
    if "latency_s" not in scored.columns or scored["latency_s"].dropna().empty:
        return None
    return float(scored["latency_s"].quantile(quantile) * 1000)


def daily_average_precision(joined: pd.DataFrame) -> dict[date, float]:
    """Average precision of ``score`` per event-time day (UTC), for days with a labelled
    fraud and a labelled genuine transaction."""
    days = joined["event_time"].dt.tz_convert("UTC").dt.date
    result: dict[date, float] = {}
    for day, part in joined.groupby(days, sort=True):
        truth = part["is_fraud"].to_numpy(dtype=bool)
        if truth.any() and not truth.all():
            result[day] = average_precision(truth, part["score"].to_numpy())
    return result


def _drift(data: ReportData, reference: Reference | None) -> tuple[dict[str, float], str]:
    """PSI per column against ``reference``, else of the second half against the first."""
    scored = data.scored.sort_values("scored_at", kind="stable")
    columns = [*data.feature_columns, SCORE]
    if reference is not None:
        recent, basis = scored, "against the training reference"
    else:
        half = len(scored) // 2
        reference = build_reference(scored.iloc[:half][columns])
        recent, basis = scored.iloc[half:], "second half of the run against its first half"
    drift: dict[str, float] = {}
    for name, bins in reference.items():
        if name in recent.columns:
            value = psi(bins, recent[name].to_numpy(dtype=np.float64, na_value=np.nan))
            if value is not None:
                drift[name] = value
    return dict(sorted(drift.items(), key=lambda kv: -kv[1])), basis


def _png(figure: Figure) -> str:
    """The figure as base64 PNG (Figure objects need no pyplot state nor display)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    axes.grid(alpha=0.3)
    return figure, axes


def _buckets(times: pd.Series) -> pd.Series:
    """Each row's bucket start, ``BUCKETS`` equal buckets over the span of ``times``."""
    span = (times.max() - times.min()) / BUCKETS
    if span <= pd.Timedelta(0):
        return times
    slot = ((times - times.min()) // span).clip(upper=BUCKETS - 1)
    buckets: pd.Series = times.min() + slot * span
    return buckets


def _rates_figure(scored: pd.DataFrame, joined: pd.DataFrame) -> Figure:
    figure, axes = _figure()
    alerts = scored.groupby(_buckets(scored["event_time"]))["alert"].mean()
    axes.plot(alerts.index, alerts.to_numpy() * 100, label="alert rate")
    if not joined.empty:
        frauds = joined.groupby(_buckets(joined["event_time"]))["is_fraud"].mean()
        axes.plot(frauds.index, frauds.to_numpy() * 100, label="fraud rate (labelled)")
    axes.set_ylabel("% of transactions")
    axes.legend()
    figure.autofmt_xdate()
    return figure


def _latency_figure(scored: pd.DataFrame) -> Figure:
    figure, axes = _figure()
    grouped = scored.groupby(_buckets(scored["scored_at"]))["latency_s"]
    for q in (0.5, 0.95, 0.99):
        series = grouped.quantile(q) * 1000
        axes.plot(series.index, series.to_numpy(), label=f"p{round(q * 100)}")
    axes.axhline(25, color="red", linestyle="--", linewidth=1, label="objective (25 ms)")
    axes.set_ylabel("ms, Kafka timestamp to scoring")
    axes.set_yscale("log")
    axes.legend()
    figure.autofmt_xdate()
    return figure


def _throughput_figure(scored: pd.DataFrame) -> Figure:
    figure, axes = _figure()
    per_second = scored.set_index("scored_at").resample("1s").size()
    smooth = per_second.rolling(5, min_periods=1).mean()
    axes.plot(smooth.index, smooth.to_numpy(), label="scored / s (5 s mean)")
    axes.set_ylabel("transactions / s")
    axes.legend()
    figure.autofmt_xdate()
    return figure


def _prequential_figure(joined: pd.DataFrame) -> Figure:
    figure, axes = _figure()
    window = max(min(PREQUENTIAL_WINDOW, len(joined) // 5), 50)
    columns = {"champion": "score"}
    if "shadow_score" in joined.columns and joined["shadow_score"].notna().any():
        columns["shadow challenger"] = "shadow_score"
    for label, column in columns.items():
        points: list[tuple[pd.Timestamp, float]] = []
        for start in range(0, len(joined) - window + 1, window):
            part = joined.iloc[start : start + window].dropna(subset=[column])
            truth = part["is_fraud"].to_numpy(dtype=bool)
            if truth.any():
                ap = average_precision(truth, part[column].to_numpy())
                points.append((part["event_time"].iloc[-1], ap))
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", label=label)
    axes.set_ylabel(f"average precision per {window} labels")
    axes.set_ylim(0, 1)
    axes.legend()
    figure.autofmt_xdate()
    return figure


def _drift_figure(drift: dict[str, float]) -> Figure:
    names = list(drift)[:20]
    figure = Figure(figsize=(8, max(2.0, 0.3 * len(names) + 1)))
    axes = figure.subplots()
    values = [drift[n] for n in names]
    colours = [
        "tab:red" if v > ACT_PSI else "tab:orange" if v > WATCH_PSI else "tab:green" for v in values
    ]
    axes.barh(names[::-1], values[::-1], color=colours[::-1])
    axes.axvline(WATCH_PSI, color="orange", linestyle="--", linewidth=1)
    axes.axvline(ACT_PSI, color="red", linestyle="--", linewidth=1)
    axes.set_xlabel("PSI")
    return figure
