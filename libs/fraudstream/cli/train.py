"""``fraudstream train``: extract, validate, train and register a challenger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fraudstream.config import Settings
from fraudstream.logs import configure_logging


def train(
    cutoff: Annotated[
        str | None,
        typer.Option(help="What the system knew: ISO date or time, UTC (default: now)."),
    ] = None,
    out_dir: Annotated[
        str | None,
        typer.Option(help="Where training sets go (default: FRAUDSTREAM_DATA_DIR/training)."),
    ] = None,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="Then compare with the champion on the latest labelled window and promote "
            "the challenger if it wins (it is trained on data ending a label delay before that "
            "window starts).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Train the XGBoost challenger from the archive and register it in MLflow.

    Runs extract -> validate -> train -> register (the steps of the retrain DAG):
    the training set holds the transactions of TRAIN_WINDOW ending TRAIN_LABEL_DELAY
    before the cutoff, with the labels known at the cutoff. Settings: TRAIN_*,
    ARCHIVE_PATH, MLFLOW_*, SCORER_THRESHOLD.
    """
    from fraudstream.training.pipeline import run_all

    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    when = cutoff or datetime.now(UTC).isoformat(timespec="seconds")
    target = out_dir or str(settings.data.dir / "training")
    console = Console()
    with console.status("extracting, validating, training, registering..."):
        if promote:
            from fraudstream.promotion.compare import compare_and_promote, training_cutoff

            result = run_all(settings, training_cutoff(settings, when), target)
            result["promote"] = compare_and_promote(settings, when)
        else:
            result = run_all(settings, when, target)
    if as_json:
        typer.echo(json.dumps(result, default=str))
        return
    print_summary(console, result)


def print_summary(console: Console, result: dict[str, Any]) -> None:
    """The pipeline's results as tables."""
    extracted, trained, registered = result["extract"], result["train"], result["register"]
    console.print(
        f"training set {extracted['path']}: {extracted['rows']:,} rows, "
        f"{extracted['frauds']:,} frauds, {extracted['start']} .. {extracted['end']} "
        f"(labels known at {extracted['cutoff']})",
        highlight=False,
    )
    checks = Table(title="validation")
    for column in ("check", "ok", "detail"):
        checks.add_column(column)
    for check in result["validate"]["checks"]:
        checks.add_row(check["name"], "yes" if check["ok"] else "NO", check["detail"])
    console.print(checks)
    metrics: dict[str, float] = trained["metrics"]
    table = Table(title="time-ordered cross-validation (mean over folds)")
    table.add_column("model")
    measures = ["average_precision", "roc_auc", "card_precision_at_100", "recall_at_threshold"]
    for measure in measures:
        table.add_column(measure.replace("_", " "), justify="right")
    for model in ("xgboost", "logistic_regression", "random_forest"):
        values = [metrics.get(f"{model}_{m}") for m in measures]
        table.add_row(model, *("-" if v is None else f"{v:.3f}" for v in values))
    console.print(table)
    console.print(
        f"best XGBoost setting: {trained['params']}\n"
        f"MLflow run {trained['run_id']} ({trained['seconds']:.1f} s of training); "
        f"registered {registered['name']} version {registered['version']} "
        f"as @{registered['alias']}",
        highlight=False,
    )
    if "promote" in result:
        decision = result["promote"]
        verdict = "PROMOTED to champion" if decision["promote"] else "kept as challenger"
        console.print(f"{verdict}: {decision['reason']}", highlight=False)
