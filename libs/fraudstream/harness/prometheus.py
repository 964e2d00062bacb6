"""A real Prometheus for tests and figures, and the expressions the repo's monitoring uses.

:func:`recording_rules` and :func:`dashboard_expressions` read infra/prometheus and
infra/grafana: the one place the rules and panel queries live, read by every test
that checks them. :func:`local_config` turns infra/prometheus/prometheus.yml into a
config scraping given ``127.0.0.1`` ports every second; :class:`PrometheusServer`
runs Debian's ``prometheus`` on it and answers queries. Every wait is bounded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from fraudstream.processes import stop_process

#: The repository's root (this file is libs/fraudstream/harness/prometheus.py).
REPO_ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO_ROOT / "infra" / "prometheus"
DASHBOARDS_DIR = REPO_ROOT / "infra" / "grafana" / "dashboards"
HOW_TO_INSTALL = (
    "Debian's prometheus package is needed (promtool comes with it): "
    "`bash infra/local/services.sh up` installs it, or `apt-get install prometheus`"
)


@dataclass(frozen=True)
class PanelQuery:
    """One target of one dashboard panel."""

    dashboard: str
    panel: str
    expr: str


def recording_rules(root: Path = PROMETHEUS_DIR) -> dict[str, str]:
    """Every recording rule: its recorded name and expression."""
    document = yaml.safe_load((root / "rules" / "recording.yml").read_text())
    return {
        rule["record"]: rule["expr"]
        for group in document["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def dashboards(root: Path = DASHBOARDS_DIR) -> dict[str, dict[str, Any]]:
    """Every dashboard JSON, by file stem."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(root.glob("*.json"))}


def dashboard_queries(root: Path = DASHBOARDS_DIR) -> list[PanelQuery]:
    """Every panel target of every dashboard."""
    return [
        PanelQuery(name, panel["title"], target["expr"])
        for name, board in dashboards(root).items()
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def dashboard_expressions(root: Path = DASHBOARDS_DIR) -> list[str]:
    """The distinct panel expressions, in dashboard order."""
    return list(dict.fromkeys(q.expr for q in dashboard_queries(root)))


def local_config(
    targets: dict[str, list[str]], *, interval_s: float = 1.0, root: Path = PROMETHEUS_DIR
) -> str:
    """infra/prometheus/prometheus.yml with static ``targets`` per job, fast intervals.

    Jobs not in ``targets`` are dropped; the rule files are the repo's own.
    """
    config = yaml.safe_load((root / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = f"{interval_s:g}s"
    config["global"]["scrape_timeout"] = f"{interval_s:g}s"
    config["global"]["evaluation_interval"] = f"{interval_s:g}s"
    config["rule_files"] = [str(root / f) for f in config["rule_files"]]
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job.pop("file_sd_configs", None)
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    return str(yaml.safe_dump(config, sort_keys=False))


def prometheus_binary(name: str = "prometheus") -> str:
    """Path of ``prometheus`` or ``promtool``; RuntimeError saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH. {HOW_TO_INSTALL}")
    return path


class QueryError(RuntimeError):
    """Prometheus refused or failed a query."""


class PrometheusServer:
    """``prometheus`` on 127.0.0.1 with a given config, its data in ``folder``."""

    def __init__(self, config: str, folder: Path, port: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config_path = folder / "prometheus.yml"
        config_path.write_text(config)
        self._log: IO[bytes] = (folder / "prometheus.log").open("ab")
        self.process = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config_path}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={folder / 'data'}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._http = httpx.Client(base_url=self.url, timeout=10.0)

    def wait_ready(self, timeout_s: float = 30.0) -> PrometheusServer:
        """Return once /-/ready answers 200; RuntimeError if it exits or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                if self._http.get("/-/ready").status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready within {timeout_s} s:\n{self.log()}")

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result vector; QueryError when Prometheus refuses it."""
        params = {"query": expr} if at is None else {"query": expr, "time": str(at)}
        body = self._http.get("/api/v1/query", params=params).json()
        if body.get("status") != "success":
            raise QueryError(f"{expr}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query_range(
        self, expr: str, start: float, end: float, step_s: float
    ) -> list[dict[str, Any]]:
        """A range query's result matrix; QueryError when Prometheus refuses it."""
        params = {"query": expr, "start": str(start), "end": str(end), "step": f"{step_s:g}"}
        body = self._http.get("/api/v1/query_range", params=params).json()
        if body.get("status") != "success":
            raise QueryError(f"{expr}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets_up(self) -> dict[str, str]:
        """Each active target's scrape URL and health (``up``, ``down``, ``unknown``)."""
        body = self._http.get("/api/v1/targets").json()
        return {t["scrapeUrl"]: t["health"] for t in body["data"]["activeTargets"]}

    def log(self, lines: int = 30) -> str:
        """The last lines it logged."""
        self._log.flush()
        text = (self.folder / "prometheus.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 10 s) and close the log."""
        self._http.close()
        stop_process(self.process, 10.0)
        self._log.close()
