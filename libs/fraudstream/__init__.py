"""fraudstream: real-time credit-card fraud detection.

The one importable package. Importing it (or any of its modules) does no I/O:
no directories are created, no logging is configured, no service is contacted.
It sets one process default: ``OMP_WAIT_POLICY=PASSIVE`` (unless already set), read
by OpenMP when XGBoost or scikit-learn first load it. Spinning OpenMP threads made
XGBoost with 2 threads about 20 times slower on a busy 2-core machine (100 rounds on
80,000 rows: 38 s instead of 2 s, measured).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
