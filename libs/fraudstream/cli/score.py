"""``fraudstream score``: the streaming scorer."""

from __future__ import annotations

from fraudstream.config import Settings
from fraudstream.logs import configure_logging
from fraudstream.scoring.service import run_scorer


def score() -> None:
    """Score every transaction; alerts to fraud.alerts, features to transactions.scored.

    Settings come from the environment (SCORER_*, KAFKA_*, REDIS_URL, FEATURES_*);
    /metrics and /healthz listen on SCORER_HTTP_HOST:SCORER_HTTP_PORT. SIGTERM
    finishes the batch, commits and exits 0.
    """
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    run_scorer(settings)
