"""``fraudstream features``: the online feature store (backfill)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fraudstream.config import Settings
from fraudstream.durations import parse_duration
from fraudstream.features.backfill import BackfillResult, backfill
from fraudstream.features.backfill import Progress as OnProgress
from fraudstream.features.backfill_marker import iso
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.history import History, default_lookback, load_history
from fraudstream.features.redis_stores import redis_feature_store
from fraudstream.logs import configure_logging
from fraudstream.redis_client import connect_any_redis

features_app = typer.Typer(help="The online feature store.", no_args_is_help=True)


@features_app.command("backfill")
def backfill_command(
    until: Annotated[
        datetime,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
            help="The moment the state is for (UTC): transactions before it, labels known by it.",
        ),
    ],
    source: Annotated[
        str | None,
        typer.Argument(
            help="A dataset file (any kind `data info` reads); with --from-archive, the "
            "archive folder or URL (default ARCHIVE_PATH)."
        ),
    ] = None,
    from_archive: Annotated[
        bool, typer.Option("--from-archive", help="Read the archived served transactions.")
    ] = False,
    label_delay: Annotated[
        str | None,
        typer.Option(
            help="A dataset's labels are known this long after (default the features' D)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace feature state this backfill did not write.")
    ] = False,
) -> None:
    """Fill the feature store from history: at --until it holds what the live stream would.

    Resumes after an interruption, does nothing when the same backfill is complete,
    and refuses (exit 73) a store with newer or live state unless --force. Settings:
    REDIS_URL (or REDIS_CLUSTER_NODES), FEATURES_*, ARCHIVE_PATH.
    """
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    moment = until.replace(tzinfo=until.tzinfo or UTC)
    config = FeatureConfig.from_settings(settings.features)
    console = Console(stderr=True)
    with console.status("reading the history..."):
        history = _history(settings, config, source, moment, from_archive, label_delay)
    client = connect_any_redis(settings.redis)
    store = redis_feature_store(client, config, prefix=settings.features.key_prefix)
    try:
        with _progress(console) as on_progress:
            result = backfill(store, history, force=force, progress=on_progress)
    finally:
        store.close()
    typer.echo(_summary(result, history, settings.features.key_prefix))


def _history(
    settings: Settings,
    config: FeatureConfig,
    source: str | None,
    moment: datetime,
    from_archive: bool,
    label_delay: str | None,
) -> History:
    lookback = default_lookback(config)
    if from_archive:
        if label_delay is not None:
            raise typer.BadParameter("the archive has its labels' times: drop --label-delay")
        from fraudstream.lake.history import archived_history

        return archived_history(source or settings.archive.path, moment, lookback=lookback)
    if source is None:
        raise typer.BadParameter("give a dataset file, or --from-archive")
    try:
        delay = (
            settings.features.label_delay if label_delay is None else parse_duration(label_delay)
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return load_history(Path(source), moment, label_delay=delay, lookback=lookback)


@contextmanager
def _progress(console: Console) -> Iterator[OnProgress]:
    """A progress bar of the entries written (count, rate, elapsed time, ETA), shown
    from the first entry on: a run that writes nothing draws none."""
    columns = (
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entries"),
        TextColumn("{task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=console, transient=False)
    task = bar.add_task("backfill", total=None, rate=0.0, start=False)

    def update(written: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
            bar.start_task(task)
        elapsed = bar.tasks[task].elapsed or 0.0
        rate = written / elapsed if elapsed > 0 else 0.0
        bar.update(task, completed=written, total=total, rate=rate)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


def _summary(result: BackfillResult, history: History, prefix: str) -> str:
    if result.already_done:
        return (
            f"already backfilled: {history.source} until {iso(history.until_ms)} is complete "
            f"under prefix {prefix!r}; nothing written"
        )
    resumed = f", resumed after {result.resumed_at:,} entities" if result.resumed_at else ""
    return (
        f"backfilled {result.cards:,} cards and {result.merchants:,} merchants "
        f"({result.entries:,} entries, {result.frauds:,} frauds; {result.expired:,} expired "
        f"left out) from {result.transactions:,} transactions of {history.source} under "
        f"prefix {prefix!r} in {result.seconds:.1f} s ({result.rate:,.0f} tx/s){resumed}"
    )
