"""Champion or challenger: the pure decision, from both measured on one window."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger measured on the same labelled window."""

    window_start: str
    window_end: str
    rows: int
    frauds: int
    champion_version: str
    challenger_version: str
    champion_ap: float
    challenger_ap: float


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and the sentence that says why."""

    promote: bool
    reason: str

    def as_dict(self, comparison: Comparison) -> dict[str, object]:
        """The decision and its evidence, JSON-able (an Airflow XCom, a CLI report)."""
        return {"promote": self.promote, "reason": self.reason, **asdict(comparison)}


def decide(comparison: Comparison, margin: float) -> Decision:
    """Promote when the challenger's AP beats the champion's by at least ``margin``.

    A tie is never a win, whatever the margin; a window without frauds proves nothing.

    >>> c = Comparison("2026-01-01", "2026-01-08", 1000, 9, "river-v1", "xgboost-v2", 0.50, 0.58)
    >>> decide(c, margin=0.05).promote
    True
    >>> decide(c, margin=0.10).reason
    'challenger AP 0.5800 does not beat champion AP 0.5000 by the margin 0.1000'
    """
    if comparison.frauds == 0:
        return Decision(False, "no labelled fraud in the window: nothing to compare on")
    gain = comparison.challenger_ap - comparison.champion_ap
    if gain > 0 and gain >= margin:
        return Decision(
            True,
            f"challenger AP {comparison.challenger_ap:.4f} beats champion AP "
            f"{comparison.champion_ap:.4f} by {gain:.4f} (margin {margin:.4f})",
        )
    return Decision(
        False,
        f"challenger AP {comparison.challenger_ap:.4f} does not beat champion AP "
        f"{comparison.champion_ap:.4f} by the margin {margin:.4f}",
    )
