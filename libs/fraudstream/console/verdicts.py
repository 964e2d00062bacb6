"""Analysts' verdicts: recorded in Redis once per change, published as labels.

A verdict is ``fraud`` (confirmed fraud) or ``genuine``. Per alert, Redis holds the
current verdict (``<prefix>:verdict:<alert id>``, a hash) and the audit trail of every
change (``<prefix>:audit:<alert id>``, a list of JSON events, oldest first). Giving the
verdict an alert already has changes nothing and publishes nothing; a different one is
a new event, published to the labels topic as a :class:`~fraudstream.schemas.Label`
with ``source="investigator"``. The change is recorded first (atomically, so two
analysts clicking at once make one event) and then published; when publishing fails
the change is taken back and the error raised, so Redis never shows a verdict the
labels topic did not get.

The cardholder's review of a card's recent transactions gives each of them a verdict
the same way (:meth:`VerdictDesk.review`): the disputed ones ``fraud``, the others
``genuine``, each kept under ``tx:<transaction id>`` instead of an alert id.

On a Redis Cluster the names carry the console's hash tag
(``<prefix>:{<prefix>}:verdict:<alert id>``,
:func:`~fraudstream.console.queue.key_base`), so a script's two keys share a slot.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

import msgspec
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from fraudstream.console.queue import key_base
from fraudstream.errors import ServiceUnavailableError
from fraudstream.features.recent import CardTransaction
from fraudstream.redis_client import AnyRedis
from fraudstream.schemas import Alert, Label, encode

Verdict = Literal["fraud", "genuine"]
VERDICTS: Final[tuple[Verdict, ...]] = ("fraud", "genuine")

#: Seconds to wait for the labels topic to acknowledge a label.
PUBLISH_TIMEOUT_S: Final = 10.0

# KEYS: verdict hash, audit list. ARGV: verdict, analyst, at, event JSON, event id, ttl ms.
_RECORD: Final = """
if redis.call('HGET', KEYS[1], 'verdict') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'verdict', ARGV[1], 'analyst', ARGV[2], 'at', ARGV[3], 'event', ARGV[5])
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
"""

# Take back an event that could not be published, unless a later one replaced it.
# KEYS: verdict hash, audit list. ARGV: event JSON, event id.
_UNDO: Final = """
redis.call('LREM', KEYS[2], -1, ARGV[1])
if redis.call('HGET', KEYS[1], 'event') ~= ARGV[2] then return 0 end
local last = redis.call('LINDEX', KEYS[2], -1)
if not last then redis.call('DEL', KEYS[1]) return 1 end
local e = cjson.decode(last)
redis.call('HSET', KEYS[1], 'verdict', e.verdict, 'analyst', e.analyst, 'at', e.at, 'event', e.id)
return 1
"""


class Sender(Protocol):
    """What publishes the labels: a Kafka producer's ``send``."""

    def send(self, topic: str, **kwargs: Any) -> FutureRecordMetadata:
        """Send one record."""
        ...


class VerdictEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One change of an alert's verdict, as the audit trail keeps it."""

    id: str
    verdict: Verdict
    analyst: str
    at: str
    previous: Verdict | None = None


_event_decoder: Final = msgspec.json.Decoder(VerdictEvent)


@dataclass(frozen=True)
class Outcome:
    """What a click did: whether it changed the verdict, and the label it published."""

    changed: bool
    label: Label | None


class VerdictDesk:
    """Records verdicts in Redis and publishes the changes to the labels topic."""

    def __init__(
        self,
        client: AnyRedis,
        producer: Sender,
        *,
        labels_topic: str,
        prefix: str,
        retention_ms: int,
    ) -> None:
        self._client = client
        self._producer = producer
        self._topic = labels_topic
        self._prefix = key_base(client, prefix)
        self._ttl = retention_ms
        self._record = client.register_script(_RECORD)
        self._undo = client.register_script(_UNDO)

    def _keys(self, alert_id: str) -> list[str]:
        return [f"{self._prefix}:verdict:{alert_id}", f"{self._prefix}:audit:{alert_id}"]

    def current(self, alert_id: str) -> VerdictEvent | None:
        """The alert's verdict now, as its latest event (None: no verdict yet)."""
        trail = self.trail(alert_id)
        return trail[-1] if trail else None

    def trail(self, alert_id: str) -> list[VerdictEvent]:
        """Every change of the alert's verdict, oldest first."""
        raws = self._client.lrange(self._keys(alert_id)[1], 0, -1)
        return [_event_decoder.decode(raw) for raw in raws]

    def give(
        self, alert: Alert, verdict: Verdict, analyst: str, now: datetime | None = None
    ) -> Outcome:
        """Give ``alert`` this verdict; publish a label if that changes it.

        Raises :class:`~fraudstream.errors.ServiceUnavailableError` when the label could
        not be published (the change is then taken back).
        """
        return self._give(
            alert.alert_id, alert.transaction_id, alert.card_id, verdict, analyst, now
        )

    def review(
        self,
        card_id: str,
        transaction_ids: list[str],
        disputed: set[str],
        analyst: str,
        now: datetime | None = None,
    ) -> int:
        """The cardholder's review of the card's ``transaction_ids``: the ``disputed``
        ones are fraud, the others genuine. Returns how many verdicts changed (each
        change published as :meth:`give` does, and raising as it does)."""
        return sum(
            self._give(
                review_key(tx), tx, card_id, "fraud" if tx in disputed else "genuine", analyst, now
            ).changed
            for tx in transaction_ids
        )

    def reviewed(self, transactions: Sequence[CardTransaction]) -> dict[str, Verdict]:
        """The verdicts the cardholder's reviews gave these transactions, by id."""
        if not transactions:
            return {}
        keys = [self._keys(review_key(t.transaction_id))[0] for t in transactions]
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "verdict")
        found = pipe.execute()
        return {
            t.transaction_id: "fraud" if v in (b"fraud", "fraud") else "genuine"
            for t, v in zip(transactions, found, strict=True)
            if v is not None
        }

    def _give(
        self,
        subject: str,
        transaction_id: str,
        card_id: str | None,
        verdict: Verdict,
        analyst: str,
        now: datetime | None,
    ) -> Outcome:
        at = (now or datetime.now(UTC)).astimezone(UTC)
        previous = self.current(subject)
        event = VerdictEvent(
            id=uuid.uuid4().hex,
            verdict=verdict,
            analyst=analyst,
            at=at.isoformat(),
            previous=None if previous is None else previous.verdict,
        )
        label = Label(
            transaction_id=transaction_id,
            is_fraud=verdict == "fraud",
            labelled_at=at,
            card_id=card_id,
            source="investigator",
            analyst=analyst,
        )
        raw = msgspec.json.encode(event)
        keys = self._keys(subject)
        args: list[str | bytes | int] = [verdict, analyst, event.at, raw, event.id, self._ttl]
        if not int(self._record(keys=keys, args=args)):
            return Outcome(changed=False, label=None)
        key = (card_id or transaction_id).encode()
        try:
            self._producer.send(self._topic, value=encode(label), key=key).get(
                timeout=PUBLISH_TIMEOUT_S
            )
        except BaseException as exc:
            self._undo(keys=keys, args=[raw, event.id])
            if isinstance(exc, KafkaError):
                raise ServiceUnavailableError(f"labels topic {self._topic}: {exc}") from exc
            raise
        return Outcome(changed=True, label=label)


def review_key(transaction_id: str) -> str:
    """Where a reviewed transaction's verdict is kept (an alert's is its alert id)."""
    return f"tx:{transaction_id}"
