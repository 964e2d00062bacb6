"""The fraudstream CLI, run as users run it: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer.main

from fraudstream.cli import app
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.lake.store import LABELS, SCORED, write_rows
from fraudstream.testing.files import write_ulb_csv

EXE = shutil.which("fraudstream")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert EXE, "the fraudstream console script is not installed (uv sync)"
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


@pytest.mark.parametrize("path", _command_paths(typer.main.get_command(app)), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    assert len(_command_paths(typer.main.get_command(app))) >= 5  # the walk reaches subcommands
    result = run(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_generate_writes_parquet_and_prints_summary(tmp_path: Path) -> None:
    out = tmp_path / "sim.parquet"
    result = run(
        "data",
        "generate",
        "--days",
        "3",
        "--customers",
        "200",
        "--terminals",
        "400",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    assert "rows" in result.stdout
    assert "frauds" in result.stdout
    info = run("data", "info", str(out), "--json")
    summary = json.loads(info.stdout)
    assert summary["kind"] == "simulated"
    assert "fraud_scenario" in summary["columns"]
    assert summary["rows"] > 0
    assert 2 < summary["days"] <= 3
    assert summary["cards"] <= 200


def test_generate_uses_the_data_dir_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            EXE or "fraudstream",
            "data",
            "generate",
            "--days",
            "1",
            "--customers",
            "50",
            "--terminals",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": str(Path(EXE or "").parent), "FRAUDSTREAM_DATA_DIR": str(tmp_path / "d")},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "simulated.parquet").is_file()


def test_info_tells_a_canonical_parquet_file_from_a_simulated_one(tmp_path: Path) -> None:
    times = pd.date_range("2024-04-01", periods=4, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "transaction_id": ["a", "b", "c", "d"],
            "event_time": times,
            "card_id": ["c1", "c1", "c2", None],
            "merchant_id": ["m1", "m2", "m1", "m3"],
            "amount": [1.0, 2.0, 3.0, 4.0],
            "is_fraud": np.array([0, 1, 0, 0], dtype="int8"),
            "V1": [0.1, 0.2, 0.3, 0.4],
        }
    )
    path = tmp_path / "converted.parquet"
    write_parquet_atomic(frame, path)
    summary = json.loads(run("data", "info", str(path), "--json").stdout)
    assert summary["kind"] == "canonical"
    assert summary["columns"] == list(frame.columns)
    assert (summary["rows"], summary["frauds"], summary["cards"]) == (4, 1, 2)
    table = run("data", "info", str(path))
    assert table.returncode == 0, table.stderr
    assert "canonical" in table.stdout
    assert "V1" in table.stdout
    other = tmp_path / "other.parquet"
    write_parquet_atomic(frame.drop(columns=["card_id"]), other)
    _one_line_error(run("data", "info", str(other)), 65, "unknown layout")


def test_info_on_ulb_file(tmp_path: Path) -> None:
    path = write_ulb_csv(tmp_path / "creditcard.csv", n=100)
    summary = json.loads(run("data", "info", str(path), "--json").stdout)
    assert summary["name"] == "ulb"
    assert summary["rows"] == 100
    assert summary["frauds"] == 2
    assert summary["cards"] is None


def test_bad_file_is_a_one_line_error_with_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "creditcard.csv"
    write_ulb_csv(path, n=5)
    path.write_text(path.read_text().replace('"Amount"', '"Amt"'))
    result = run("data", "info", str(path), "--kind", "ulb")
    assert result.returncode == 65
    assert "creditcard.csv, column 'Amount': missing column" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2() -> None:
    result = run("data", "generate", "--days", "0")
    assert result.returncode == 2
    assert "--days" in result.stderr


def test_download_refuses_sparkov_from_openml(tmp_path: Path) -> None:
    result = run("data", "download", "sparkov", "--source", "openml", "--dest", str(tmp_path))
    assert result.returncode == 2
    assert "kaggle" in result.stderr


def _run_env(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``fraudstream ARGS`` with only ``env`` set (and PATH, HOME), in ``tmp_path``."""
    assert EXE, "the fraudstream console script is not installed (uv sync)"
    return subprocess.run(
        [EXE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
        env={"PATH": str(Path(EXE).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path), **env},
    )


def _one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert text in errors[0]


def test_evaluate_errors_are_one_line_with_an_exit_code(tmp_path: Path) -> None:
    dead = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"}  # nothing listens on port 1
    period = ["--from", "2024-05-01", "--to", "2024-05-08"]
    _one_line_error(
        _run_env(tmp_path, "evaluate", "--from", "2024-05-08", "--to", "2024-05-01", **dead),
        78,
        "the period 2024-05-08 .. 2024-05-01 is empty",
    )
    _one_line_error(
        _run_env(tmp_path, "evaluate", "--model", "best", *period, **dead),
        78,
        "model 'best' is not champion, challenger or a version number",
    )
    _one_line_error(
        _run_env(tmp_path, "evaluate", "--model", "challenger", *period, **dead),
        69,
        "MLflow at http://127.0.0.1:1 does not answer",
    )
    missing = _run_env(tmp_path, "evaluate", "--model", "champion", **dead)
    assert missing.returncode == 2
    assert "--from" in missing.stderr


def test_train_fails_clearly_without_frauds_or_mlflow(tmp_path: Path) -> None:
    times = pd.Series(pd.date_range("2024-04-01", periods=300, freq="h", tz="UTC"))
    ids = [f"t{i}" for i in range(300)]
    root = str(tmp_path / "archive")
    scored = pd.DataFrame({"transaction_id": ids, "card_id": "c1", "event_time": times})
    write_rows(root, SCORED, scored.assign(**{"features.amount": np.arange(300.0)}))
    labels = pd.DataFrame({"transaction_id": ids, "labelled_at": times + pd.Timedelta(days=7)})
    env = {
        "ARCHIVE_PATH": root,
        "FRAUDSTREAM_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:1",
    }
    # MLflow is asked first: no extraction, no training, before it is known to be down
    nothing = _run_env(tmp_path, "train", "--cutoff", "2024-05-01", **env)
    _one_line_error(nothing, 69, "MLflow at http://127.0.0.1:1 does not answer")
    assert "make services-up" in nothing.stderr
    assert "sqlite:///" in nothing.stderr
    assert not (tmp_path / "data" / "training").exists()
    write_rows(root, LABELS, labels.assign(is_fraud=False))
    local = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    _one_line_error(
        _run_env(tmp_path, "train", "--cutoff", "2024-05-01", **local, TRAIN_MIN_FRAUD_RATE="0"),
        65,
        "frauds: no fraud in the set to learn from",
    )
    fraud = labels.assign(
        is_fraud=np.arange(300) % 20 == 0, labelled_at=labels["labelled_at"] + pd.Timedelta(hours=1)
    )
    write_rows(root, LABELS, fraud)  # corrected labels, the latest known wins
    _one_line_error(
        _run_env(tmp_path, "train", "--cutoff", "2024-05-01", **env),
        69,
        "MLflow at http://127.0.0.1:1 does not answer",
    )


def test_promote_without_mlflow_says_how_to_start_one(tmp_path: Path) -> None:
    result = _run_env(tmp_path, "promote", "3", MLFLOW_TRACKING_URI="http://127.0.0.1:1")
    _one_line_error(result, 69, "MLflow at http://127.0.0.1:1 does not answer")
    assert "make services-up" in result.stderr


def test_archive_from_dataset_takes_the_label_arrival_apart_from_the_feature_delay(
    tmp_path: Path,
) -> None:
    from fraudstream.datasets.simulator import SimulatorConfig, simulate
    from fraudstream.lake.store import read_labels, read_scored

    data = tmp_path / "sim.parquet"
    write_parquet_atomic(simulate(SimulatorConfig(customers=30, terminals=60, days=5)), data)
    env = {"TRAIN_LABEL_DELAY": "7d", "FRAUDSTREAM_DATA_DIR": str(tmp_path / "data")}

    def archived(name: str, *extra: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        root = str(tmp_path / name)
        args = ("archive", "--from-dataset", str(data), "--path", root, *extra)
        result = _run_env(tmp_path, *args, **env)
        assert result.returncode == 0, result.stderr
        return read_scored(root, "2024-01-01", "2025-01-01"), read_labels(
            root, "2024-01-01", "2025-01-01"
        )

    def delays(labels: pd.DataFrame, scored: pd.DataFrame) -> set[pd.Timedelta]:
        times = scored.set_index("transaction_id")["event_time"]
        return set(labels["labelled_at"] - pd.to_datetime(labels["transaction_id"].map(times)))

    scored, labels = archived("default")
    assert delays(labels, scored) == {pd.Timedelta(days=7)}
    early_scored, early = archived("early", "--label-arrival", "2d")
    assert delays(early, early_scored) == {pd.Timedelta(days=2)}
    features = sorted(c for c in scored.columns if c.startswith("features."))
    assert features
    pd.testing.assert_frame_equal(early_scored[features], scored[features])  # same delay
    refused = _run_env(tmp_path, "archive", "--from-dataset", str(data), "--label-arrival", "soon")
    assert refused.returncode == 2
    assert "--label-arrival" in refused.stderr
