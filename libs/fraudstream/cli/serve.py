"""``fraudstream serve``: the synchronous scoring API."""

from __future__ import annotations

from fraudstream.api.server import run_api
from fraudstream.config import Settings
from fraudstream.logs import configure_logging


def serve() -> None:
    """Answer scoring requests over HTTP (POST /v1/score) until SIGTERM.

    Settings come from the environment (API_HOST, API_PORT, API_KEY, API_MAX_BATCH,
    REDIS_URL, FEATURES_*, SCORER_THRESHOLD); API_KEY is required. See docs/api.md.
    """
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    run_api(settings)
