"""A latency probe in a process of its own: input record → its result readable.

``python -m fraudstream.bench.probe INPUT OUTPUT EXPECTED WARMUP_S`` (Kafka settings
from the environment) reads both topics with ``read_committed`` and, per transaction
id, takes the input record's Kafka timestamp and the moment its result arrived on the
output topic. When ``EXPECTED`` results arrived (or the timeout passed) it prints the
HDR histogram of the latencies in microseconds, encoded, leaving out the transactions
sent in the first ``WARMUP_S`` seconds (the service's first batches pay for its lazy
imports and new connections). On a second line it prints the same for the input
records themselves: the time from their timestamp to the probe reading them, the
plain produce-to-consume hop on this machine during the run, which no service
reading the input can beat. It prints ``ready`` once it has its partitions. With
``OUTPUT`` the same topic as ``INPUT`` both lines measure that hop alone.

Being its own process keeps the measurement off the load generator's interpreter
lock: measured in the generator's process, the probe's fetches waited behind the
replay's sends and added their waits to the figures.
"""

from __future__ import annotations

import sys
import time
from typing import Final

import msgspec
from hdrh.histogram import HdrHistogram

from fraudstream.config import KafkaSettings, Settings
from fraudstream.kafka.consumer import build_subscriber

#: Seconds the probe waits for the expected results at most.
TIMEOUT_S: Final = 180.0


class _Keyed(msgspec.Struct):
    """The one field the probe reads of a transaction or a result."""

    transaction_id: str


def new_histogram() -> HdrHistogram:
    """Microseconds, 1 µs to a minute, 3 significant digits."""
    return HdrHistogram(1, 60_000_000, 3)


def measure(
    kafka: KafkaSettings, input_topic: str, output_topic: str, expected: int, warmup_s: float
) -> tuple[HdrHistogram, HdrHistogram]:
    """Latencies of the first ``expected`` results on ``output_topic``, after the warm-up,
    and of the input records reaching the probe."""
    topics = list(dict.fromkeys((input_topic, output_topic)))
    consumer = build_subscriber(kafka, "probe", topics, fetch_max_wait_ms=5)
    decoder = msgspec.json.Decoder(_Keyed)
    sent: dict[str, int] = {}
    inputs_read: dict[str, float] = {}
    arrived: dict[str, float] = {}
    try:
        deadline = time.monotonic() + TIMEOUT_S
        ready = False
        while len(arrived) < expected and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=100)
            now_ms = time.time() * 1000
            for tp, records in polled.items():
                for record in records:
                    transaction_id = decoder.decode(record.value).transaction_id
                    if tp.topic == input_topic:
                        sent[transaction_id] = record.timestamp
                        inputs_read[transaction_id] = now_ms
                    if tp.topic == output_topic:
                        arrived[transaction_id] = now_ms
            if not ready and consumer.assignment():
                print("ready", flush=True)
                ready = True
    finally:
        consumer.close(autocommit=False)
    return latencies(sent, arrived, warmup_s), latencies(sent, inputs_read, warmup_s)


def latencies(sent: dict[str, int], arrived: dict[str, float], warmup_s: float) -> HdrHistogram:
    """Arrival minus sending time, µs, of each transaction sent after the warm-up.

    >>> h = latencies({"a": 1_000, "b": 3_000, "c": 3_500}, {"a": 1_004.0, "b": 3_012.5}, 1.0)
    >>> h.get_total_count(), h.get_max_value()
    (1, 12503)
    """
    histogram = new_histogram()
    if not sent:
        return histogram
    measured_from = min(sent.values()) + warmup_s * 1000
    for transaction_id, at_ms in arrived.items():
        sent_ms = sent.get(transaction_id)
        if sent_ms is not None and sent_ms >= measured_from:
            histogram.record_value(max(1, round((at_ms - sent_ms) * 1000)))
    return histogram


def main() -> None:
    input_topic, output_topic, expected, warmup_s = sys.argv[1:5]
    kafka = Settings.load().kafka
    results, inputs = measure(kafka, input_topic, output_topic, int(expected), float(warmup_s))
    print(results.encode().decode(), flush=True)
    print(inputs.encode().decode(), flush=True)


if __name__ == "__main__":
    main()
