"""Benchmark inputs: large files in the real layouts, made quickly and reproducibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fraudstream.datasets.download import ULB_HEADER


def write_ulb_like(path: Path, rows: int, *, seed: int = 0) -> Path:
    """A ULB-layout CSV of ``rows`` rows with the original's precision (~0.17% fraud)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(0.0, 1.5, (rows, 28)).round(6), columns=ULB_HEADER[1:29])
    frame.insert(0, "Time", np.sort(rng.integers(0, 172_792, rows)))
    frame["Amount"] = rng.gamma(1.5, 60.0, rows).round(2)
    frame["Class"] = (rng.random(rows) < 0.0017).astype(int)
    frame.to_csv(path, index=False)
    return path
