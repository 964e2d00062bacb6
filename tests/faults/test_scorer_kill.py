"""kill -9 the scorer five times during a 200,000-transaction replay: nothing lost,
nothing scored twice, every alert exactly once (read_committed)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fraudstream.config import Settings
from fraudstream.harness.faults import ReplayThread, read_outputs, sent_ids, tally
from fraudstream.harness.scorer import ScorerProcess, committed_offsets, wait_until
from fraudstream.replay.plan import Pace, ReplayOptions

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 200_000
KILLS = 5
#: Offered rate (the replay lasts 100 s). Each restart costs the process start and ~10 s
#: for the dead member's session to time out, so on a busy machine the later kills may
#: come after the replay finished sending, while the scorer still works on its backlog.
RATE = 2_000.0
#: Transactions each scorer commits before it is killed.
PROGRESS = 1_500


@pytest.mark.timeout(420)
def test_kill_9_five_times_during_a_replay_loses_and_duplicates_nothing(
    settings: Settings,
    simulated: Path,
    scorer_processes: Callable[[Settings], ScorerProcess],
) -> None:
    kafka = settings.kafka
    started = time.monotonic()

    def committed() -> int:
        return committed_offsets(kafka.servers, settings.scorer.group_id, kafka.transactions_topic)

    feed = ReplayThread(
        settings,
        simulated,
        ReplayOptions(pace=Pace("rate", RATE), limit=TOTAL, loop=True, label_fraction=0.0),
    )
    kills: list[tuple[int, bool]] = []  # (committed at the kill, replay still sending)
    scorer = scorer_processes(settings)
    for k in range(KILLS):
        # each scorer commits some batches of the running stream, then dies mid-batch
        target = committed() + PROGRESS
        reached = wait_until(
            lambda t=target: committed() >= t, 120, interval_s=0.5, check=scorer.check
        )
        assert reached, f"kill {k + 1}: committed {committed()} < {target}\n{scorer.log_tail()}"
        scorer.send_signal(signal.SIGKILL)
        assert scorer.wait(30) == -signal.SIGKILL
        kills.append((committed(), feed.running))
        scorer = scorer_processes(settings)  # same group and transactional id
    report = feed.join(180)
    assert (report.transactions_sent, report.failed) == (TOTAL, 0)
    assert wait_until(lambda: committed() >= TOTAL, 180, interval_s=0.5, check=scorer.check)
    scorer.send_signal(signal.SIGTERM)
    assert scorer.wait(30) == 0, scorer.log_tail()

    sent = sent_ids(settings)
    counts = tally(sent, read_outputs(settings))
    print(counts.line(f"kill -9 x{KILLS} during a {TOTAL:,} replay"))
    print(
        "committed at each kill: "
        + ", ".join(f"{at:,}{'' if running else ' (replay done)'}" for at, running in kills)
        + f"; {time.monotonic() - started:.0f} s in all"
    )
    assert len(sent) == len(set(sent)) == TOTAL
    assert kills[0][1], "the first kill came after the replay ended"
    assert all(at < TOTAL for at, _ in kills), "a kill came after everything was scored"
    assert (counts.scored, counts.duplicates, counts.lost, counts.dlq) == (TOTAL, 0, 0, 0)
    assert counts.alerts > 0
    assert (counts.alert_duplicates, counts.alerts_mismatched) == (0, 0)
