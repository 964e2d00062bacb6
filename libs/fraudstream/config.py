"""Typed settings, read from the environment and an optional ``.env`` file.

One :class:`Settings` object is built per process, in its ``main()``, and passed
down; nothing here reads the environment at import time. Each section reads its
own prefix, so the standard names work as they are: ``KAFKA_BOOTSTRAP_SERVERS``,
``REDIS_URL``, ``MLFLOW_TRACKING_URI``. ``.env.example`` documents every setting.

>>> settings = Settings.load(KAFKA_BOOTSTRAP_SERVERS="broker:9092")
>>> settings.kafka.bootstrap_servers
'broker:9092'
>>> settings.kafka.servers
['broker:9092']
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudstream.durations import format_duration, parse_duration
from fraudstream.errors import ConfigError


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", extra="ignore", frozen=True, validate_default=True
    )


def _duration(value: object) -> object:
    """Accept human durations ("7d", "12h", "90s") besides pydantic's own forms."""
    if isinstance(value, str) and value.strip() and value.strip()[-1] in "smhdw":
        return parse_duration(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class KafkaSettings(BaseSettings):
    """Where Kafka is and what the topics are called (prefix ``KAFKA_``)."""

    model_config = _section("KAFKA_")

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of brokers."
    )
    client_id: str = Field("fraudstream", description="Client id prefix sent to the brokers.")
    transactions_topic: str = Field(
        "transactions", description="Transactions in (the replay writes, the scorer reads)."
    )
    labels_topic: str = Field(
        "labels", description="Fraud labels, late (the learner and the archiver read)."
    )
    alerts_topic: str = Field(
        "fraud.alerts", description="Alerts for analysts and downstream services."
    )
    scored_topic: str = Field(
        "transactions.scored",
        description="Every transaction as served: features, scores, versions.",
    )
    dlq_topic: str = Field(
        "transactions.dlq", description="Records the scorer could not read, with the reason."
    )
    model_events_topic: str = Field(
        "model.events", description="Promotions and rollbacks, one event per alias move."
    )
    partitions: int = Field(6, ge=1, description="Partitions for topics fraudstream creates.")
    replication_factor: int = Field(
        1, ge=1, description="Replicas of the topics fraudstream creates."
    )
    request_timeout_ms: int = Field(30_000, ge=1000, description="Kafka client request timeout.")
    linger_ms: int = Field(10, ge=0, description="Producer: wait this long to fill a batch.")
    batch_size: int = Field(256 * 1024, ge=1024, description="Producer: batch size in bytes.")
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "none", description="Producer compression (gzip costs ~6x throughput)."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)."
    )
    sasl_username: str | None = Field(None, description="SASL user (with KAFKA_SASL_PASSWORD).")
    sasl_password: SecretStr | None = Field(None, description="Never logged.")
    ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers.")

    @property
    def topics(self) -> list[str]:
        """Every topic fraudstream reads or writes, in pipeline order."""
        return [
            self.transactions_topic,
            self.labels_topic,
            self.alerts_topic,
            self.scored_topic,
            self.dlq_topic,
            self.model_events_topic,
        ]

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers as a list."""
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]


class RedisSettings(BaseSettings):
    """Where the online feature store lives (prefix ``REDIS_``)."""

    model_config = _section("REDIS_")

    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis:// or rediss:// URL of one Redis (unused when CLUSTER_NODES is set).",
    )
    cluster_nodes: str = Field(
        "",
        description=(
            "Redis Cluster seed nodes, host:port,host:port (empty: the one Redis of URL)."
        ),
    )
    socket_timeout_s: float = Field(2.0, gt=0, description="Seconds a Redis call may wait.")
    password: SecretStr | None = Field(
        None, description="AUTH password (wins over one in the URL); never logged."
    )
    ssl_ca_certs: Path | None = Field(
        None, description="CA bundle for rediss:// URLs; with CLUSTER_NODES, turns on TLS."
    )


class MlflowSettings(BaseSettings):
    """The MLflow tracking server and model registry (prefix ``MLFLOW_``)."""

    model_config = _section("MLFLOW_")

    tracking_uri: str = Field("http://127.0.0.1:5000", description="Tracking server URI.")
    experiment_name: str = Field("fraudstream", description="Experiment of training runs.")
    online_experiment_name: str = Field(
        "fraudstream-online", description="Experiment of the learner's snapshot runs."
    )
    registered_model_name: str = Field(
        "fraudstream", description="Registered model holding champion and challenger."
    )
    champion_alias: str = Field("champion", description="Alias of the model the scorers serve.")
    challenger_alias: str = Field("challenger", description="Alias of the model scored in shadow.")
    promotion_margin: float = Field(
        0.01, ge=0.0, description="Challenger must beat the champion's AP by this much."
    )
    alias_poll_interval: Duration = Field(
        timedelta(seconds=30), description="How often scorers check the registry aliases."
    )


class DataSettings(BaseSettings):
    """Datasets on disk and where to download them from (prefix ``FRAUDSTREAM_DATA_``)."""

    model_config = _section("FRAUDSTREAM_DATA_")

    dir: Path = Field(Path("data"), description="Folder for downloaded and generated data.")
    openml_url: str = Field(
        "https://api.openml.org", description="OpenML API base URL (ULB download)."
    )
    openml_ulb_id: int = Field(1597, description="OpenML dataset id of the ULB creditcard data.")
    download_timeout_s: float = Field(
        60.0, gt=0, description="Seconds a dataset download may stall."
    )


class FeatureSettings(BaseSettings):
    """The online feature store (prefix ``FEATURES_``); see docs/features.md."""

    model_config = _section("FEATURES_")

    label_delay: Duration = Field(
        timedelta(days=7), description="Fraud-share windows end this long before now."
    )
    lateness: Duration = Field(
        timedelta(days=1), description="How late an event may arrive and still be recorded."
    )
    max_events_per_entity: int = Field(
        20_000, ge=1, description="Cap on transactions kept per card or merchant."
    )
    key_ttl: Duration = Field(
        timedelta(days=40),
        description="Wall-clock expiry of an entity's keys after its last write.",
    )
    key_prefix: str = Field("fs", description="Prefix of the feature store's Redis keys.")


class ScorerSettings(BaseSettings):
    """The streaming scorer (prefix ``SCORER_``); see docs/scoring.md."""

    model_config = _section("SCORER_")

    group_id: str = Field("scorer", description="Consumer group shared by scorer replicas.")
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="Stable per replica (the transactional id): default the host name.",
    )
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="Alert at or above this score.")
    alert_budget_per_day: int | None = Field(
        None, ge=1, description="At most this many alerts per event-time day (unset: no cap)."
    )
    max_poll_records: int = Field(
        2000,
        ge=1,
        description="Records per batch at most; a backlog is worked off in batches this "
        "big, while a stream at a steady rate gives smaller ones.",
    )
    delivery: Literal["exactly-once", "at-least-once"] = Field(
        "exactly-once",
        description="Kafka transactions per batch, or flush then commit: lower latency, "
        "repeats after a failure (docs/scoring.md).",
    )
    http_host: str = Field("127.0.0.1", description="Where /metrics and /healthz listen.")
    http_port: int = Field(8001, ge=0, le=65535, description="0 picks a free port.")
    alert_marker_ttl: Duration = Field(
        timedelta(days=7), description="How long a raised alert is remembered (dedupe)."
    )
    follow_registry: bool = Field(
        True,
        description="Serve the MLflow registry's champion and shadow-score its challenger.",
    )
    session_timeout: Duration = Field(
        timedelta(seconds=10),
        description="How long the group waits for a silent replica before giving its "
        "partitions to the others.",
    )
    transaction_timeout: Duration = Field(
        timedelta(seconds=30),
        description="How long the broker keeps a dead replica's open batch before aborting it.",
    )
    static_membership: bool = Field(
        False,
        description="Join the group as SCORER_INSTANCE_ID (static membership): a replica "
        "back within the session timeout gets its partitions without a rebalance.",
    )


class LearnerSettings(BaseSettings):
    """The online learner (prefix ``LEARNER_``); see docs/learning.md."""

    model_config = _section("LEARNER_")

    model: str = Field("hybrid", description="Online model (fraudstream.learning.models).")
    snapshot_every_labels: int = Field(1_000, ge=1, description="Publish after this many labels.")
    snapshot_every: Duration = Field(
        timedelta(seconds=30), description="...or after this long (wall clock), if any was learned."
    )
    max_wait: Duration = Field(
        timedelta(days=21),
        description="How long (event time) a served record waits for its label, or a label for it.",
    )
    mlflow_every: int = Field(10, ge=0, description="Log every Nth snapshot to MLflow (0: never).")
    feedback: Literal["separate", "same"] = Field(
        "separate",
        description="Investigators' labels: a separate feedback model blended with the "
        "delayed-label model, or the same model (a new learner state only).",
    )
    feedback_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of the feedback model's probability."
    )
    http_host: str = Field("127.0.0.1", description="Where /metrics and /healthz listen.")
    http_port: int = Field(8002, ge=0, le=65535, description="0 picks a free port.")


class ArchiveSettings(BaseSettings):
    """The Parquet archive of served features and labels (prefix ``ARCHIVE_``)."""

    model_config = _section("ARCHIVE_")

    path: str = Field(
        "data/archive", description="Folder or fsspec URL (s3://...) of the Parquet archive."
    )
    group_id: str = Field("archiver", description="Consumer group of the archiver.")
    flush_every: Duration = Field(
        timedelta(seconds=30), description="Write buffered rows at least this often."
    )
    flush_rows: int = Field(50_000, ge=1, description="...or when this many rows are buffered.")
    http_host: str = Field("127.0.0.1", description="Where /metrics and /healthz listen.")
    http_port: int = Field(8003, ge=0, le=65535, description="0 picks a free port.")


class TrainingSettings(BaseSettings):
    """Batch training of the challenger (prefix ``TRAIN_``); see docs/training.md."""

    model_config = _section("TRAIN_")

    window: Duration = Field(
        timedelta(days=60), description="Training data: this long before the cutoff."
    )
    label_delay: Duration = Field(
        timedelta(days=7), description="Labels become known this long after the transaction."
    )
    eval_window: Duration = Field(
        timedelta(days=7), description="Most recent labelled window for champion vs challenger."
    )
    folds: int = Field(3, ge=2, description="Time-ordered cross-validation folds.")
    search_trials: int = Field(12, ge=1, description="Hyperparameter combinations tried.")
    min_fraud_rate: float = Field(
        0.0001, ge=0, description="Validation: lowest plausible fraud rate."
    )
    max_fraud_rate: float = Field(
        0.2, le=1, description="Validation: highest plausible fraud rate."
    )
    max_null_rate: float = Field(0.01, ge=0, le=1, description="Validation: per-column null rate.")
    seed: int = Field(7, description="Seed of the sampling, the search and the models.")


class ApiSettings(BaseSettings):
    """The synchronous scoring API (prefix ``API_``); see docs/api.md."""

    model_config = _section("API_")

    host: str = Field("127.0.0.1", description="Where `fraudstream serve` listens.")
    port: int = Field(8080, ge=0, le=65535, description="Its port.")
    key: SecretStr | None = Field(
        None, description="Required X-API-Key (unset: the API refuses to start); never logged."
    )
    max_batch: int = Field(500, ge=1, description="Most transactions in one request (else 413).")


class ConsoleSettings(BaseSettings):
    """The analysts' alert console (prefix ``CONSOLE_``); see docs/console.md."""

    model_config = _section("CONSOLE_")

    host: str = Field("127.0.0.1", description="Where `fraudstream console` listens.")
    port: int = Field(8090, ge=0, le=65535, description="Its port.")
    key: SecretStr | None = Field(
        None,
        description="X-API-Key, or the password of HTTP basic auth (the user name is the "
        "analyst); unset: the console refuses to start; never logged.",
    )
    group_id: str = Field("console", description="Consumer group reading the alerts.")
    key_prefix: str = Field("console", description="Prefix of the console's Redis keys.")
    max_alerts: int = Field(50_000, ge=1, description="Alerts kept in the queue at most.")
    retention: Duration = Field(
        timedelta(days=30), description="How long alerts and verdicts are kept (wall clock)."
    )
    page_size: int = Field(100, ge=1, le=1000, description="Alerts shown per queue page.")


class Settings(BaseSettings):
    """Every setting of one fraudstream process, by section."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    sections: ClassVar[tuple[str, ...]] = (
        "kafka",
        "redis",
        "mlflow",
        "data",
        "features",
        "scorer",
        "learner",
        "archive",
        "training",
        "api",
        "console",
    )

    log_level: str = Field(
        "INFO", validation_alias="FRAUDSTREAM_LOG_LEVEL", description="Log level (DEBUG, INFO...)."
    )
    log_json: bool = Field(
        False, validation_alias="FRAUDSTREAM_LOG_JSON", description="Log JSON lines, not text."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    scorer: ScorerSettings = Field(default_factory=ScorerSettings)
    learner: LearnerSettings = Field(default_factory=LearnerSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @classmethod
    def load(cls, **overrides: str) -> Settings:
        """Build the settings from the environment, with ``overrides`` as extra variables.

        Invalid values raise :class:`~fraudstream.errors.ConfigError` naming the setting.
        """
        saved = {key: os.environ.get(key) for key in overrides}
        os.environ.update(overrides)
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from exc
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _describe(exc: ValidationError) -> str:
    prefixes = {
        cls.__name__: str(cls.model_config.get("env_prefix", ""))
        for cls in (
            KafkaSettings,
            RedisSettings,
            MlflowSettings,
            DataSettings,
            FeatureSettings,
            ScorerSettings,
            LearnerSettings,
            ArchiveSettings,
            TrainingSettings,
            ApiSettings,
            ConsoleSettings,
        )
    }
    prefix = prefixes.get(exc.title, "")
    problems: list[str] = []
    for error in exc.errors():
        location = "__".join(str(part) for part in error["loc"])
        problems.append(f"{prefix}{location}".upper() + f": {error['msg']}")
    return "invalid settings: " + "; ".join(problems)


def describe_settings() -> list[dict[str, Any]]:
    """Every setting as ``{"env": NAME, "default": value, "help": text}``, for docs."""
    rows: list[dict[str, Any]] = []
    for name, field in Settings.model_fields.items():
        if name in Settings.sections:
            section = field.default_factory
            if not (isinstance(section, type) and issubclass(section, BaseSettings)):
                raise TypeError(f"section {name} must default to a BaseSettings class")
            prefix = section.model_config.get("env_prefix", "")
            for sub_name, sub_field in section.model_fields.items():
                rows.append(
                    {
                        "env": f"{prefix}{sub_name}".upper(),
                        "default": sub_field.default,
                        "help": sub_field.description or "",
                    }
                )
        else:
            rows.append(
                {
                    "env": str(field.validation_alias),
                    "default": field.default,
                    "help": field.description or "",
                }
            )
    return rows


def render_env_example() -> str:
    """The text of ``.env.example``: every setting, its help and its default."""
    lines = [
        "# fraudstream settings. Copy to .env and change what you need; real environment",
        "# variables win over this file. Every value shown is the default.",
        "# Generated by `make env-example` from fraudstream.config; do not edit by hand.",
    ]
    group = None
    for row in describe_settings():
        prefix = row["env"].split("_")[0]
        if prefix != group:
            group = prefix
            lines.append("")
        if row["help"]:
            lines.append(f"# {row['help']}")
        default = row["default"]
        if default is None or row["env"] == "SCORER_INSTANCE_ID":
            lines.append(f"# {row['env']}=")  # unset by default
            continue
        if isinstance(default, timedelta):
            default = format_duration(default)
        lines.append(f"{row['env']}={default}")
    return "\n".join(lines) + "\n"


#: Where each section's settings are explained, for docs/configuration.md.
_SECTION_DOCS: dict[str, tuple[str, ...]] = {
    "kafka": ("schemas.md", "security.md"),
    "redis": ("features.md", "security.md"),
    "mlflow": ("training.md", "promotion.md"),
    "data": ("datasets.md",),
    "features": ("features.md",),
    "scorer": ("scoring.md",),
    "learner": ("learning.md",),
    "archive": ("training.md#the-archive",),
    "training": ("training.md",),
    "api": ("api.md",),
    "console": ("console.md",),
}

_CONFIGURATION_INTRO = """\
# Configuration

Every fraudstream process builds one `fraudstream.config.Settings` object in its
`main()`, from environment variables and an optional `.env` file in the working
directory; real environment variables win over the file. Each section below reads its
own prefix, so the standard names work as they are: `KAFKA_BOOTSTRAP_SERVERS`,
`REDIS_URL`, `MLFLOW_TRACKING_URI`. [`.env.example`](../.env.example) lists the same
settings as a file to copy to `.env`.

Durations take a number with a unit, `90s`, `15m`, `12h`, `7d` or `1w` (a bare number
is seconds). *unset* means no value unless one is given. An invalid value stops the
process before it starts anything, with exit code 78 and a message naming the
variable, e.g. `invalid settings: KAFKA_PARTITIONS: Input should be a valid integer`.
Secrets (`KAFKA_SASL_PASSWORD`, `REDIS_PASSWORD`, `API_KEY`, `CONSOLE_KEY`) are never logged
([security.md](security.md)).

A few variables are read outside these settings, by the tool that needs them: the
local services' ports and folders (`KAFKA_PORT`, `REDIS_PORT`, `MLFLOW_PORT`,
`FRAUDSTREAM_STATE_DIR`, ...: [infra/local/README.md](../infra/local/README.md)), the
DAGs' interpreter and retries (`FRAUDSTREAM_PYTHON`, `FRAUDSTREAM_TASK_RETRIES`:
[orchestration.md](orchestration.md)), the image's health check address
(`HEALTHCHECK_URL`: [deployment.md](deployment.md)) and `OMP_WAIT_POLICY`
([training.md](training.md)).

This page is generated from the settings classes by `make env-example`, which writes
`.env.example` too; do not edit it by hand. A test fails when either file differs
from the code.
"""


def render_configuration_md() -> str:
    """The text of ``docs/configuration.md``: every setting of every section, in tables.

    >>> page = render_configuration_md()
    >>> "| `KAFKA_BOOTSTRAP_SERVERS` | `127.0.0.1:9092` |" in page
    True
    """
    import re

    general = [
        (str(field.validation_alias), field)
        for name, field in Settings.model_fields.items()
        if name not in Settings.sections
    ]
    parts = [
        _CONFIGURATION_INTRO,
        _paragraph(
            "## general",
            "Logging, for every process: `FRAUDSTREAM_LOG_LEVEL` is a standard level name "
            "(`DEBUG`, `INFO`, `WARNING`, `ERROR`); `FRAUDSTREAM_LOG_JSON=true` writes one "
            "JSON object per line instead of text.",
        ),
        _settings_table(general),
    ]
    for name in Settings.sections:
        section = Settings.model_fields[name].default_factory
        if not (isinstance(section, type) and issubclass(section, BaseSettings)):
            raise TypeError(f"section {name} must default to a BaseSettings class")
        prefix = str(section.model_config.get("env_prefix", ""))
        summary = (section.__doc__ or "").strip().splitlines()[0]
        summary = re.sub(r";\s*see docs/[\w.-]+\.md", "", summary).replace("``", "`")
        links = ", ".join(f"[{doc.split('#')[0]}]({doc})" for doc in _SECTION_DOCS.get(name, ()))
        rows = [
            (f"{prefix}{field_name}".upper(), field)
            for field_name, field in section.model_fields.items()
        ]
        parts += [
            _paragraph(f"## {name}", summary + (f" See {links}." if links else "")),
            _settings_table(rows),
        ]
    return "\n".join(parts)


def _paragraph(heading: str, text: str) -> str:
    """A heading and a paragraph wrapped at 88 characters (never inside a word)."""
    import textwrap

    wrapped = textwrap.fill(text, 88, break_long_words=False, break_on_hyphens=False)
    return f"{heading}\n\n{wrapped}\n"


def _settings_table(rows: list[tuple[str, Any]]) -> str:
    """A Markdown table of settings: variable, default, description."""
    import re

    lines = ["| variable | default | description |", "| --- | --- | --- |"]
    for env, field in rows:
        description = (field.description or "").replace("|", "\\|")
        description = re.sub(r"docs/([\w.-]+\.md)", r"[\1](\1)", description)
        choices = _choices(field.annotation)
        if choices:
            listed = ", ".join(f"`{choice}`" for choice in choices)
            description = f"{description} One of {listed}.".strip()
        lines.append(f"| `{env}` | {_default_text(field)} | {description} |")
    return "\n".join(lines) + "\n"


def _default_text(field: Any) -> str:
    """How a field's default reads in the docs: `value`, *unset* or what it is made from."""
    if field.default_factory is socket.gethostname:
        return "the host name"
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "*unset*"
    if isinstance(default, timedelta):
        return f"`{format_duration(default)}`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def _choices(annotation: Any) -> list[str]:
    """The values a ``Literal`` annotation allows (also inside ``| None``), else none."""
    from typing import Union, get_args, get_origin

    if get_origin(annotation) is Literal:
        return [str(value) for value in get_args(annotation)]
    if get_origin(annotation) in (Union, type(int | None)):
        return [value for arg in get_args(annotation) for value in _choices(arg)]
    return []
