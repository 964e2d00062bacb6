"""promtool accepts the Prometheus config and rules; the rules follow the project's conventions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from fraudstream.harness.prometheus import PROMETHEUS_DIR, prometheus_binary, recording_rules

DOCS = PROMETHEUS_DIR.parents[1] / "docs"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_binary("promtool"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=PROMETHEUS_DIR,
    )


def test_promtool_checks_the_config_and_its_rule_files() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout


@pytest.mark.parametrize("name", ["recording.yml", "alerts.yml"])
def test_promtool_checks_the_rules(name: str) -> None:
    result = _promtool("check", "rules", f"rules/{name}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n  - name: x\n    rules:\n      - record: a:b\n        expr: rate(x[\n"
    )
    result = _promtool("check", "rules", str(broken))
    assert result.returncode != 0


def test_every_scrape_job_reads_a_targets_file_that_exists() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"scorer", "learner", "archiver", "api", "console"}
    for job in jobs.values():
        assert job["metrics_path"] == "/metrics"
        for files in job["file_sd_configs"]:
            for name in files["files"]:
                targets = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
                assert targets
                assert all(t["targets"] for t in targets)


def test_every_alert_has_a_summary_a_description_and_a_runbook_entry() -> None:
    document = yaml.safe_load((PROMETHEUS_DIR / "rules" / "alerts.yml").read_text())
    alerts = [rule for group in document["groups"] for rule in group["rules"]]
    assert alerts
    docs = (DOCS / "runbook.md").read_text()
    headings = {
        line.lstrip("#").strip().lower() for line in docs.splitlines() if line.startswith("### ")
    }
    for rule in alerts:
        annotations = rule["annotations"]
        assert annotations["summary"], rule["alert"]
        assert annotations["description"], rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/runbook.md"
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"no '### {rule['alert']}' entry in runbook.md"


def test_recording_rule_names_follow_level_metric_operation() -> None:
    rules = recording_rules()
    assert rules
    for name in rules:
        assert name.count(":") == 2, name
