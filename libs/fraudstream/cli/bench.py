"""``fraudstream bench``: benchmarks that print figures and ratios to a same-run baseline."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from fraudstream.bench.features import bench_features
from fraudstream.bench.learner import bench_learner, learner_records
from fraudstream.bench.rebalance import STOPS, RebalanceResult, Stop, bench_rebalance
from fraudstream.bench.replay import bench_replay
from fraudstream.bench.score import (
    Goal,
    ScoreBenchResult,
    bench_score,
    median_result,
    score_goals,
)
from fraudstream.config import Settings
from fraudstream.datasets.canonical import load_canonical
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.served import served_features
from fraudstream.learning.models import DEFAULT_MODEL, MODEL_CHOICES
from fraudstream.learning.prequential import run_prequential
from fraudstream.redis_client import build_redis, build_redis_cluster
from fraudstream.scoring.metrics import STEP_PHASES
from fraudstream.streaming.loop import PHASES

if TYPE_CHECKING:
    from fraudstream.bench.quality import Figure, QualityResult

bench_app = typer.Typer(
    help="Benchmarks against a baseline measured in the same run.", no_args_is_help=True
)


@bench_app.command("replay")
def replay_command(
    rows: Annotated[int, typer.Option(min=1000, help="ULB-shaped records per run.")] = 200_000,
    repeats: Annotated[int, typer.Option(min=1, help="Rounds of replay + bare loop.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay --max against a bare kafka-python producer loop over pre-encoded bytes."""
    settings = Settings.load()
    result = bench_replay(settings, rows=rows, repeats=repeats)
    figures = {
        "benchmark": "replay",
        **machine(),
        "kafka": settings.kafka.bootstrap_servers,
        "rows": result.rows,
        "record_bytes": round(result.record_bytes, 1),
        "replay_tx_per_s": [round(r) for r in result.replay_rates],
        "bare_tx_per_s": [round(r) for r in result.bare_rates],
        "replay_median": round(result.replay),
        "bare_median": round(result.bare),
        "bare_same_gc_tx_per_s": [round(r) for r in result.bare_tuned_rates],
        "bare_same_gc_median": round(result.bare_tuned),
        "ratio": round(result.ratio, 3),
        "ratio_same_gc": round(result.ratio_tuned, 3),
    }
    if as_json:
        typer.echo(json.dumps(figures))
        return
    table = Table(title=f"replay --max vs bare producer loop ({rows:,} ULB-shaped records)")
    table.add_column("")
    table.add_column("median tx/s", justify="right")
    table.add_column("runs", justify="right")
    table.add_row(
        "fraudstream replay --max",
        f"{result.replay:,.0f}",
        ", ".join(f"{r:,.0f}" for r in result.replay_rates),
    )
    table.add_row(
        "bare kafka-python loop",
        f"{result.bare:,.0f}",
        ", ".join(f"{r:,.0f}" for r in result.bare_rates),
    )
    table.add_row(
        "bare loop, replay's GC setting",
        f"{result.bare_tuned:,.0f}",
        ", ".join(f"{r:,.0f}" for r in result.bare_tuned_rates),
    )
    console = Console()
    console.print(table)
    console.print(
        f"ratio replay / bare loop: [bold]{result.ratio:.3f}[/] (goal >= 0.8)\n"
        f"ratio replay / bare loop with the replay's GC setting: {result.ratio_tuned:.3f}\n"
        f"replay median: {result.replay:,.0f} tx/s (goal >= 50,000)   "
        f"record size: {result.record_bytes:.0f} bytes",
        highlight=False,
    )


@bench_app.command("features")
def features_command(
    dataset: Annotated[
        Path | None,
        typer.Option(help="Canonical Parquet (default: 30 simulated days, generated now)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Transactions per Redis call.")] = 500,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of store and baseline.")] = 3,
    cluster_nodes: Annotated[
        str | None,
        typer.Option(
            help="A Redis Cluster's host:port seeds, run beside REDIS_URL "
            "(default: REDIS_CLUSTER_NODES; empty: one node only)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The Redis feature store over the simulated data, against a bare pipeline; a
    backfill of the same transactions, against the store; and, given a Redis Cluster,
    the cluster store beside the single node."""
    settings = Settings.load()
    seeds = (settings.redis.cluster_nodes if cluster_nodes is None else cluster_nodes).strip()
    single = settings.redis.model_copy(update={"cluster_nodes": ""})
    frame = simulate(SimulatorConfig(days=30)) if dataset is None else load_canonical(dataset).frame
    client = build_redis(single)
    cluster = (
        build_redis_cluster(single.model_copy(update={"cluster_nodes": seeds})) if seeds else None
    )
    try:
        result = bench_features(
            client, frame, batch_size=batch_size, repeats=repeats, cluster=cluster
        )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    figures = {
        "benchmark": "features",
        **machine(),
        "redis": single.url,
        "redis_cluster": seeds or None,
        "transactions": result.transactions,
        "batch_size": result.batch_size,
        "store_tx_per_s": [round(r) for r in result.store_rates],
        "bare_pipeline_tx_per_s": [round(r) for r in result.bare_rates],
        "store_median": round(result.store_rate),
        "bare_median": round(result.bare_rate),
        "ratio": round(result.ratio, 3),
        "backfill_tx_per_s": [round(r) for r in result.backfill_rates],
        "backfill_median": round(result.backfill_rate),
        "backfill_ratio": round(result.backfill_ratio, 3),
        "cluster_tx_per_s": [round(r) for r in result.cluster_rates],
        "cluster_median": None if result.cluster_rate is None else round(result.cluster_rate),
        "cluster_ratio": None if result.cluster_ratio is None else round(result.cluster_ratio, 3),
        "store_cpu_us_per_tx": _rounded(result.store_cpu),
        "cluster_cpu_us_per_tx": None
        if result.cluster_cpu is None
        else _rounded(result.cluster_cpu),
        "batch_p50_ms": round(result.batch_p50_ms, 2),
        "batch_p99_ms": round(result.batch_p99_ms, 2),
        "active_cards": result.active_cards,
        "bytes_per_card": round(result.bytes_per_card),
        "bytes_per_merchant": round(result.bytes_per_merchant),
    }
    if as_json:
        typer.echo(json.dumps(figures))
        return
    table = Table(
        title=f"feature store, {result.transactions:,} transactions, batches of {batch_size}"
    )
    table.add_column("")
    table.add_column("median tx/s", justify="right")
    table.add_column("runs", justify="right")
    table.add_row(
        "RedisFeatureStore (all features)", f"{result.store_rate:,.0f}", _runs(result.store_rates)
    )
    table.add_row(
        "bare pipeline (3 commands/tx)", f"{result.bare_rate:,.0f}", _runs(result.bare_rates)
    )
    table.add_row(
        "backfill (bulk, labels included)",
        f"{result.backfill_rate:,.0f}",
        _runs(result.backfill_rates),
    )
    if result.cluster_rate is not None:
        table.add_row(
            "RedisClusterFeatureStore (all features)",
            f"{result.cluster_rate:,.0f}",
            _runs(result.cluster_rates),
        )
    console = Console()
    console.print(table)
    client_us, server_us = result.store_cpu
    cpu_line = (
        f"CPU µs a transaction, this process / Redis: single node {client_us:.0f} / {server_us:.0f}"
    )
    cluster_line = ""
    if result.cluster_ratio is not None and result.cluster_cpu is not None:
        cpu_line += (
            f", cluster {result.cluster_cpu[0]:.0f} / {result.cluster_cpu[1]:.0f} (all masters)"
        )
        cluster_line = f"ratio cluster / single node: {result.cluster_ratio:.3f} ({seeds})\n"
    console.print(
        f"ratio store / bare pipeline: {result.ratio:.3f}\n"
        f"ratio backfill / live store: {result.backfill_ratio:.2f} (goal >= 3)\n"
        f"{cluster_line}{cpu_line}\n"
        f"per batch: p50 {result.batch_p50_ms:.1f} ms, p99 {result.batch_p99_ms:.1f} ms\n"
        f"Redis memory: {result.bytes_per_card:,.0f} bytes per active card, "
        f"{result.bytes_per_merchant:,.0f} per merchant ({result.active_cards:,} cards)\n"
        f"goal: >= 30,000 tx/s from one client",
        highlight=False,
    )


@bench_app.command("learner")
def learner_command(
    days: Annotated[int, typer.Option(min=2, help="Simulated days of transactions.")] = 30,
    label_delay_days: Annotated[int, typer.Option(min=0, help="Label delay in days.")] = 7,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per learner call.")] = 500,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of learner and baseline.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One learner over every scored transaction and label of simulated days, against
    decoding the same records."""
    settings = Settings.load()
    single = settings.redis.model_copy(update={"cluster_nodes": ""})
    with Console(stderr=True).status("simulating and computing the served features..."):
        frame = simulate(SimulatorConfig(days=days))
        records = learner_records(frame, timedelta(days=label_delay_days))
    client = build_redis(single)
    try:
        result = bench_learner(client, records, batch_size=batch_size, repeats=repeats)
    finally:
        client.close()
    figures = {
        "benchmark": "learner",
        **machine(),
        "records": result.records,
        "labels": result.labels,
        "batch_size": result.batch_size,
        "learner_records_per_s": [round(r) for r in result.learner_rates],
        "learner_cpu_us_per_record": [round(c, 1) for c in result.learner_cpu_us],
        "decode_records_per_s": [round(r) for r in result.decode_rates],
        "learner_median": round(result.learner_rate),
        "decode_median": round(result.decode_rate),
        "ratio": round(result.ratio, 4),
        "transactions_per_s": round(result.transactions_rate),
        "cpu_us_per_transaction": round(result.cpu_us_per_transaction, 1),
    }
    if as_json:
        typer.echo(json.dumps(figures))
        return
    table = Table(
        title=f"learner, {result.records:,} records ({result.labels:,} labels), "
        f"batches of {batch_size}"
    )
    table.add_column("")
    table.add_column("median records/s", justify="right")
    table.add_column("runs", justify="right")
    table.add_row(
        "Learner (join, learn, report frauds)",
        f"{result.learner_rate:,.0f}",
        _runs(result.learner_rates),
    )
    table.add_row("decoding only", f"{result.decode_rate:,.0f}", _runs(result.decode_rates))
    console = Console()
    console.print(table)
    console.print(
        f"ratio learner / decoding: {result.ratio:.4f}\n"
        f"one learner keeps up with {result.transactions_rate:,.0f} tx/s "
        f"(a scored record and a label each), "
        f"{result.cpu_us_per_transaction:.0f} CPU µs a transaction",
        highlight=False,
    )


def _rounded(pair: tuple[float, float]) -> dict[str, float]:
    return {"client": round(pair[0], 1), "server": round(pair[1], 1)}


def _runs(rates: list[float]) -> str:
    return ", ".join(f"{r:,.0f}" for r in rates)


def machine() -> dict[str, str]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }


@bench_app.command("score")
def score_command(
    rss_transactions: Annotated[
        int, typer.Option(min=0, help="Transactions for the memory run (0 skips it).")
    ] = 1_000_000,
    runs: Annotated[
        int, typer.Option(min=1, help="Runs; the figures and goals are their medians.")
    ] = 3,
    out: Annotated[
        Path | None, typer.Option(help="JSON report (default: .local/bench/score-<time>.json).")
    ] = None,
) -> None:
    """The scorer against a pass-through consumer; latency at 2,000 tx/s; RSS over 1M.

    The goals compare the scorer with floors measured in the same runs: the
    pass-through consumer, at-least-once delivery and one bare Kafka hop.
    """
    settings = Settings.load()
    console = Console()
    results: list[ScoreBenchResult] = []
    for index in range(runs):
        with console.status(f"run {index + 1} of {runs} (several minutes each)..."):
            last = index == runs - 1  # the memory run once, in the last run
            results.append(bench_score(settings, rss_transactions=rss_transactions * last))
    result = median_result(results)
    goals = score_goals(result)
    figures: dict[str, object] = {
        "benchmark": "score",
        **machine(),
        "runs": [_score_figures(r) for r in results],
        "median": _score_figures(result),
        "goals": [
            {"goal": g.name, "value": round(g.value, 3), "limit": round(g.limit, 3), "met": g.met}
            for g in goals
        ],
    }
    target = out or Path(".local/bench") / f"score-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2) + "\n")
    median = f"medians of {runs} runs" if runs > 1 else "one run"
    console.print(
        _score_table(result, f"scorer, {result.transactions:,} simulated transactions, {median}")
    )
    console.print(_phase_table(result))
    console.print(_goal_table(goals, median))
    console.print(f"report: {target}")


@bench_app.command("rebalance")
def rebalance_command(
    runs: Annotated[int, typer.Option(min=1, help="Restarts of each kind; medians shown.")] = 3,
    rate: Annotated[float, typer.Option(min=1, help="Transactions a second fed.")] = 300.0,
    session_timeout: Annotated[
        float, typer.Option(min=1, help="SCORER_SESSION_TIMEOUT of the replicas, in seconds.")
    ] = 10.0,
    stop: Annotated[
        list[str] | None,
        typer.Option(help="How the scorer is stopped: sigterm, kill (repeatable; default both)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="JSON report (default: .local/bench/rebalance-<time>.json)."),
    ] = None,
) -> None:
    """One scorer of two restarted (SIGTERM, then kill -9), with and without static
    group membership: how long partitions go without a commit, and until both
    replicas are at work again."""
    stops = _stops(stop or list(STOPS))
    settings = Settings.load()
    console = Console()
    with console.status(f"{runs * 2 * len(stops)} restarts, ~30 s each..."):
        result = bench_rebalance(
            settings,
            runs=runs,
            stops=stops,
            rate=rate,
            session_timeout=timedelta(seconds=session_timeout),
        )
    figures = {
        "benchmark": "rebalance",
        **machine(),
        "session_timeout_s": session_timeout,
        "runs": [vars(r) for r in result.runs],
    }
    target = out or Path(".local/bench") / f"rebalance-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2) + "\n")
    console.print(_rebalance_table(result, stops, runs, session_timeout))
    console.print(f"report: {target}")


def _stops(names: list[str]) -> list[Stop]:
    """The stops asked for, checked (a usage error names the unknown one)."""
    unknown = [name for name in names if name not in STOPS]
    if unknown:
        raise typer.BadParameter(
            f"{unknown[0]!r}: not one of {', '.join(STOPS)}", param_hint="--stop"
        )
    return [stop for stop in STOPS if stop in names]


def _rebalance_table(
    result: RebalanceResult, stops: list[Stop], runs: int, session_timeout: float
) -> Table:
    title = f"one scorer of two restarted, session timeout {session_timeout:g} s"
    table = Table(title=f"{title}, medians of {runs} runs")
    for column in ("stop", "membership", "partitions stalled (s)", "both at work (s)"):
        table.add_column(column)
    for stop in stops:
        for static in (False, True):
            stalled, back = result.median(static, stop)
            table.add_row(stop, "static" if static else "dynamic", f"{stalled:.1f}", f"{back:.1f}")
    return table


def _score_figures(result: ScoreBenchResult) -> dict[str, object]:
    """One run's figures (or their medians) for the JSON report."""
    return {
        "transactions": result.transactions,
        "scorer_tx_per_s": round(result.scorer.rate),
        "passthrough_tx_per_s": round(result.passthrough.rate),
        "ratio": round(result.ratio, 3),
        "cpu_us_per_transaction": {
            "scorer": {k: round(v, 1) for k, v in result.scorer.cpu_us.items()},
            "passthrough": {k: round(v, 1) for k, v in result.passthrough.cpu_us.items()},
        },
        "latency_offered_tx_per_s": round(result.latency_rate),
        "latency_ms": _per_run(result.latency_ms),
        "kafka_hop_ms": _per_run(result.hop_ms),
        "kafka_hop_alone_ms": {k: round(v, 2) for k, v in result.hop_alone_ms.items()},
        "phases_ms": {
            f"{service} {delivery}": phases
            for (service, delivery), phases in result.phases_ms.items()
        },
        "rss_mb": [(done, round(mb, 1)) for done, mb in result.rss_mb],
        "rss_growth": round(result.rss_growth, 3),
    }


def _score_table(result: ScoreBenchResult, title: str) -> Table:
    """Rates, CPU, latencies and memory."""
    table = Table(title=title)
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")
    table.add_row(
        "scorer (all features, default model)", f"{result.scorer.rate:,.0f} tx/s", ">= 10,000"
    )
    table.add_row(
        "pass-through (decode, produce, commit)", f"{result.passthrough.rate:,.0f} tx/s", ""
    )
    table.add_row("ratio scorer / pass-through", f"{result.ratio:.3f}", ">= 0.5")
    for name, run in (("scorer", result.scorer), ("pass-through", result.passthrough)):
        table.add_row(
            f"CPU per transaction, {name}: " + " / ".join(run.cpu_us),
            " / ".join(f"{v:.0f}" for v in run.cpu_us.values()) + " µs",
            "",
        )
    alone = result.hop_alone_ms
    table.add_row(
        f"the hop alone at {result.latency_rate:,.0f} tx/s offered, no service running "
        "(replay -> Kafka -> a consumer): p50 / p99 / max",
        " / ".join(f"{alone.get(k, 0.0):.1f}" for k in ("p50", "p99", "max")) + " ms",
        "",
    )
    for (service, delivery), figures_ms in result.latency_ms.items():
        name = "pass-through" if service == "passthrough" else service
        hop = result.hop_ms.get((service, delivery), {})
        table.add_row(
            f"latency at {result.latency_rate:,.0f} tx/s offered, {name} {delivery}: "
            "p50 / p99 / max (the input's own hop to a consumer: p50 / p99)",
            " / ".join(f"{figures_ms.get(k, 0.0):.1f}" for k in ("p50", "p99", "max"))
            + f" ms ({hop.get('p50', 0.0):.1f} / {hop.get('p99', 0.0):.1f})",
            "",
        )
    if result.rss_mb:
        table.add_row(
            f"RSS over {result.rss_mb[-1][0]:,} transactions: after 10% -> end",
            f"x{result.rss_growth:.3f} ({result.rss_mb[-1][1]:.0f} MiB at the end)",
            "<= x1.10",
        )
    return table


def _goal_table(goals: list[Goal], median: str) -> Table:
    """Each goal against its floor from the same runs: met or not."""
    table = Table(title=f"goals against floors measured in the same runs ({median})")
    for column in ("goal", "measured", "limit", ""):
        table.add_column(column, justify="left" if column == "goal" else "right")
    for goal in goals:
        unit = f" {goal.unit}" if goal.unit else ""
        places = 1 if goal.unit == "ms" else 3
        table.add_row(
            goal.name,
            f"{goal.value:.{places}f}{unit}",
            f"{goal.limit:.{places}f}{unit}",
            "met" if goal.met else "NOT MET",
        )
    return table


def _phase_table(result: ScoreBenchResult) -> Table:
    """p50 / p99 of each phase of a batch, per latency run (estimated from buckets)."""
    runs = list(result.phases_ms)
    table = Table(
        title="where a batch's time goes during the latency runs: p50 / p99 ms "
        "(from the services' histograms)"
    )
    table.add_column("phase")
    for service, delivery in runs:
        name = "pass-through" if service == "passthrough" else service
        table.add_column(f"{name} {delivery}", justify="right")
    phases = [*PHASES, *(f"step.{phase}" for phase in STEP_PHASES)]
    for phase in phases:
        cells = [result.phases_ms[run].get(phase, {}) for run in runs]
        if not any(cell.get("count") for cell in cells):
            continue
        table.add_row(
            phase,
            *(
                f"{cell['p50']:.2f} / {cell['p99']:.2f}" if cell.get("count") else "-"
                for cell in cells
            ),
        )
    return table


def _per_run(figures: dict[tuple[str, str], dict[str, float]]) -> dict[str, dict[str, float]]:
    """Latency figures keyed ``"<service> <delivery>"``, rounded, for the JSON report."""
    return {
        f"{service} {delivery}": {k: round(v, 2) for k, v in run.items()}
        for (service, delivery), run in figures.items()
    }


@bench_app.command("learn")
def learn_command(
    days: Annotated[int, typer.Option(min=14, help="Simulated days.")] = 60,
    evaluate_from_day: Annotated[
        int, typer.Option(min=1, help="First evaluated day (0-based).")
    ] = 30,
    label_delay_days: Annotated[int, typer.Option(min=0, help="Label delay, days.")] = 7,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    model: Annotated[
        list[str] | None,
        typer.Option(help="Only these models (repeat the option; default: all)."),
    ] = None,
) -> None:
    """Prequential quality of the online models on simulated data with delayed labels."""
    unknown = sorted(set(model or []) - set(MODEL_CHOICES))
    if unknown:
        raise typer.BadParameter(f"unknown models {unknown}; choose from {sorted(MODEL_CHOICES)}")
    delay = timedelta(days=label_delay_days)
    console = Console()
    with console.status("simulating and computing the served features..."):
        frame = simulate(SimulatorConfig(days=days, seed=seed))
        features = served_features(frame, delay)
    table = Table(
        title=f"prequential quality, days {evaluate_from_day + 1}-{days}, "
        f"labels {label_delay_days} days late ({len(frame):,} transactions)"
    )
    for column in (
        "model",
        "average precision",
        "mean daily AP",
        "ROC AUC",
        "Card Precision@100",
        "seconds",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    chosen = [MODEL_CHOICES[name] for name in model] if model else list(MODEL_CHOICES.values())
    for choice in [None, *chosen]:
        started = time.perf_counter()
        result = run_prequential(
            frame, features, choice, label_delay=delay, evaluate_from_day=evaluate_from_day
        )
        name = result.name + (" (default)" if result.name == DEFAULT_MODEL else "")
        table.add_row(
            name,
            f"{result.average_precision:.3f}",
            f"{result.mean_daily_average_precision:.3f}",
            f"{result.roc_auc:.3f}",
            f"{result.card_precision_at_100:.3f}",
            f"{time.perf_counter() - started:.1f}",
        )
    console.print(table)


@bench_app.command("train")
def train_command(
    days: Annotated[int, typer.Option(min=30, help="Simulated days (183: six months).")] = 183,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    cache: Annotated[
        Path, typer.Option(help="Folder caching the served features between runs.")
    ] = Path(".local/bench"),
) -> None:
    """Validate and train (XGBoost search, comparison models) on simulated months."""
    from fraudstream.bench.train import bench_train

    settings = Settings.load()
    console = Console()
    with console.status("simulating, computing features (cached), validating, training..."):
        bench = bench_train(settings, days=days, seed=seed, cache=cache)
    result = bench.result
    table = Table(title=f"train on {days} simulated days ({bench.rows:,} transactions)")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("frauds", f"{bench.frauds:,}")
    table.add_row("prepare (simulate, served features)", f"{bench.prepare_seconds:.1f} s")
    table.add_row("validate", f"{bench.validate_seconds:.1f} s")
    table.add_row(
        f"train ({settings.training.search_trials} trials x {settings.training.folds} folds, "
        "LR, RF, final fit)",
        f"{bench.train_seconds:.1f} s",
    )
    table.add_row("validate + train (goal < 180 s)", f"[bold]{bench.total_seconds:.1f} s[/]")
    console.print(table)
    scores = Table(title="time-ordered CV, mean over folds")
    scores.add_column("model")
    for name in ("AP", "ROC AUC", "CP@100", "recall@thr", "precision@thr"):
        scores.add_column(name, justify="right")
    for model, measures in result.models.items():
        scores.add_row(model, *(f"{v:.3f}" for v in measures.values()))
    console.print(scores)
    console.print(f"best XGBoost setting: {result.best.params}", highlight=False)


@bench_app.command("quality")
def quality_command(
    dataset: Annotated[
        Path | None,
        typer.Option(help="A canonical dataset file with card ids (default: the simulator)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Simulator seed (the first, with --repeat-seeds).")] = 7,
    repeat_seeds: Annotated[
        int, typer.Option(min=1, help="Run seeds seed..seed+N-1; report their mean.")
    ] = 1,
    days: Annotated[int, typer.Option(min=1, help="Simulated days from 2018-04-01.")] = 183,
    train_start: Annotated[
        str | None,
        typer.Option(
            help="First training day, UTC (default: 2018-07-25 on the simulator, "
            "else the last days of the dataset)."
        ),
    ] = None,
    train: Annotated[
        str, typer.Option(help="Training window (the delay is TRAIN_LABEL_DELAY).")
    ] = "7d",
    test: Annotated[str, typer.Option(help="Test window.")] = "7d",
    compromised_from: Annotated[
        str,
        typer.Option(
            help="Frauds that make a card known compromised count from 'train-start' "
            "(the handbook) or 'data-start'."
        ),
    ] = "train-start",
    resamples: Annotated[int, typer.Option(min=1, help="Bootstrap draws of test days.")] = 1000,
    workers: Annotated[int, typer.Option(min=1, help="Processes (1: all in this one).")] = 2,
    feedback: Annotated[
        int,
        typer.Option(
            min=0,
            help="Investigators check the K highest-scored cards each day and answer "
            "within the hour: adds the online learner with their feedback (0: none).",
        ),
    ] = 0,
    feedback_history: Annotated[
        str | None,
        typer.Option(
            help="How far back from the day's end a checked card's transactions get a "
            "verdict (1d: that day's). Default: the label delay, every label the card "
            "still waits for."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="JSON report.")] = Path(".local/bench/quality.json"),
) -> None:
    """Models side by side under the handbook's protocol: AP, ROC AUC, CP@100 with 95% CIs.

    Cold start; the batch challenger on the training window and on TRAIN_WINDOW;
    the online learner as deployed and with a snapshot after every label; with
    --feedback, the deployed learner taking investigators' labels too; online +
    batch. The delay period is TRAIN_LABEL_DELAY. Settings: TRAIN_*, LEARNER_MODEL,
    LEARNER_SNAPSHOT_EVERY_LABELS, LEARNER_FEEDBACK, LEARNER_FEEDBACK_WEIGHT,
    SCORER_THRESHOLD.
    """
    from fraudstream.bench.quality import QualityConfig, as_json, bench_quality
    from fraudstream.durations import parse_duration
    from fraudstream.evaluation.protocol import HANDBOOK_START

    try:
        train_length, test_length = parse_duration(train), parse_duration(test)
        history = None if feedback_history is None else parse_duration(feedback_history)
        first_day = None if train_start is None else pd.Timestamp(train_start)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    config = QualityConfig(
        seed=seed,
        repeat_seeds=repeat_seeds,
        dataset=dataset,
        simulator=SimulatorConfig(days=days, start=HANDBOOK_START.to_pydatetime()),
        train_start=first_day,
        compromised_from=compromised_from,
        resamples=resamples,
        workers=workers,
        train=train_length,
        test=test_length,
        feedback=feedback,
        feedback_history=history,
    )
    settings = Settings.load()
    console = Console()
    with console.status("preparing...") as status:
        result = bench_quality(settings, config, progress=status.update)
    figures = {**as_json(result), **machine()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print_quality(console, result)
    console.print(f"report: {out}")


def print_quality(console: Console, result: QualityResult) -> None:
    """The table of models and the goals."""
    from fraudstream.bench.quality import COMBINED_PARTS, ONLINE, ONLINE_EVERY, goals
    from fraudstream.durations import format_duration

    config, windows = result.config, result.windows
    seeds = ", ".join(str(s) for s in config.seeds)
    table = Table(
        title=f"train {_when(windows.train_start)}..{_when(windows.train_end)}, "
        f"test {_when(windows.test_start)}..{_when(windows.test_end)} "
        f"(labels {format_duration(result.plan.label_delay)} late); seeds {seeds}; "
        f"mean [95% CI, {config.resamples:,} resamples of test days]"
    )
    table.add_column("model")
    for column in ("AP", "ROC AUC", f"CP@{config.k}", "seconds"):
        table.add_column(column, justify="right")
    for model in result.models:
        cp = model.card_precision
        table.add_row(
            model.label + (f" ({result.combiner})" if model.key in COMBINED_PARTS else ""),
            _with_interval(model.average_precision),
            _with_interval(model.roc_auc),
            "n/a (no card ids)" if cp.value is None else _with_interval(cp),
            f"{model.seconds:.0f}",
        )
    console.print(table)
    rows = ", ".join(f"{result.test_rows[s]:,}" for s in config.seeds)
    excluded = ", ".join(f"{result.excluded[s]:,}" for s in config.seeds)
    deployed = result.model(ONLINE).average_precision.value or 0.0
    each = result.model(ONLINE_EVERY).average_precision.value or 0.0
    console.print(
        f"test set: {rows} transactions, leaving out {excluded} of cards known compromised "
        f"(frauds since the {_SINCE[config.compromised_from]}); inputs (simulate, "
        f"served features): {result.prepare_seconds:.0f} s per seed; online + batch: the "
        f"seconds of both parts.\nsnapshot cadence: AP {deployed:.3f} with a snapshot every "
        f"{result.plan.every:,} labels, {each:.3f} with one after every label: the cadence "
        f"costs {each - deployed:+.3f} AP",
        highlight=False,
    )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    if result.found:
        console.print(_found_table(result))
    goal_table = Table(title="goals (mean over the seeds)")
    for column in ("goal", "figure", ""):
        goal_table.add_column(column)
    for goal in goals(result):
        verdict = "n/a" if goal.met is None else "met" if goal.met else "[bold red]not met[/]"
        goal_table.add_row(goal.name, goal.figure, verdict)
    console.print(goal_table)
    console.print(f"wall time {result.wall_seconds:.0f} s", highlight=False)


#: The simulator's fraud scenarios (fraudstream.datasets.simulator).
_SCENARIOS = {1: "amount > 220", 2: "compromised terminal", 3: "compromised card"}


def _found_table(result: QualityResult) -> Table:
    """Each model's hits of CP@k by the simulator's fraud scenario, and the ceiling."""
    k, best = result.config.k, result.best_card_precision
    ceiling = "" if best is None else f"; the best possible CP@{k} here is {best:.3f}"
    table = Table(
        title=f"frauded cards among each day's {k} highest-scored, of all frauded cards, "
        f"by simulator scenario (days and seeds summed){ceiling}"
    )
    table.add_column("model")
    scenarios = sorted({s for by in result.found.values() for s in by})
    for scenario in scenarios:
        table.add_column(f"{scenario}: {_SCENARIOS.get(scenario, '?')}", justify="right")
    for model in result.models:
        by = result.found.get(model.key, {})
        table.add_row(
            model.label, *(f"{by.get(s, (0, 0))[0]} / {by.get(s, (0, 0))[1]}" for s in scenarios)
        )
    return table


def _when(stamp: pd.Timestamp) -> str:
    return f"{stamp:%Y-%m-%d}" if stamp == stamp.floor("D") else f"{stamp:%Y-%m-%d %H:%M}"


_SINCE = {"train-start": "training window's start", "data-start": "data's first day"}


def _with_interval(figure: Figure) -> str:
    if figure.value is None:
        return "n/a"
    return f"{figure.value:.3f} [{figure.low:.3f}, {figure.high:.3f}]"


@bench_app.command("api")
def api_command(
    rate: Annotated[float, typer.Option(min=1, help="Reference rate, requests/s.")] = 500.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds at the reference rate.")] = 20.0,
    step_duration: Annotated[float, typer.Option(min=1, help="Seconds per stepped rate.")] = 10.0,
    max_rate: Annotated[float, typer.Option(min=1, help="Highest rate tried.")] = 5_000.0,
    out: Annotated[
        Path | None, typer.Option(help="JSON report (default: .local/bench/api-<time>.json).")
    ] = None,
) -> None:
    """One `fraudstream serve` process under an open-loop load: p99 at 500/s, best rate."""
    from fraudstream.bench.api import P99_GOAL_MS, bench_api

    settings = Settings.load()
    console = Console()
    with console.status("running..."):
        result = bench_api(
            settings,
            rate=rate,
            duration_s=duration,
            step_duration_s=step_duration,
            max_rate=max_rate,
        )
    best = result.best
    figures: dict[str, object] = {
        "benchmark": "api",
        **machine(),
        "generator": "asyncio open loop, HTTP/1.1 keep-alive, HDR histogram",
        "reference": vars(result.reference),
        "steps": [vars(s) for s in result.steps],
        "best_rate_p99_under_50ms": best.rate if best else None,
    }
    target = out or Path(".local/bench") / f"api-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2) + "\n")
    table = Table(title="scoring API, one process, single-transaction POST /v1/score")
    for column in ("offered /s", "achieved /s", "p50 ms", "p99 ms", "max ms", "errors"):
        table.add_column(column, justify="right")
    for label, r in [("reference", result.reference), *(("step", s) for s in result.steps)]:
        table.add_row(
            f"{r.rate:,.0f} ({label})",
            f"{r.achieved_rate:,.0f}",
            f"{r.latency_ms['p50']:.2f}",
            f"{r.latency_ms['p99']:.2f}",
            f"{r.latency_ms['max']:.1f}",
            ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "0",
        )
    console.print(table)
    reference = result.reference
    console.print(
        f"at {reference.rate:,.0f}/s: p99 {reference.latency_ms['p99']:.2f} ms (goal <= 10), "
        f"{sum(reference.errors.values())} errors (goal 0)"
    )
    console.print(
        f"highest rate with p99 < {P99_GOAL_MS:g} ms: "
        + (f"{best.rate:,.0f}/s" if best else "none of the rates tried")
    )
    console.print(f"report: {target}")
