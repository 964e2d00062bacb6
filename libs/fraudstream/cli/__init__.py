"""The ``fraudstream`` command line: one Typer app, a sub-app per area.

Commands are thin: they build the settings, call library functions and print.
Errors from the library (:class:`~fraudstream.errors.FraudstreamError`) become a
one-line message on stderr and the error's exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from fraudstream import __version__
from fraudstream.cli.alerts import alerts_app
from fraudstream.cli.archive import archive
from fraudstream.cli.bench import bench_app
from fraudstream.cli.console import console
from fraudstream.cli.data import data_app
from fraudstream.cli.demo import demo
from fraudstream.cli.drift import drift_app
from fraudstream.cli.evaluate import evaluate
from fraudstream.cli.features import features_app
from fraudstream.cli.learn import learn
from fraudstream.cli.load import load_command
from fraudstream.cli.promote import promote
from fraudstream.cli.replay import replay
from fraudstream.cli.report import report
from fraudstream.cli.score import score
from fraudstream.cli.serve import serve
from fraudstream.cli.topics import topics
from fraudstream.cli.train import train
from fraudstream.errors import FraudstreamError
from fraudstream.logs import configure_logging

app = typer.Typer(
    name="fraudstream",
    help="Real-time credit-card fraud detection: replay, score, learn, train.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")
app.command()(replay)
app.command()(score)
app.command()(serve)
app.command()(learn)
app.command()(demo)
app.command()(archive)
app.command()(train)
app.command()(promote)
app.command()(evaluate)
app.add_typer(bench_app, name="bench")
app.command()(topics)
app.add_typer(drift_app, name="drift")
app.add_typer(features_app, name="features")
app.command()(report)
app.command()(console)
app.add_typer(alerts_app, name="alerts")
bench_app.command("load")(load_command)


@app.command()
def version() -> None:
    """Print the fraudstream version."""
    typer.echo(__version__)


def main() -> None:
    """Console entry point: run the app and map library errors to exit codes.

    Logs go to stderr (structured), so stdout carries only a command's output (such as
    ``--report json``); commands with settings reconfigure the level from them.
    """
    configure_logging(
        os.environ.get("FRAUDSTREAM_LOG_LEVEL", "INFO"),
        json=os.environ.get("FRAUDSTREAM_LOG_JSON", "").lower() in {"1", "true", "yes"},
    )
    try:
        app()  # standalone: usage errors print their message and exit 2
    except FraudstreamError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
