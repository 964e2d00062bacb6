"""``fraudstream learn``: the online learner."""

from __future__ import annotations

from fraudstream.config import Settings
from fraudstream.learning.service import run_learner
from fraudstream.logs import configure_logging


def learn() -> None:
    """Join labels with the features served, learn online, publish model snapshots.

    Settings: LEARNER_*, KAFKA_*, REDIS_URL, FEATURES_*. /metrics and /healthz on
    LEARNER_HTTP_HOST:LEARNER_HTTP_PORT. SIGTERM publishes a last snapshot and exits 0.
    """
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    run_learner(settings)
