"""What a replay did, for people (a rich table) and machines (JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class ReplayReport:
    """Counts and timings of one replay run."""

    dataset: str = ""
    mode: str = ""
    planned: int | None = None
    transactions_sent: int = 0
    labels_sent: int = 0
    delivered: int = 0
    failed: int = 0
    delivery_errors: list[str] = field(default_factory=list)
    bad_rows: int = 0
    first_bad_rows: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    max_lag_s: float = 0.0
    interrupted: str | None = None

    def mark_interrupted(self, signal_name: str) -> None:
        """Record that a signal stopped the replay."""
        self.interrupted = signal_name

    @property
    def sent(self) -> int:
        """Records handed to the producer, transactions and labels."""
        return self.transactions_sent + self.labels_sent

    @property
    def rate(self) -> float:
        """Achieved transactions a second."""
        return self.transactions_sent / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for ``--report json``."""
        data = asdict(self)
        data["sent"] = self.sent
        data["rate_tx_per_s"] = round(self.rate, 1)
        data["duration_s"] = round(self.duration_s, 3)
        data["max_lag_s"] = round(self.max_lag_s, 3)
        return data

    def print(self, console: Console) -> None:
        """A table of the figures that matter."""
        title = "replay " + ("interrupted by " + self.interrupted if self.interrupted else "done")
        table = Table(title=title, show_header=False)
        table.add_row("dataset", self.dataset)
        table.add_row("pace", self.mode)
        table.add_row("transactions sent", f"{self.transactions_sent:,}")
        table.add_row("labels sent", f"{self.labels_sent:,}")
        table.add_row("delivered", f"{self.delivered:,}")
        table.add_row("failed", f"{self.failed:,}")
        table.add_row("achieved rate", f"{self.rate:,.0f} tx/s")
        table.add_row("duration", f"{self.duration_s:.2f} s")
        table.add_row("max lag behind schedule", f"{self.max_lag_s:.3f} s")
        table.add_row("bad rows skipped", f"{self.bad_rows:,}")
        console.print(table)
        for row in self.first_bad_rows:
            console.print(f"  bad row: {row}")
        for error in self.delivery_errors:
            console.print(f"  [red]delivery error:[/] {error}")
