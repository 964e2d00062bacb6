"""``fraudstream report``: a self-contained HTML page about a run or a time range."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import redis
import typer

from fraudstream.config import Settings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.evaluation.drift import Reference, reference_from_json
from fraudstream.monitoring.drift import load_reference
from fraudstream.monitoring.report import build_report, write_report
from fraudstream.monitoring.report_data import from_archive, from_kafka
from fraudstream.redis_client import build_redis

_DATES = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]


def report(
    archive: Annotated[
        Path | None,
        typer.Option(help="Parquet archive folder (scored/, labels/); default: read Kafka."),
    ] = None,
    start: Annotated[
        datetime | None, typer.Option(formats=_DATES, help="First event time (UTC).")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option(formats=_DATES, help="End of event time (UTC).")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="Drift reference: a JSON file, or 'redis' for the stored one."),
    ] = None,
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path(
        ".local/reports/report.html"
    ),
    title: Annotated[str, typer.Option(help="Page title.")] = "fraudstream run report",
) -> None:
    """Fraud and alert rate, latency, throughput, prequential PR-AUC and drift, as HTML.

    Reads KAFKA_SCORED_TOPIC and KAFKA_LABELS_TOPIC (read_committed) unless --archive.
    Without --reference, drift compares the run's second half with its first.
    """
    settings = Settings.load()
    data = from_archive(archive) if archive is not None else from_kafka(settings.kafka)
    data = data.between(_utc(start), _utc(end))
    built = build_report(data, _reference(settings, reference), title)
    typer.echo(f"report: {write_report(built, out)}")


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=moment.tzinfo or UTC)


def _reference(settings: Settings, where: str | None) -> Reference | None:
    if where is None:
        return None
    if where != "redis":
        return reference_from_json(Path(where).read_text())
    client = build_redis(settings.redis)
    try:
        return load_reference(client, settings.features.key_prefix)
    except redis.RedisError as exc:
        raise ServiceUnavailableError(f"Redis at {settings.redis.url}: {exc}") from exc
    finally:
        client.close()
