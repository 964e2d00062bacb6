"""Helpers for fault tests: a replay in the background and a tally of what came out.

:class:`ReplayThread` runs :func:`~fraudstream.replay.service.replay` beside the test;
:func:`read_outputs` reads every committed record of the scorer's output topics and
:func:`tally` counts sent, scored, alerts, duplicates and lost against the input.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec

from fraudstream.config import Settings
from fraudstream.harness.kafka import read_topic
from fraudstream.harness.scorer import Counts, duplicates_and_lost
from fraudstream.replay.plan import ReplayOptions
from fraudstream.replay.report import ReplayReport
from fraudstream.replay.service import replay
from fraudstream.schemas import Alert, DeadLetter, ScoredTransaction, decode_transaction


class ReplayThread:
    """A replay running in the background; its report (or error) when joined."""

    def __init__(self, settings: Settings, path: Path, options: ReplayOptions) -> None:
        self.report: ReplayReport | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(settings, path, options), name="replay", daemon=True
        )
        self._thread.start()

    def _run(self, settings: Settings, path: Path, options: ReplayOptions) -> None:
        try:
            self.report = replay(settings, path, options)
        except BaseException as exc:  # handed to the test by join()
            self.error = exc

    @property
    def running(self) -> bool:
        """True while it still sends."""
        return self._thread.is_alive()

    def join(self, timeout_s: float) -> ReplayReport:
        """Wait for the end; raise what ended it, or TimeoutError if it still runs."""
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"replay still running after {timeout_s} s")
        if self.error is not None:
            raise self.error
        if self.report is None:
            raise RuntimeError("the replay ended without a report")
        return self.report


@dataclass
class Outputs:
    """Every committed record of the scorer's output topics, decoded."""

    scored: list[ScoredTransaction]
    alerts: list[Alert]
    letters: list[DeadLetter]


def read_outputs(settings: Settings, timeout_s: float = 60.0) -> Outputs:
    """Read ``transactions.scored``, ``fraud.alerts`` and the DLQ (read_committed)."""
    kafka = settings.kafka
    scored = msgspec.json.Decoder(ScoredTransaction)
    alerts = msgspec.json.Decoder(Alert)
    letters = msgspec.json.Decoder(DeadLetter)
    return Outputs(
        scored=[
            scored.decode(r.value)
            for r in read_topic(kafka, kafka.scored_topic, timeout_s=timeout_s)
        ],
        alerts=[
            alerts.decode(r.value)
            for r in read_topic(kafka, kafka.alerts_topic, timeout_s=timeout_s)
        ],
        letters=[
            letters.decode(r.value) for r in read_topic(kafka, kafka.dlq_topic, timeout_s=timeout_s)
        ],
    )


def sent_ids(settings: Settings, timeout_s: float = 60.0) -> list[str]:
    """The transaction id of every valid record in the transactions topic."""
    kafka = settings.kafka
    return [
        decode_transaction(r.value).transaction_id
        for r in read_topic(kafka, kafka.transactions_topic, timeout_s=timeout_s)
    ]


@dataclass
class Tally(Counts):
    """:class:`~fraudstream.harness.scorer.Counts` plus the alert checks."""

    alert_duplicates: int = 0
    #: Scored with ``alert=True`` but no alert record, plus alerts of nothing scored so.
    alerts_mismatched: int = 0

    def line(self, label: str) -> str:
        """Counts in one line, alert duplicates and mismatches included."""
        return (
            super().line(label) + f", alert duplicates {self.alert_duplicates}, "
            f"alerts not matching scored decisions {self.alerts_mismatched}"
        )


def tally(sent: list[str], outputs: Outputs) -> Tally:
    """Count what came out against what was sent.

    >>> out = Outputs(scored=[], alerts=[], letters=[])
    >>> tally(["a"], out).lost
    1
    """
    duplicates, lost = duplicates_and_lost(sent, [s.transaction_id for s in outputs.scored])
    alert_counts = Counter(a.transaction_id for a in outputs.alerts)
    decided = {s.transaction_id for s in outputs.scored if s.alert}
    return Tally(
        sent=len(sent),
        scored=len(outputs.scored),
        alerts=len(outputs.alerts),
        dlq=len(outputs.letters),
        duplicates=duplicates,
        lost=lost,
        alert_duplicates=sum(n - 1 for n in alert_counts.values()),
        alerts_mismatched=len(decided.symmetric_difference(alert_counts)),
    )
