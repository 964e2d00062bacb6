"""The one-command demo, end to end, on the embedded services it starts itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_demo_runs_on_embedded_services_and_cleans_up(tmp_path: Path) -> None:
    exe = shutil.which("fraudstream")
    assert exe
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MLFLOW_TRACKING_URI"}
    }
    env["COLUMNS"] = "200"  # tables one row per line, as in a wide terminal
    result = subprocess.run(
        [exe, "demo", "--duration", "30", "--folder", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "embedded Kafka-compatible broker" in result.stdout
    assert "embedded Redis" in result.stdout
    scored = re.search(r"transactions replayed / scored\s*│\s*([\d,]+) / ([\d,]+)", result.stdout)
    assert scored is not None
    assert int(scored.group(2).replace(",", "")) > 1_000
    alerts = re.search(r"│ alerts\s*│\s*([\d,]+)", result.stdout)
    assert alerts is not None
    assert int(alerts.group(1).replace(",", "")) > 0
    assert (tmp_path / "alerts-sample.jsonl").read_text().count("\n") > 0
    # only the demo's own lines on the screen; the clients' retries go to demo.log
    assert "KafkaConnectionError" not in result.stdout + result.stderr
    assert "backfilling the feature store" in result.stdout
    assert "backfilled" in (tmp_path / "backfill.log").read_text()
    # one definition of the served scores' average precision, in the terminal and the report
    terminal = re.search(
        r"average precision of the served scores \(all labelled\)\s*│\s*([\d.]+)", result.stdout
    )
    html = (tmp_path / "report.html").read_text()
    page = re.search(
        r"average precision of the served scores \(all labelled\)</td><td[^>]*>([\d.]+)", html
    )
    assert terminal is not None
    assert page is not None
    assert terminal.group(1) == page.group(1)
    assert "<h2>Goals</h2>" in html
    assert re.search(
        r"│ latency p99, whole run\s*│ <= 250 ms\s*│ \d+ ms\s*│ (met|missed)", result.stdout
    )
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] and str(tmp_path) in " ".join(p.info["cmdline"])
    ]
    assert leftovers == []
