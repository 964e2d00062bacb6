"""The benchmarks' baseline: a consumer that decodes, re-produces and commits.

It runs on the same :class:`~fraudstream.streaming.loop.StreamLoop` as the scorer,
with the same delivery (``SCORER_DELIVERY``: one transaction per poll batch by
default), but no features and no model: what any consumer of ``transactions`` with
that delivery costs at the least. ``fraudstream bench
score`` runs it in-process for throughput and as its own process
(``python -m fraudstream.bench.passthrough``, settings from the environment like
``fraudstream score``) for latency, writing to ``<scored topic>-passthrough``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry

from fraudstream.config import Settings
from fraudstream.errors import SchemaError
from fraudstream.observability.health import Health
from fraudstream.observability.http import ObservabilityServer
from fraudstream.schemas import decode_transaction, encode
from fraudstream.signals import stop_on_signals
from fraudstream.streaming.loop import (
    Delivery,
    Emit,
    LoopConfig,
    LoopMetrics,
    OutRecord,
    StepResult,
    StreamLoop,
)


class PassThrough:
    """Decode and re-produce: the least a transactional consumer can do."""

    def __init__(self, topic: str) -> None:
        self._topic = topic

    def __call__(self, records: Sequence[ConsumerRecord], emit: Emit | None = None) -> StepResult:
        result = StepResult()
        emit = emit or result.outputs.append
        for record in records:
            try:
                tx = decode_transaction(record.value)
            except SchemaError:
                continue
            emit(OutRecord(self._topic, encode(tx), record.key))
        return result


def output_topic(settings: Settings) -> str:
    """Where the pass-through writes."""
    return f"{settings.kafka.scored_topic}-passthrough"


def passthrough_loop(
    settings: Settings, registry: CollectorRegistry, health: Health | None = None
) -> StreamLoop:
    """The pass-through over ``settings``' transactions topic, in the scorer's group."""
    kafka, scorer = settings.kafka, settings.scorer
    config = LoopConfig(
        group_id=scorer.group_id,
        topics=(kafka.transactions_topic,),
        transactional_id=f"{kafka.client_id}-passthrough-{scorer.instance_id}",
        delivery=Delivery(scorer.delivery),
        max_poll_records=scorer.max_poll_records,
    )
    return StreamLoop(
        kafka,
        config,
        PassThrough(output_topic(settings)),
        health=health or Health(["kafka"]),
        metrics=LoopMetrics(registry, "passthrough"),
    )


def main() -> None:
    """Run the pass-through until SIGTERM or SIGINT, its metrics served on the
    scorer's HTTP host and port (``SCORER_HTTP_PORT``) like a scorer's."""
    settings = Settings.load()
    registry, health = CollectorRegistry(), Health(["kafka"])
    server = ObservabilityServer(
        registry, health, settings.scorer.http_host, settings.scorer.http_port
    )
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            passthrough_loop(settings, registry, health).run(stop)
    finally:
        server.close()


if __name__ == "__main__":
    main()
