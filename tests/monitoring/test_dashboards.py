"""The Grafana provisioning and dashboards are well formed and query what was tested.

Every panel expression must be one the Prometheus integration test evaluates against
a running scorer and learner (both read fraudstream.harness.prometheus).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudstream.harness.prometheus import (
    DASHBOARDS_DIR,
    dashboard_expressions,
    dashboard_queries,
    dashboards,
    prometheus_binary,
    recording_rules,
)

GRAFANA = DASHBOARDS_DIR.parent
BOARDS = dashboards()
GRID_COLUMNS = 24


def test_the_three_dashboards_exist() -> None:
    assert set(BOARDS) == {"overview", "model", "operations"}


def test_the_datasource_is_provisioned_with_the_uid_dashboards_use() -> None:
    document = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = document["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "prometheus"


def test_the_provider_loads_the_dashboards_folder() -> None:
    document = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


def test_uids_and_titles_are_unique() -> None:
    uids = [b["uid"] for b in BOARDS.values()]
    titles = [b["title"] for b in BOARDS.values()]
    assert len(set(uids)) == len(uids) == len(BOARDS)
    assert len(set(titles)) == len(titles)
    assert all(re.fullmatch(r"[a-z0-9-]{1,40}", uid) for uid in uids)


def _overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_have_ids_grid_positions_datasources_and_targets(name: str) -> None:
    board: dict[str, Any] = BOARDS[name]
    panels = board["panels"]
    assert panels
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert {"x", "y", "w", "h"} <= set(grid), panel["title"]
        assert grid["x"] >= 0
        assert grid["w"] > 0
        assert grid["x"] + grid["w"] <= GRID_COLUMNS
        assert grid["h"] > 0
        assert grid["y"] >= 0
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids)
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()
    for i, a in enumerate(panels):
        for b in panels[i + 1 :]:
            assert not _overlaps(a["gridPos"], b["gridPos"]), (a["title"], b["title"])


def test_every_recorded_series_a_panel_uses_is_recorded() -> None:
    recorded = set(recording_rules())
    used = {
        name
        for query in dashboard_queries()
        for name in re.findall(r"\bfraudstream:[a-z0-9_]+:[a-z0-9_]+", query.expr)
    }
    assert used
    assert used - recorded == set()


def test_every_panel_expression_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel query (as a rule); the integration test
    (tests/integration/test_prometheus.py) then evaluates this same list."""
    expressions = dashboard_expressions()
    assert len(expressions) == len({q.expr for q in dashboard_queries()})
    rules = {
        "groups": [
            {
                "name": "panels",
                "rules": [
                    {"record": f"panel:expr:{i}", "expr": expr}
                    for i, expr in enumerate(expressions)
                ],
            }
        ]
    }
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [prometheus_binary("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(expressions)} rules found" in result.stdout
