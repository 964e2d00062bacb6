"""``fraudstream bench features`` on the local Redis and the local Redis Cluster: both
modes run over the same transactions and their rates are printed side by side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from fraudstream.config import RedisSettings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate


def test_bench_features_prints_both_modes(
    tmp_path: Path, redis_url: str, cluster_settings: RedisSettings
) -> None:
    dataset = tmp_path / "small.parquet"
    write_parquet_atomic(simulate(SimulatorConfig(customers=200, terminals=400, days=3)), dataset)
    exe = shutil.which("fraudstream")
    assert exe, "the fraudstream console script is not installed"
    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_CLUSTER_NODES": ""}
    args = [exe, "bench", "features", "--dataset", str(dataset), "--repeats", "2"]
    seeds = ["--cluster-nodes", cluster_settings.cluster_nodes]

    report = json.loads(
        subprocess.run(
            [*args, "--batch-size", "100", *seeds, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout
    )

    assert report["redis_cluster"] == cluster_settings.cluster_nodes
    assert report["transactions"] > 1_000
    for rates in ("store_tx_per_s", "bare_pipeline_tx_per_s", "cluster_tx_per_s"):
        assert len(report[rates]) == 2
        assert min(report[rates]) > 0
    assert report["cluster_ratio"] == round(report["cluster_median"] / report["store_median"], 3)
    for mode in ("store_cpu_us_per_tx", "cluster_cpu_us_per_tx"):
        assert report[mode]["client"] > 0
        assert report[mode]["server"] > 0

    table = subprocess.run(
        [*args, *seeds], env=env, capture_output=True, text=True, check=True, timeout=300
    ).stdout
    assert "RedisClusterFeatureStore" in table
    assert "ratio cluster / single node" in table
    assert "(all masters)" in table


def test_bench_features_without_a_cluster_prints_one_node(tmp_path: Path, redis_url: str) -> None:
    dataset = tmp_path / "small.parquet"
    write_parquet_atomic(simulate(SimulatorConfig(customers=100, terminals=200, days=2)), dataset)
    exe = shutil.which("fraudstream")
    assert exe, "the fraudstream console script is not installed"
    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_CLUSTER_NODES": ""}

    report = json.loads(
        subprocess.run(
            [exe, "bench", "features", "--dataset", str(dataset), "--repeats", "1", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout
    )

    assert report["redis_cluster"] is None
    assert report["cluster_tx_per_s"] == []
    assert report["cluster_median"] is None
    assert report["cluster_cpu_us_per_tx"] is None
    assert report["store_median"] > 0
