"""Do environment names that look like fraudstream settings name real ones?

A typo such as ``SCORER_HTTP_HOTS`` would be ignored silently by pydantic-settings
(unknown variables are allowed), so a deployment file could carry a setting that does
nothing. Any name with a fraudstream prefix must be a setting of
:mod:`fraudstream.config`.

>>> unknown_settings(["SCORER_HTTP_HOST", "SCORER_HTTP_HOTS", "AIRFLOW__CORE__EXECUTOR"])
['SCORER_HTTP_HOTS']
>>> unknown_settings(["FRAUDSTREAM_PYTHON"])
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from fraudstream.config import Settings, describe_settings

#: Names with a fraudstream prefix that are read outside the settings object: by the
#: DAGs (the interpreter their tasks run in, task retries) and by infra/local.
NOT_SETTINGS = frozenset(
    {"FRAUDSTREAM_PYTHON", "FRAUDSTREAM_TASK_RETRIES", "FRAUDSTREAM_STATE_DIR", "FRAUDSTREAM_CACHE"}
)


@cache
def known_settings() -> frozenset[str]:
    """Every environment name fraudstream reads (settings and :data:`NOT_SETTINGS`)."""
    return frozenset(str(row["env"]) for row in describe_settings()) | NOT_SETTINGS


@cache
def setting_prefixes() -> tuple[str, ...]:
    """The prefixes of fraudstream's settings sections, plus ``FRAUDSTREAM_``."""
    prefixes = {"FRAUDSTREAM_"}
    for name in Settings.sections:
        section = Settings.model_fields[name].default_factory
        prefixes.add(str(getattr(section, "model_config", {}).get("env_prefix", "")).upper())
    return tuple(sorted(p for p in prefixes if p))


def looks_like_setting(name: str) -> bool:
    """True when ``name`` has the prefix of a fraudstream settings section."""
    return name.upper().startswith(setting_prefixes())


def unknown_settings(names: Iterable[str]) -> list[str]:
    """The names that look like fraudstream settings but are none, in order."""
    known = known_settings()
    return [n for n in names if looks_like_setting(n) and n.upper() not in known]
