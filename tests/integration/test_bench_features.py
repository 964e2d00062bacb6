"""``fraudstream bench features`` on the local Redis and the local Redis Cluster: both
modes run over the same transactions and their rates are printed side by side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fraudstream.config import RedisSettings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate


@pytest.fixture
def bench_features(tmp_path: Path, redis_url: str) -> Callable[..., str]:
    """``bench_features(customers, days, *args)``: what ``fraudstream bench features``
    prints over a simulated dataset of that size, on the local Redis."""
    exe = shutil.which("fraudstream")
    assert exe, "the fraudstream console script is not installed"
    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_CLUSTER_NODES": ""}

    def run(customers: int, days: int, *args: str) -> str:
        dataset = tmp_path / f"simulated-{customers}-{days}.parquet"
        if not dataset.exists():
            config = SimulatorConfig(customers=customers, terminals=2 * customers, days=days)
            write_parquet_atomic(simulate(config), dataset)
        command = [exe, "bench", "features", "--dataset", str(dataset), *args]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, check=True, timeout=300
        )
        return done.stdout

    return run


def test_bench_features_prints_both_modes(
    bench_features: Callable[..., str], cluster_settings: RedisSettings
) -> None:
    cluster = ["--repeats", "2", "--cluster-nodes", cluster_settings.cluster_nodes]

    report = json.loads(bench_features(200, 3, *cluster, "--batch-size", "100", "--json"))

    assert report["redis_cluster"] == cluster_settings.cluster_nodes
    assert report["transactions"] > 1_000
    for rates in ("store_tx_per_s", "bare_pipeline_tx_per_s", "cluster_tx_per_s"):
        assert len(report[rates]) == 2
        assert min(report[rates]) > 0
    # the ratio is rounded from the unrounded rates, the medians are rounded themselves
    ratio_of_medians = report["cluster_median"] / report["store_median"]
    assert abs(report["cluster_ratio"] - ratio_of_medians) <= 0.001
    for mode in ("store_cpu_us_per_tx", "cluster_cpu_us_per_tx"):
        assert report[mode]["client"] > 0
        assert report[mode]["server"] > 0

    table = bench_features(200, 3, *cluster)
    assert "RedisClusterFeatureStore" in table
    assert "ratio cluster / single node" in table
    assert "(all masters)" in table


def test_bench_features_without_a_cluster_prints_one_node(
    bench_features: Callable[..., str],
) -> None:
    report = json.loads(bench_features(100, 2, "--repeats", "1", "--json"))

    assert report["redis_cluster"] is None
    assert report["cluster_tx_per_s"] == []
    assert report["cluster_median"] is None
    assert report["cluster_cpu_us_per_tx"] is None
    assert report["store_median"] > 0
