"""The fraudstream CLI, run as users run it: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main

from fraudstream.cli import app
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
    assert summary["name"] == "simulated"
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
