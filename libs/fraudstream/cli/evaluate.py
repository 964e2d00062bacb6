"""``fraudstream evaluate``: one registered model measured on a held-out archived period."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fraudstream.config import Settings
from fraudstream.logs import configure_logging


def evaluate(
    start: Annotated[
        str, typer.Option("--from", help="Start of the period: ISO date or time, UTC.")
    ],
    end: Annotated[
        str, typer.Option("--to", help="End of the period, not included: ISO date or time, UTC.")
    ],
    model: Annotated[
        str, typer.Option(help="champion, challenger or a registered version number.")
    ] = "champion",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Measure a registered model on the archived transactions of [--from, --to).

    The measures of training (average precision, ROC AUC, Card Precision@100,
    precision and recall at SCORER_THRESHOLD), with the labels known now. A River
    champion is judged by the scores it served; any other version is loaded from
    MLflow and scores the archived features. A period overlapping the model's training
    transactions is refused; one within a label delay after them is measured with a
    warning. Settings: ARCHIVE_PATH, MLFLOW_*, TRAIN_LABEL_DELAY, SCORER_THRESHOLD.
    """
    from fraudstream.promotion.holdout import evaluate_model

    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    result = evaluate_model(settings, model, start, end)
    errors = Console(stderr=True, soft_wrap=True)
    for warning in result["warnings"]:
        errors.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if as_json:
        typer.echo(json.dumps(result))
        return
    print_result(Console(), result)


def print_result(console: Console, result: dict[str, Any]) -> None:
    """The result as a sentence and a table of measures."""
    source = (
        "served scores, by " + ", ".join(f"{k} ({v:,})" for k, v in result["served_by"].items())
        if result["scores"] == "served"
        else "the registered model scoring the archived features"
    )
    console.print(
        f"{result['model']} on {result['start']} .. {result['end']}: {result['rows']:,} "
        f"labelled transactions, {result['frauds']:,} frauds (labels known at "
        f"{result['labels_known_at']}); {source}",
        highlight=False,
    )
    table = Table("measure", "value")
    for name, value in result["measures"].items():
        table.add_row(name.replace("_", " "), f"{value:.4f}")
    console.print(table)
